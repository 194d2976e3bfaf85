"""The registry of evaluations: one entry per name, in report order, each saying what it is,
why it would be skipped, where its headline comes from and its rank for the figure."""

from __future__ import annotations

import json

from mouselift.flows.evaluate import EVALUATIONS, Evaluation


def test_one_entry_per_name_in_report_order():
    names = [e.name for e in EVALUATIONS]
    assert names == ["fit", "stage2", "stage1", "end_to_end"]
    assert all(isinstance(e, Evaluation) for e in EVALUATIONS)
    assert len({e.figure_rank for e in EVALUATIONS}) == len(EVALUATIONS)
    for evaluation in EVALUATIONS:
        assert evaluation.description and evaluation.skipped and evaluation.headline_groups


def test_the_report_lists_every_evaluation(stage2_eval):
    report = json.loads((stage2_eval.out_dir / "eval.json").read_text())
    assert list(report["evaluations"]) == [e.name for e in EVALUATIONS]
    for evaluation in EVALUATIONS:
        info = report["evaluations"][evaluation.name]
        assert info == ({"ran": True, "description": evaluation.description} if info["ran"]
                        else {"ran": False, "skipped": evaluation.skipped})


def test_headline_is_the_first_group_present():
    stage2 = next(e for e in EVALUATIONS if e.name == "stage2")
    entry = {"views": {"inputs": {"psnr_masked": 12.0}}}
    assert stage2.headline(entry) == 12.0 and stage2.headline_group(entry) == "inputs"
    entry["views"]["held_out"] = {"psnr_masked": None}
    assert stage2.headline(entry) is None and stage2.headline_group(entry) == "held_out"
