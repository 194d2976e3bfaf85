"""Dense brute-force reference rasteriser: every Gaussian at every pixel, plain autograd.

Slow and memory-hungry (``N × H × W`` per tensor; ``pixel_chunk`` bounds it) — it exists to check
the tile rasteriser (:mod:`.rasterize_cpu`) and to benchmark against. Same rules as gsplat's
"classic" rasteriser: Gaussians sorted by depth (stable, so ties keep input order), pixel centre of
column ``i`` at ``u = i``, ``alpha = min(0.999, o·exp(−½ dᵀΣ'⁻¹d))``, fragments with
``alpha < 1/255`` skipped, and a pixel stops before the fragment that would bring its
transmittance to ``<= 1e-4``. Outputs ``color = Σ wᵢ cᵢ`` (no background) and
``alpha = 1 − Π(1 − αᵢ)``.
"""

from __future__ import annotations

import torch

from .projection import ALPHA_THRESHOLD, MAX_ALPHA, TRANSMITTANCE_THRESHOLD

__all__ = ["rasterize_dense"]


def rasterize_dense(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    colors: torch.Tensor,
    opacities: torch.Tensor,
    depths: torch.Tensor,
    width: int,
    height: int,
    *,
    pixel_chunk: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite N projected Gaussians front to back at every pixel.

    ``means2d (N, 2)`` pixels, ``conics (N, 3)`` ``(a, b, c)`` of the inverse 2D covariance,
    ``colors (N, D)``, ``opacities (N,)``, ``depths (N,)`` (sort key only). All Gaussians passed
    are drawn (cull beforehand). Returns ``color (H, W, D)`` and ``alpha (H, W, 1)``; pixels are
    processed ``pixel_chunk`` at a time (all at once by default).
    """
    n, d = colors.shape
    dtype, device = means2d.dtype, means2d.device
    if n == 0:
        return (
            torch.zeros(height, width, d, dtype=dtype, device=device),
            torch.zeros(height, width, 1, dtype=dtype, device=device),
        )
    order = torch.argsort(depths.detach(), stable=True)
    m, con, col, op = means2d[order], conics[order], colors[order], opacities[order]
    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device),
        torch.arange(width, dtype=dtype, device=device),
        indexing="ij",
    )
    u, v = u.reshape(-1), v.reshape(-1)
    chunk = pixel_chunk or u.numel()
    colors_out, alphas_out = [], []
    for start in range(0, u.numel(), chunk):
        dx = m[:, 0:1] - u[None, start : start + chunk]
        dy = m[:, 1:2] - v[None, start : start + chunk]
        sigma = 0.5 * (con[:, 0:1] * dx * dx + con[:, 2:3] * dy * dy) + con[:, 1:2] * dx * dy
        alpha = (op[:, None] * torch.exp(-sigma)).clamp_max(MAX_ALPHA)
        alpha = torch.where(alpha >= ALPHA_THRESHOLD, alpha, torch.zeros_like(alpha))
        with torch.no_grad():
            keep = torch.cumprod(1.0 - alpha, dim=0) > TRANSMITTANCE_THRESHOLD
        alpha = alpha * keep
        trans = torch.cumprod(1.0 - alpha, dim=0)
        before = torch.cat([torch.ones_like(trans[:1]), trans[:-1]], dim=0)
        weights = alpha * before
        colors_out.append(weights.T @ col)
        alphas_out.append(1.0 - trans[-1])
    color = torch.cat(colors_out, dim=0).reshape(height, width, d)
    alpha_img = torch.cat(alphas_out, dim=0).reshape(height, width, 1)
    return color, alpha_img
