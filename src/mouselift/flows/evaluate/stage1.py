"""``stage1``: the multi-view diffusion's views generated from the sample's reference view (rig
view 0, as Stage 1 trains) against the real images of the same rig cameras, at the pipeline's
resolution (:attr:`~.evaluation.EvalSample.generation`). Views: ``input`` (view 0) and ``novel``
(the other rig views). No 3D metrics."""

from __future__ import annotations

import time

from ...images import WHITE, composite, to_uint8
from ...metrics.views import score_views
from .evaluation import EvalSample, EvalSetup, Evaluation, Outcome


class Stage1Evaluation(Evaluation):
    name = "stage1"
    description = "generated views vs the real images of the same rig cameras"
    skipped = "no --mvdiff"
    headline_groups = ("novel", "input")
    figure_rank = 3

    def can_run(self, setup: EvalSetup) -> bool:
        return setup.lift is not None

    def run(self, sample: EvalSample) -> Outcome:
        setup = sample.setup
        assert setup.lift is not None  # can_run
        started = time.perf_counter()
        generated, real = sample.generation.generated, sample.generation.real
        novel = list(range(1, len(real)))
        views = {"input": score_views(generated.rgba[:1, ..., :3], real.subset([0]), setup.lpips),
                 "novel": score_views(generated.rgba[1:, ..., :3], real.subset(novel),
                                      setup.lpips)}
        entry = {"views": views, "geometry": None, "cameras": setup.lift.stage1_cameras(True),
                 "seconds": sample.elapsed(started)}
        return Outcome(entry, to_uint8(generated.rgba[..., :3]),
                       to_uint8(composite(real.rgba, WHITE)))
