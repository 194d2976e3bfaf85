"""Per-scene optimisation of 3D Gaussians on one prepared sample (``mouselift fit``).

A baseline and a source of pseudo ground truth for the two-stage model: initialise Gaussians in
the visual hull of the masks (:mod:`.init`), optimise them against the views composited on random
backgrounds (:mod:`.loop`, :mod:`.losses`, :mod:`.densify`), score held-out views and write
a PLY, a turntable video, a view grid and ``metrics.json`` (:mod:`.runner`).
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "DensifyStats": ".densify",
    "FitConfig": ".config",
    "FitLoss": ".losses",
    "FitResult": ".runner",
    "OptimizeResult": ".loop",
    "SampleError": "..data.sample",
    "SampleViews": "..data.sample",
    "TrainableGaussians": ".densify",
    "densify_and_prune": ".densify",
    "fit_loss": ".losses",
    "fit_sample": ".runner",
    "has_eval_views": "..data.sample",
    "initial_gaussians": ".init",
    "load_sample_views": "..data.sample",
    "optimize": ".loop",
    "split_views": ".runner",
    "visual_hull_points": ".init",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DensifyStats",
    "FitConfig",
    "FitLoss",
    "FitResult",
    "OptimizeResult",
    "SampleError",
    "SampleViews",
    "TrainableGaussians",
    "densify_and_prune",
    "fit_loss",
    "fit_sample",
    "has_eval_views",
    "initial_gaussians",
    "load_sample_views",
    "optimize",
    "split_views",
    "visual_hull_points",
]
