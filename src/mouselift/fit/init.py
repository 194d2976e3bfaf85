"""Initial Gaussians of a fit: points in the visual hull of the training masks (or a sphere).

Geometry comes from the cameras, nothing is hard-coded: ``mouselift prepare`` crops every view so
that a sphere about the mouse centre (the world origin) just fits, so that sphere's radius — the
*scene radius* — follows from any view's distance and field of view
(:func:`mouselift.data.framing.crops.crop_sphere_radius`; ≈ 2.7·radius_mm/d for the default
preparation, about 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..cameras import Camera
from ..data.framing.crops import crop_sphere_radius
from ..data.framing.hull import carve, nearest_pixels
from ..images import MOUSE_ALPHA_THRESHOLD
from ..splat import Gaussians

#: Initial isotropic scale of a hull point, × the voxel size.
SCALE_PER_VOXEL = 0.7


def visual_hull_points(
    alpha: np.ndarray,
    cameras: Sequence[Camera],
    *,
    voxels: int = 64,
    domain: float = 1.5,
    min_views: int = 3,
) -> tuple[np.ndarray, float]:
    """Centres ``(M, 3)`` of the voxels inside every mask that sees them (alpha ``>``
    :data:`~mouselift.images.MOUSE_ALPHA_THRESHOLD`) and seen by at least ``min_views`` views,
    and the voxel size (:func:`mouselift.data.framing.hull.carve`; outside a view's image its
    mask is unknown, so that view does not carve there).

    The grid has ``voxels`` voxels along each side (``voxels³`` in all) in the cube of half side
    ``domain × crop_sphere_radius`` about the origin. ``alpha``: ``(V, H, W)`` masks in [0, 1]
    of ``cameras``.
    """
    half = domain * crop_sphere_radius(cameras)
    axis = (np.arange(voxels) + 0.5) / voxels * 2 * half - half
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    keep = carve(grid, cameras, alpha, MOUSE_ALPHA_THRESHOLD, partial=[True] * len(cameras),
                 min_views=min_views)
    return grid[keep], 2 * half / voxels


def _mean_colours(points: np.ndarray, rgba: np.ndarray, cameras: Sequence[Camera]) -> np.ndarray:
    """Mean RGB of the mask pixels the points project to (grey where no view has them)."""
    total = np.zeros((len(points), 3))
    count = np.zeros((len(points), 1))
    for k, cam in enumerate(cameras):
        ij, inside = nearest_pixels(cam, points)
        pix = rgba[k, ij[inside, 1], ij[inside, 0]]
        weight = (pix[:, 3:] > MOUSE_ALPHA_THRESHOLD).astype(np.float64)
        total[inside] += pix[:, :3] * weight
        count[inside] += weight
    return np.where(count > 0, total / np.maximum(count, 1), 0.5)


def initial_gaussians(
    rgba: torch.Tensor,
    cameras: Sequence[Camera],
    *,
    count: int = 3000,
    method: str = "hull",
    voxels: int = 64,
    domain: float = 1.5,
    min_views: int = 3,
    opacity: float = 0.3,
    sh_degree: int = 0,
    seed: int = 0,
) -> Gaussians:
    """``count`` isotropic Gaussians to start a fit from (float32, CPU).

    ``method="hull"``: voxels of :func:`visual_hull_points` drawn with replacement and jittered
    within their voxel, scale ``0.7 × voxel``; ``"sphere"``: uniform in the crop sphere, scale a
    sixtieth of its radius. Colours are the mean of the mask pixels each point projects to;
    opacity ``opacity``; identity rotations. ``rgba (V, H, W, 4)`` in [0, 1]. Deterministic for
    ``seed``. Raises ``ValueError`` when the masks leave no voxel.
    """
    rng = np.random.default_rng(seed)
    images = rgba.detach().cpu().numpy().astype(np.float64)
    if method == "hull":
        centres, voxel = visual_hull_points(
            images[..., 3], cameras, voxels=voxels, domain=domain, min_views=min_views
        )
        if len(centres) == 0:
            raise ValueError("the training masks have an empty visual hull: nothing to fit")
        chosen = centres[rng.integers(0, len(centres), size=count)]
        points = chosen + rng.uniform(-0.5, 0.5, size=chosen.shape) * voxel
        scale = SCALE_PER_VOXEL * voxel
    elif method == "sphere":
        radius = crop_sphere_radius(cameras)
        direction = rng.normal(size=(count, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        points = direction * radius * rng.uniform(size=(count, 1)) ** (1 / 3)
        scale = radius / 60
    else:
        raise ValueError(f"init method must be 'hull' or 'sphere', got {method!r}")
    f32 = torch.float32
    return Gaussians.from_activated(
        means=torch.tensor(points, dtype=f32),
        scales=torch.full((count, 3), scale, dtype=f32),
        rotations=torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=f32).repeat(count, 1),
        opacities=torch.full((count,), opacity, dtype=f32),
        colors=torch.tensor(_mean_colours(points, images, cameras), dtype=f32),
        sh_degree=sh_degree,
    )


__all__ = ["initial_gaussians", "visual_hull_points"]
