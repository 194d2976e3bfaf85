"""Synthetic Gaussians shaped like GS-LRM's predictions, for tests and benchmarks.

One Gaussian per pixel of FaceLift's 6 rig views at ``size``² (:func:`pixel_aligned_scene`),
placed on the pixel's ray as GS-LRM places them, in FaceLift's world (cameras 2.7 from the
origin, Z up):

* ``"trained"``: what a trained GS-LRM predicts for a mouse crop. A ray that meets a mouse-sized
  ellipsoid (semi-axes 0.9, 0.4, 0.35, a random yaw; about 12 % of the pixels) puts its
  Gaussian on that surface; a ray that misses paints the background, at the far end of
  GS-LRM's depth range (``DEPTH_RANGE`` past the ray's point nearest the origin, clipped to the
  ``CLIP_XYZ`` box as in training).
  Opacities uniform in [0.05, 0.9]; standard deviations 1–4 px at the input camera,
  anisotropic; random rotations.
* ``"fog"``: GS-LRM at initialisation (its activations of a near-zero output): every Gaussian
  within ±0.01 along its ray of the ray's point nearest the origin (a fresh network's small
  outputs; exactly there, mirror-image pixels would tie in depth), scale 0.1, opacity
  sigmoid(−2) ≈ 0.12 — hundreds of translucent splats over every pixel.

Colours: SH degree 0, random. Deterministic in ``seed``; float64.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch

from ..cameras.rig import facelift_rig
from ..splat.gaussians import Gaussians
from .model import CLIP_XYZ, DEPTH_RANGE

__all__ = ["SceneKind", "pixel_aligned_scene", "rig_rays"]

SceneKind = Literal["trained", "fog"]
#: The ``trained`` scene's mouse: ellipsoid semi-axes in FaceLift's world units.
MOUSE_SEMI_AXES = (0.9, 0.4, 0.35)


def rig_rays(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and unit directions ``(6, size, size, 3)`` (float64) of FaceLift's rig at
    ``size``², through each pixel centre."""
    origins, directions = [], []
    for cam in facelift_rig(size).cameras:
        v, u = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64),
                           indexing="ij")
        pix = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(cam.K).T
        world = pix @ cam.c2w[:3, :3].T
        directions.append(world / np.linalg.norm(world, axis=-1, keepdims=True))
        origins.append(np.broadcast_to(cam.c2w[:3, 3], world.shape))
    return (torch.tensor(np.stack(origins), dtype=torch.float64),
            torch.tensor(np.stack(directions), dtype=torch.float64))


def pixel_aligned_scene(kind: SceneKind, size: int, seed: int = 0) -> Gaussians:
    """``6·size²`` Gaussians of one object (see the module docstring)."""
    if kind not in ("trained", "fog"):
        raise ValueError(f"kind must be 'trained' or 'fog', got {kind!r}")
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    origins, directions = rig_rays(size)
    o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    n = o.shape[0]
    nearest_t = -(o * d).sum(-1, keepdim=True)
    rotations = torch.randn(n, 4, generator=g, dtype=f64)
    sh = 0.5 * torch.randn(n, 1, 3, generator=g, dtype=f64)
    if kind == "fog":
        t = nearest_t + 0.02 * (torch.rand(n, 1, generator=g, dtype=f64) - 0.5)
        return Gaussians(o + t * d, torch.full((n, 3), -2.3, dtype=f64), rotations,
                         torch.full((n,), -2.0, dtype=f64), sh)
    yaw = 2 * math.pi * float(torch.rand((), generator=g, dtype=f64))
    rot = torch.tensor([[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0],
                        [0.0, 0.0, 1.0]], dtype=f64)
    axes = torch.tensor(MOUSE_SEMI_AXES, dtype=f64)
    lo, ld = (o @ rot) / axes, (d @ rot) / axes  # the ray in the ellipsoid's unit-sphere frame
    qa, qb, qc = (ld * ld).sum(-1), 2 * (lo * ld).sum(-1), (lo * lo).sum(-1) - 1
    disc = qb * qb - 4 * qa * qc
    t_hit = (-qb - disc.clamp_min(0).sqrt()) / (2 * qa)
    far = (o + (nearest_t + DEPTH_RANGE) * d).clamp(-CLIP_XYZ, CLIP_XYZ)
    means = torch.where((disc > 0)[:, None], o + t_hit[:, None] * d, far)
    opacity = 0.05 + 0.85 * torch.rand(n, generator=g, dtype=f64)
    focal = float(facelift_rig(size).cameras[0].K[0, 0])
    distance = (means - o).norm(dim=-1, keepdim=True)
    sigma_px = 1.0 + 3.0 * torch.rand(n, 1, generator=g, dtype=f64)
    scales = sigma_px * distance / focal * (0.6 + 0.8 * torch.rand(n, 3, generator=g, dtype=f64))
    return Gaussians(means, scales.log(), rotations, torch.logit(opacity), sh)
