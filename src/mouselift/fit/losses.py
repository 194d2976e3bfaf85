"""Losses of the per-scene fit.

The targets are the sample's RGBA views composited on a background colour; the render uses the
same colour behind its Gaussians (``rgb = Σ wᵢcᵢ + (1 − alpha)·background``), so pixels off the
mouse match only where the render is transparent. With a new random colour each step the
Gaussians cannot paint the background (FaceLift-style). The mask term pulls the rendered alpha
towards the target alpha and sharpens silhouettes.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..images import composite
from ..metrics import ssim
from ..splat.render import RenderOutput


class FitLoss(NamedTuple):
    """``total`` (differentiable) and its parts (detached), plus the composited ``target``."""

    total: torch.Tensor
    l1: torch.Tensor
    ssim: torch.Tensor
    mask: torch.Tensor
    target: torch.Tensor


def fit_loss(
    out: RenderOutput,
    rgba: torch.Tensor,
    background: torch.Tensor,
    *,
    ssim_weight: float = 0.2,
    mask_weight: float = 0.5,
) -> FitLoss:
    """``(1 − λ)·L1 + λ·(1 − SSIM) + μ·mean|alpha − target alpha|``.

    ``out``: the render of C views over ``background`` ((3,) or (C, 3)); ``rgba (C, H, W, 4)``
    the targets in [0, 1]. SSIM: 11-tap Gaussian window, data range 1 (as the metric).
    """
    target = composite(rgba, background)
    l1 = (out.rgb - target).abs().mean()
    structural = out.rgb.new_zeros(())
    if ssim_weight > 0:
        structural = 1 - ssim(out.rgb.permute(0, 3, 1, 2), target.permute(0, 3, 1, 2)).mean()
    mask = (out.alpha[..., 0] - rgba[..., 3]).abs().mean()
    total = (1 - ssim_weight) * l1 + ssim_weight * structural + mask_weight * mask
    return FitLoss(total, l1.detach(), structural.detach(), mask.detach(), target)


__all__ = ["FitLoss", "fit_loss"]
