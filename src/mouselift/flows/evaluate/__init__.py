"""``mouselift eval``: both stages, the whole pipeline and the per-scene fit on a prepared split.

Evaluations, one :class:`~.evaluation.Evaluation` subclass per module, listed in report order
in :data:`~.registry.EVALUATIONS`; each runs when what it needs is given, the others are
listed as skipped, with why:

* ``fit`` (:mod:`.fit`) — the per-scene fit on the sample's rig views (the reference).
* ``stage2`` (:mod:`.stage2`) — GS-LRM on the sample's real rig views with their own cameras.
* ``stage1`` (:mod:`.stage1`) — the multi-view diffusion's views against the real images.
* ``end_to_end`` (:mod:`.end_to_end`) — generated views → GS-LRM → renders at the real cameras.

Stage 1 and end to end share one generation per sample
(:attr:`~.evaluation.EvalSample.generation`) with the **sample's own cameras** (the frame's
real cameras in its normalised world, rig order) as the target cameras, so the Gaussians live
in the sample's frame like the fit's and Stage 2's.

Image metrics (:func:`mouselift.metrics.views.score_views`): on white, PSNR / SSIM over the
image and over the mouse, LPIPS-VGG when weights are given. 3D metrics
(:mod:`mouselift.metrics.geometry`: Chamfer distance, accuracy, completeness, F-score at 2 and
5 mm of the opacity-weighted Gaussian centres) where ground truth exists: the centres are
mapped to world mm with the inverse of the sample's stored similarity and compared with the
ground-truth surface points of the sample's source frame
(:func:`mouselift.data.synth.ground_truth.find_ground_truth`).

Always (no model needed), the one-view localisation (:mod:`.localisation`): for each sample and
camera, the one-view centre (plane method and the dataset's locator) against the all-view
centre, in ``eval.json`` and the table.

Outputs in ``OUT`` (each written atomically): ``eval.json`` (:func:`~.runner.evaluate_dataset`,
:mod:`.report`) and ``eval.png`` (:mod:`.figure`).
"""

from ...lazy import lazy_exports

_EXPORTS = {
    "EVALUATIONS": ".registry",
    "EvalResult": ".report",
    "Evaluation": ".evaluation",
    "evaluate_dataset": ".runner",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["EVALUATIONS", "EvalResult", "Evaluation", "evaluate_dataset"]
