"""Per-scene optimisation of 3D Gaussians on one prepared sample (``mouselift fit``).

A baseline and a source of pseudo ground truth for the two-stage model: initialise Gaussians in
the visual hull of the masks (:mod:`.init`), optimise them against the views composited on random
backgrounds (:mod:`.loop`, :mod:`.losses`, :mod:`.densify`), evaluate on held-out views and write
a PLY, a turntable video, a view grid and ``metrics.json`` (:mod:`.pipeline`).
"""

from ..data.sample import SampleError, SampleViews, composite, has_eval_views, load_sample_views
from .config import FitConfig
from .densify import DensifyStats, TrainableGaussians, densify_and_prune
from .init import carve, crop_sphere_radius, initial_gaussians, visual_hull_points
from .loop import OptimizeResult, optimize
from .losses import FitLoss, fit_loss
from .pipeline import FitResult, evaluate, fit_sample, split_views

__all__ = [
    "DensifyStats",
    "FitConfig",
    "FitLoss",
    "FitResult",
    "OptimizeResult",
    "SampleError",
    "SampleViews",
    "TrainableGaussians",
    "carve",
    "composite",
    "crop_sphere_radius",
    "densify_and_prune",
    "evaluate",
    "fit_loss",
    "fit_sample",
    "has_eval_views",
    "initial_gaussians",
    "load_sample_views",
    "optimize",
    "split_views",
    "visual_hull_points",
]
