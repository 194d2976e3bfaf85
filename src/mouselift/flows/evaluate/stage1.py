"""``stage1``: the multi-view diffusion's views generated from the sample's reference view (rig
view 0, as Stage 1 trains) against the real images of the same rig cameras, at the pipeline's
resolution (:attr:`~.evaluation.EvalSample.generation`). Views: ``input`` (view 0) and ``novel``
(the other rig views). The silhouette IoU of a generated view takes as its silhouette the pixels
that are not white (:func:`~mouselift.metrics.image.silhouette_on_white`: more than 0.1 below
white in some channel). No 3D metrics."""

from __future__ import annotations

import time

from ...images import WHITE, composite, to_uint8
from ...metrics.image import silhouette_on_white
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
        rgb = generated.rgba[..., :3]
        shapes = silhouette_on_white(rgb)  # generated views have no alpha
        views = {"input": score_views(rgb[:1], real.subset([0]), setup.lpips, shapes[:1]),
                 "novel": score_views(rgb[1:], real.subset(novel), setup.lpips, shapes[1:])}
        entry = {"views": views, "geometry": None, "cameras": setup.lift.stage1_cameras(True),
                 "seconds": sample.elapsed(started)}
        return Outcome(entry, to_uint8(generated.rgba[..., :3]),
                       to_uint8(composite(real.rgba, WHITE)))
