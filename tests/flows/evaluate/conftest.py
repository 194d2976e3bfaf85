"""Fixtures of the ``mouselift eval`` tests: a tiny random GS-LRM carrying the suite dataset's
rig, and a Stage-2 evaluation of two of its val samples."""

from __future__ import annotations

import pytest

from infer_testutils import tiny_gslrm
from mouselift.data.dataset_rig import rig_from_dataset
from mouselift.flows.evaluate import evaluate_dataset


@pytest.fixture(scope="package")
def gslrm_checkpoint(mouse_dataset, tmp_path_factory):
    return tiny_gslrm(tmp_path_factory.mktemp("eval_gslrm") / "model",
                      rig_from_dataset(mouse_dataset))


@pytest.fixture(scope="package")
def stage2_eval(mouse_dataset, gslrm_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "stage2"
    return evaluate_dataset(mouse_dataset, out, gslrm=gslrm_checkpoint, samples=2,
                            progress=False)
