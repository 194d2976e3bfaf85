"""Trainable Gaussian parameters, their optimiser, and simple densification / pruning.

Densification (after 3D Gaussian Splatting, kept simple): every ``densify_every`` steps, the
Gaussians whose mean position-gradient norm (averaged over the steps they were rendered in) exceeds
``densify_grad`` are *cloned* when small (a copy at the same place; the two drift apart) or *split*
when their largest scale exceeds ``split_scale`` (two children drawn from the parent's Gaussian,
scales / 1.6, the parent removed). The renderer does not expose screen-space gradients, so the
statistic is the world-space gradient of the means. New Gaussians are limited to the room left
under ``max_gaussians`` (highest gradients first). Pruning removes Gaussians with opacity below
``prune_opacity`` or a scale above ``prune_scale``. The optimiser is rebuilt after each pass (its
moments are reset) — simple, and harmless at these step counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..splat import Gaussians

#: Scale divisor of the two children of a split Gaussian (3DGS's value).
SPLIT_SHRINK = 1.6

_FIELDS = ("means", "log_scales", "rotations", "opacity_logits", "sh")


class TrainableGaussians:
    """Leaf tensors (``requires_grad``) of the raw Gaussian fields plus gradient statistics."""

    def __init__(self, gaussians: Gaussians) -> None:
        self.set(gaussians)

    def set(self, gaussians: Gaussians) -> None:
        """Replace all parameters (fresh leaves) and reset the gradient statistics."""
        for name in _FIELDS:
            value = getattr(gaussians, name).detach().clone()
            setattr(self, name, value.requires_grad_(True))
        self.grad_sum = torch.zeros(len(gaussians))
        self.grad_count = torch.zeros(len(gaussians))

    def __len__(self) -> int:
        return int(self.means.shape[0])

    def gaussians(self) -> Gaussians:
        """The current Gaussians (sharing the leaf tensors: differentiable)."""
        return Gaussians(*(getattr(self, name) for name in _FIELDS), validate=False)

    def optimizer(
        self,
        *,
        lr_means: float,
        lr_scales: float,
        lr_rotations: float,
        lr_opacities: float,
        lr_colors: float,
    ) -> torch.optim.Adam:
        """Adam with one parameter group per field, named ``means``, ``scales``,
        ``rotations``, ``opacities`` and ``colors`` (all SH coefficients share one rate)."""
        groups = [
            {"params": [self.means], "lr": lr_means, "name": "means"},
            {"params": [self.log_scales], "lr": lr_scales, "name": "scales"},
            {"params": [self.rotations], "lr": lr_rotations, "name": "rotations"},
            {"params": [self.opacity_logits], "lr": lr_opacities, "name": "opacities"},
            {"params": [self.sh], "lr": lr_colors, "name": "colors"},
        ]
        return torch.optim.Adam(groups, eps=1e-15)

    def accumulate_gradients(self) -> None:
        """Add this step's per-Gaussian position-gradient norm (Gaussians with a non-zero
        gradient count as rendered)."""
        if self.means.grad is None:
            return
        norm = self.means.grad.detach().norm(dim=1)
        self.grad_sum += norm
        self.grad_count += (norm > 0).to(self.grad_count.dtype)

    def mean_gradients(self) -> torch.Tensor:
        """Mean position-gradient norm per Gaussian over the steps it was rendered in."""
        return self.grad_sum / self.grad_count.clamp(min=1)


@dataclass(frozen=True)
class DensifyStats:
    """What one densify/prune pass did."""

    before: int
    cloned: int
    split: int
    pruned: int
    after: int


def densify_and_prune(
    params: TrainableGaussians,
    *,
    grad_threshold: float,
    split_scale: float,
    prune_opacity: float,
    prune_scale: float,
    max_gaussians: int,
    generator: torch.Generator,
) -> DensifyStats:
    """One densify (clone/split) and prune pass on ``params`` in place; see the module docstring.

    Counts: ``after = before + cloned + split − pruned`` where a split adds two children and
    removes its parent (net +1) and ``pruned`` counts only Gaussians removed by the opacity/scale
    tests. The gradient statistics are reset.
    """
    with torch.no_grad():
        g = params.gaussians().detach()
        before = len(g)
        grad = params.mean_gradients()
        big = g.scales.amax(dim=1) > split_scale
        candidates = torch.nonzero(grad > grad_threshold).flatten()
        candidates = candidates[torch.argsort(grad[candidates], descending=True, stable=True)]
        # Each clone or split adds one Gaussian; prune first so it frees room.
        keep = (g.opacities >= prune_opacity) & (g.scales.amax(dim=1) <= prune_scale)
        candidates = candidates[keep[candidates]]
        room = max(0, max_gaussians - int(keep.sum()))
        candidates = candidates[:room].sort().values
        clone = candidates[~big[candidates]]
        split = candidates[big[candidates]]

        noise = torch.randn((len(split), 3), generator=generator, dtype=g.dtype) * g.scales[split]
        offset = torch.einsum("nij,nj->ni", g.rotation_matrices()[split], noise)
        pick = torch.cat([clone, split, split])
        new_means = torch.cat([g.means[clone], g.means[split] + offset, g.means[split] - offset])
        new_log_scales = g.log_scales[pick].clone()
        new_log_scales[len(clone) :] -= math.log(SPLIT_SHRINK)

        survivors = keep.clone()
        survivors[split] = False  # a split parent is replaced by its two children
        fields = {
            "means": torch.cat([g.means[survivors], new_means]),
            "log_scales": torch.cat([g.log_scales[survivors], new_log_scales]),
            "rotations": torch.cat([g.rotations[survivors], g.rotations[pick]]),
            "opacity_logits": torch.cat([g.opacity_logits[survivors], g.opacity_logits[pick]]),
            "sh": torch.cat([g.sh[survivors], g.sh[pick]]),
        }
        params.set(Gaussians(**fields, validate=False))
    pruned = before - int(keep.sum())
    return DensifyStats(before, len(clone), len(split), pruned, len(params))


__all__ = ["SPLIT_SHRINK", "DensifyStats", "TrainableGaussians", "densify_and_prune"]
