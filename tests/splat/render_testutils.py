"""Scenes and cameras shared by the ``test_render_*`` tests (small, deterministic)."""

from __future__ import annotations

import math

import numpy as np
import torch

from mouselift.cameras import Camera, look_at
from mouselift.splat.gaussians import Gaussians
from mouselift.splat.sh import rgb_to_sh


def pinhole(
    width: int, height: int, f: float, cx: float, cy: float, skew: float = 0.0, w2c=None
) -> Camera:
    """A camera with focal ``f`` (px), principal point ``(cx, cy)``, optional skew and pose."""
    K = np.array([[f, skew, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    return Camera(K, np.eye(4) if w2c is None else w2c, width, height)


def single(
    mean, sigma: float, opacity: float, rgb=(1.0, 0.0, 0.0), dtype=torch.float64
) -> Gaussians:
    """One isotropic Gaussian (standard deviation ``sigma``) with a view-independent colour."""
    return Gaussians.from_activated(
        torch.tensor([mean], dtype=dtype),
        torch.full((1, 3), sigma, dtype=dtype),
        torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=dtype),
        torch.tensor([opacity], dtype=dtype),
        torch.tensor([rgb], dtype=dtype),
    )


def random_scene(
    n: int,
    seed: int,
    *,
    radius: float = 0.6,
    scales: tuple[float, float] = (0.02, 0.08),
    opacities: tuple[float, float] = (0.2, 0.9),
    sh_degree: int = 0,
    dtype=torch.float64,
) -> Gaussians:
    """``n`` anisotropic Gaussians in a ball of ``radius`` at the origin (raw parameters)."""
    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    direction = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=f64), dim=-1)
    means = direction * radius * torch.rand(n, 1, generator=g, dtype=f64) ** (1.0 / 3.0)
    lo, hi = scales
    log_scales = math.log(lo) + torch.rand(n, 3, generator=g, dtype=f64) * math.log(hi / lo)
    rotations = torch.randn(n, 4, generator=g, dtype=f64)
    o_lo, o_hi = opacities
    logits = torch.logit(o_lo + (o_hi - o_lo) * torch.rand(n, generator=g, dtype=f64))
    sh = 0.3 * torch.randn(n, (sh_degree + 1) ** 2, 3, generator=g, dtype=f64)
    sh[:, 0] = rgb_to_sh(torch.rand(n, 3, generator=g, dtype=f64))
    return Gaussians(*(t.to(dtype) for t in (means, log_scales, rotations, logits, sh)))


def orbit_camera(size: tuple[int, int], eye, *, f: float | None = None, skew: float = 0.0):
    """A camera at ``eye`` looking at the origin (Z up), centred principal point."""
    width, height = size
    f = f if f is not None else 1.1 * max(width, height)
    return pinhole(
        width, height, f, (width - 1) / 2 + 0.3, (height - 1) / 2 - 0.2, skew,
        w2c=look_at(eye, [0.0, 0.0, 0.0]),
    )  # fmt: skip


def requires_grad(gaussians: Gaussians) -> list[torch.Tensor]:
    """Mark every raw field as a leaf requiring grad; returns them in field order."""
    leaves = [gaussians.means, gaussians.log_scales, gaussians.rotations,
              gaussians.opacity_logits, gaussians.sh]  # fmt: skip
    for leaf in leaves:
        leaf.requires_grad_(True)
        leaf.grad = None
    return leaves
