"""``stage2``: GS-LRM on the sample's real rig views with their own cameras
(:func:`~mouselift.gslrm.inference.predict_gaussians`, the run's filters, FaceLift's by
default). Views: ``inputs`` and ``held_out`` (``eval/``, never seen by the model)."""

from __future__ import annotations

import time

from ...gslrm.inference import predict_gaussians
from .evaluation import EvalSample, EvalSetup, Evaluation, Outcome


class Stage2Evaluation(Evaluation):
    name = "stage2"
    description = "GS-LRM from the sample's real rig views and cameras"
    skipped = "no --gslrm"
    headline_groups = ("held_out", "inputs")
    figure_rank = 1

    def can_run(self, setup: EvalSetup) -> bool:
        return setup.gslrm is not None

    def run(self, sample: EvalSample) -> Outcome:
        setup = sample.setup
        assert setup.gslrm is not None  # can_run
        started = time.perf_counter()
        predicted = predict_gaussians(setup.gslrm, sample.views, device=setup.device)
        return sample.score_gaussians(setup.filters.apply(predicted),
                                      {"inputs": sample.views, "held_out": sample.held_out},
                                      started)
