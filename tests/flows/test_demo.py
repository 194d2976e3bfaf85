"""The demo flow end to end (small settings): synth → prepare → tiny Stage 1 → sampled views →
tiny Stage 2 → infer on a held-out frame → eval (fit, Stage 2, Stage 1, end to end)."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from mouselift.atomic import RESULT_MANIFEST, result_manifest
from mouselift.errors import ConfigError
from mouselift.flows.demo import claim_demo_folder, run_demo


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reruns_in_its_own_folder(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, frames=12, progress=False, gslrm_steps=2, eval_samples=1, train=True)
    assert result_manifest(out) == {"command": "demo"}
    samples = sorted(result.dataset_dir.glob("sample_*"))
    assert len(samples) >= 8
    summary = json.loads((result.dataset_dir / "summary.json").read_text())
    assert summary["dataset"]["samples"] == summary["written"] == len(samples)
    with Image.open(result.preview_png) as preview:
        assert preview.width == 6 * 192
    assert result.mvdiff_run is not None and result.views_dir is not None
    with Image.open(result.views_dir / "grid.png") as grid:
        assert grid.size[0] == 7 * grid.size[1]  # input | 6 generated views, square tiles
    checkpoints = sorted((result.mvdiff_run / "checkpoints").glob("checkpoint-*"))
    assert checkpoints and (checkpoints[-1] / "pipeline" / "rig" / "rig.json").is_file()
    assert "objective on val samples" in result.report
    # stage 2, infer on a held-out frame, eval with the fit as the reference
    assert (result.gslrm_run / "checkpoints" / "checkpoint-000002" / "model").is_dir()
    for name in ("input.png", "multiview.png", "gaussians.ply", "turntable.mp4", "report.json"):
        assert (result.infer_dir / name).is_file(), name
    report = json.loads((result.infer_dir / "report.json").read_text())
    assert report["cameras"] == "frame"
    evaluated = json.loads((result.eval_dir / "eval.json").read_text())
    assert set(evaluated["means"]) == {"fit", "stage2", "stage1", "end_to_end"}
    for name in ("fit", "stage2", "end_to_end"):
        assert evaluated["means"][name]["geometry"]["chamfer_mm"] > 0
    assert "per-scene fit (reference)" in result.report
    assert f"mouselift view {result.infer_dir}" in result.report
    assert "mouselift demo finished" in result.report
    # a second run may clear the folder: it is the demo's own
    (out / "stale.txt").write_text("old")
    claim_demo_folder(out, fresh=True)
    assert sorted(p.name for p in out.iterdir()) == [RESULT_MANIFEST]


def test_the_demo_folder_follows_the_result_folder_policy(tmp_path):
    """Another non-empty folder is refused (never deleted) unless overwrite; its own is
    cleared when fresh."""
    out = tmp_path / "demo"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(ConfigError,
                       match=r"holds files and was not made by `mouselift demo`.*--overwrite"):
        claim_demo_folder(out, fresh=True)
    assert (out / "mine.txt").read_text() == "keep"
    claim_demo_folder(out, fresh=False, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [RESULT_MANIFEST]
    (out / "recording").mkdir()
    claim_demo_folder(out, fresh=False)  # its own: kept
    assert (out / "recording").is_dir()
    claim_demo_folder(out, fresh=True)
    assert sorted(p.name for p in out.iterdir()) == [RESULT_MANIFEST]
