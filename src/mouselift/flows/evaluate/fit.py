"""``fit``: the per-scene fit of :mod:`mouselift.fit` on the sample's rig views — the reference,
what optimising on all real views reaches. Views: ``inputs`` (the fitted views) and
``held_out`` (``eval/`` cameras, or the view ``holdout`` names)."""

from __future__ import annotations

import time

from ...fit.loop import optimize
from ...fit.runner import split_views
from .evaluation import EvalSample, EvalSetup, Evaluation, EvaluationFailed, Outcome


class FitEvaluation(Evaluation):
    name = "fit"
    description = "per-scene fit on the sample's real rig views (reference)"
    skipped = "no --fit"
    headline_groups = ("held_out", "inputs")
    figure_rank = 2

    def can_run(self, setup: EvalSetup) -> bool:
        return setup.fit is not None

    def run(self, sample: EvalSample) -> Outcome:
        config = sample.setup.fit
        assert config is not None  # can_run
        started = time.perf_counter()
        train, held_out, _ = split_views(sample.directory, sample.views, config.holdout)
        try:
            fitted = optimize(train, config, device=sample.setup.device, progress=False)
        except ValueError as exc:  # e.g. the masks leave an empty visual hull
            raise EvaluationFailed(str(exc)) from None
        return sample.score_gaussians(fitted.gaussians, {"inputs": train, "held_out": held_out},
                                      started)
