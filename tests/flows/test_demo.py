"""The demo flow end to end (small settings): synth → prepare → tiny Stage 1 → sampled views."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from mouselift.flows.demo import DEMO_MARKER, claim_demo_folder, run_demo


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reruns_in_its_own_folder(tmp_path):
    out = tmp_path / "demo"
    result = run_demo(out, frames=12, progress=False)
    assert (out / DEMO_MARKER).is_file()
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
    assert "mouselift demo finished" in result.report
    # a second run may clear the folder: it is the demo's own
    (out / "stale.txt").write_text("old")
    claim_demo_folder(out, fresh=True)
    assert sorted(p.name for p in out.iterdir()) == [DEMO_MARKER]
