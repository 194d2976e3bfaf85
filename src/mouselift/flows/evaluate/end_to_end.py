"""``end_to_end``: the generated views (:attr:`~.evaluation.EvalSample.generation`, shared with
``stage1``) → GS-LRM → Gaussians rendered at the sample's real cameras: the target cameras of
the generation are the sample's own, so the Gaussians live in the sample's frame like the fit's
and Stage 2's. Views: ``input``, ``novel`` and ``held_out``."""

from __future__ import annotations

import time

from .evaluation import EvalSample, EvalSetup, Evaluation, Outcome


class EndToEndEvaluation(Evaluation):
    name = "end_to_end"
    description = "generated views → GS-LRM → renders at the sample's real cameras"
    skipped = "needs --mvdiff and --gslrm"
    headline_groups = ("novel", "held_out", "input")
    figure_rank = 0

    def can_run(self, setup: EvalSetup) -> bool:
        return setup.lift is not None

    def run(self, sample: EvalSample) -> Outcome:
        setup = sample.setup
        assert setup.lift is not None  # can_run
        generation = sample.generation
        started = time.perf_counter()
        gaussians = setup.lift.reconstruct(generation.generated, filters=setup.filters)
        ordered = generation.ordered
        outcome = sample.score_gaussians(
            gaussians, {"input": ordered.subset([0]),
                        "novel": ordered.subset(list(range(1, len(ordered)))),
                        "held_out": sample.held_out}, started)
        outcome.entry["cameras"] = "the sample's own (its real cameras)"
        return outcome
