"""Fixtures of the viewer tests: a prepared sample, a fit-like output folder of it, sequences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from viewer_testutils import BROWN, PINK, blob, write_png

from mouselift.splat import write_ply

#: ``metrics.json`` of the fake fit (the layout of ``mouselift fit``'s, shortened).
FIT_METRICS = {
    "steps": 30, "seconds": 1.5, "num_gaussians": 300, "device": "cpu",
    "train": {"num_views": 6, "psnr": 21.25, "ssim": 0.875, "lpips": None,
              "per_view": [{"view": "images/cam_000.png", "psnr": 20.0}]},
    "held_out": {"source": "eval cameras", "num_views": 1, "psnr": 18.5},
    "lpips_unavailable": "no LPIPS weights given",
    "history": [{"step": 0, "loss": 0.5}], "config": {"steps": 30, "seed": 0},
}  # fmt: skip


@pytest.fixture(scope="session")
def sample(mouse_dataset) -> Path:
    """A prepared 64×64 sample: 6 rig views and 1 held-out view in ``eval/``."""
    return mouse_dataset / "sample_000000"


@pytest.fixture
def fit_dir(sample, tmp_path) -> Path:
    """A ``mouselift fit``-like output of ``sample``: 300 Gaussians, views.png, metrics.json
    recording the sample's absolute path."""
    out = tmp_path / "fit"
    out.mkdir()
    write_ply(out / "gaussians.ply", blob(n=300, spread=(0.3, 0.15, 0.12)))
    write_png(out / "views.png", BROWN)
    (out / "metrics.json").write_text(json.dumps({"sample": str(sample), **FIT_METRICS}))
    return out


@pytest.fixture
def sequence_dir(tmp_path) -> Path:
    """Two frames that look different: a brown blob left of the origin (``frame_2.ply``), a
    pink one right of it (``frame_10.ply``, written first: natural order must put it second)."""
    folder = tmp_path / "frames"
    folder.mkdir()
    write_ply(folder / "frame_10.ply", blob((0.25, 0.0, 0.1), PINK, n=1200, seed=1))
    write_ply(folder / "frame_2.ply", blob((-0.2, 0.0, 0.0), BROWN, n=1500))
    return folder
