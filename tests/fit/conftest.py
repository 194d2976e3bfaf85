"""Fixtures for the fit tests: frame 0 of the suite's synthetic recording prepared at 128×128,
with its held-out camera."""

from __future__ import annotations

from pathlib import Path

import pytest

from mouselift.data.prepare import PrepareConfig, prepare_dataset

SIZE = 128


@pytest.fixture(scope="session")
def prepared_sample(synthetic_recording, tmp_path_factory) -> Path:
    """``sample_000000`` of the recording prepared at 128×128 (6 rig views + ``eval/``)."""
    out = tmp_path_factory.mktemp("fit_ds") / "ds"
    prepare_dataset(synthetic_recording, out,
                    PrepareConfig(image_size=SIZE, workers=1, frames="0:1", val_fraction=0.0),
                    progress=False)
    sample = out / "sample_000000"
    assert (sample / "eval" / "opencv_cameras.json").is_file()
    return sample
