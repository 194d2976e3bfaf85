"""Fixtures for the fit tests: one synthetic frame prepared at 128×128 with a held-out camera."""

from __future__ import annotations

from pathlib import Path

import pytest

from mouselift.data.prepare import PrepareConfig, prepare_dataset
from mouselift.data.synth import SynthConfig, synthesize

SIZE = 128


@pytest.fixture(scope="session")
def synthetic_recording(tmp_path_factory) -> Path:
    """A one-frame synthetic recording (half-resolution rig) with one held-out eval camera."""
    rec = tmp_path_factory.mktemp("fit_rec") / "rec"
    synthesize(rec, SynthConfig(frames=1, scale=0.5, eval_cameras=1), progress=False)
    return rec


@pytest.fixture(scope="session")
def prepared_sample(synthetic_recording, tmp_path_factory) -> Path:
    """``sample_000000`` of the recording prepared at 128×128 (6 rig views + ``eval/``)."""
    out = tmp_path_factory.mktemp("fit_ds") / "ds"
    prepare_dataset(synthetic_recording, out, PrepareConfig(size=SIZE, workers=1), progress=False)
    sample = out / "sample_000000"
    assert (sample / "eval" / "opencv_cameras.json").is_file()
    return sample
