"""The optimisation loop of the per-scene fit: Adam on the raw Gaussian fields.

Each step renders ``views_per_step`` random training views over random background colours (one
per view; or white/black, see :class:`~.config.FitConfig`), takes :func:`~.losses.fit_loss`, and
updates every field with its own learning rate; the means' rate is ``lr_means × scene radius``
and decays exponentially to ``lr_means_final`` of that at the last step (3DGS-style).
Densification/pruning (:mod:`.densify`) runs every ``densify_every`` steps up to
``densify_until``. Deterministic for a config (seeded NumPy/PyTorch generators; the CPU
renderer is deterministic).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from ..data.framing.crops import crop_sphere_radius
from ..data.sample import SampleViews
from ..images import background_tensor
from ..splat import Gaussians
from ..splat.render import render
from .config import FitConfig
from .densify import DensifyStats, TrainableGaussians, densify_and_prune
from .init import initial_gaussians
from .losses import fit_loss

#: Steps between entries of the loss history (and progress-bar updates).
LOG_EVERY = 10

@dataclass
class OptimizeResult:
    """Fitted Gaussians (detached, on the fit's device), the ``initial`` ones, and what happened.

    ``history``: one dict per ``LOG_EVERY`` steps (and the last) with ``step``, ``loss``, ``l1``,
    ``psnr`` (of that step's views on its background), ``num_gaussians``; ``densify``: one
    :class:`~.densify.DensifyStats` per pass; ``scene_radius``: see :mod:`.init`.
    """

    gaussians: Gaussians
    initial: Gaussians
    scene_radius: float
    history: list[dict] = field(default_factory=list)
    densify: list[DensifyStats] = field(default_factory=list)

    @property
    def initial_count(self) -> int:
        return len(self.initial)


def _backgrounds(kind: str, count: int, generator: torch.Generator) -> torch.Tensor:
    if kind == "random":
        return torch.rand(count, 3, generator=generator)
    return background_tensor(kind).expand(count, 3)


def optimize(
    train: SampleViews,
    config: FitConfig,
    *,
    initial: Gaussians | None = None,
    device: torch.device | str = "cpu",
    progress: bool = False,
    callback: Callable[[int, float], None] | None = None,
) -> OptimizeResult:
    """Fit Gaussians to ``train`` (views with masks) following ``config``.

    ``initial``: starting Gaussians (default: :func:`~.init.initial_gaussians` from the masks).
    ``callback(step, loss)`` is called after every step. The progress bar shows the loss, the
    step's PSNR and the number of Gaussians.
    """
    device = torch.device(device)
    scene_radius = crop_sphere_radius(train.cameras)
    if initial is None:
        initial = initial_gaussians(
            train.rgba, train.cameras, count=config.init_points, method=config.init,
            voxels=config.hull_voxels, domain=config.hull_domain,
            min_views=min(config.hull_min_views, len(train)), opacity=config.init_opacity,
            sh_degree=config.sh_degree, seed=config.seed,
        )  # fmt: skip
    params = TrainableGaussians(initial.to(device, torch.float32).with_sh_degree(config.sh_degree))
    lrs = {
        "lr_means": config.lr_means * scene_radius,
        "lr_scales": config.lr_scales,
        "lr_rotations": config.lr_rotations,
        "lr_opacities": config.lr_opacities,
        "lr_colors": config.lr_colors,
    }
    optimizer = params.optimizer(**lrs)
    rng = np.random.default_rng(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    rgba = train.rgba.to(device)
    per_step = min(config.views_per_step, len(train))
    result = OptimizeResult(initial, initial, scene_radius)
    bar = tqdm(range(1, config.steps + 1), disable=not progress, desc="fit", unit="step")
    for step in bar:
        means_lr = lrs["lr_means"] * config.lr_means_final ** (step / config.steps)
        for group in optimizer.param_groups:
            if group["name"] == "means":
                group["lr"] = means_lr
        chosen = sorted(rng.choice(len(train), size=per_step, replace=False).tolist())
        background = _backgrounds(config.background, per_step, generator).to(device)
        out = render(params.gaussians(), [train.cameras[k] for k in chosen], background)
        loss = fit_loss(
            out, rgba[chosen], background,
            ssim_weight=config.ssim_weight, mask_weight=config.mask_weight,
        )  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        loss.total.backward()
        params.accumulate_gradients()
        optimizer.step()
        value = float(loss.total.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"the fit diverged at step {step} (loss {value})")
        if callback is not None:
            callback(step, value)
        if step % LOG_EVERY == 0 or step == config.steps or step == 1:
            mse = float((out.rgb.detach() - loss.target).pow(2).mean())
            psnr = -10 * math.log10(max(mse, 1e-12))
            result.history.append(
                {"step": step, "loss": round(value, 6), "l1": round(float(loss.l1), 6),
                 "psnr": round(psnr, 3), "num_gaussians": len(params)}
            )  # fmt: skip
            bar.set_postfix(loss=f"{value:.4f}", psnr=f"{psnr:.1f}", n=len(params))
        if (
            step % config.densify_every == 0
            and step <= config.densify_until
            and step < config.steps
        ):
            stats = densify_and_prune(
                params,
                grad_threshold=config.densify_grad,
                split_scale=config.split_scale * scene_radius,
                prune_opacity=config.prune_opacity,
                prune_scale=config.prune_scale * scene_radius,
                max_gaussians=config.max_gaussians,
                generator=generator,
            )
            result.densify.append(stats)
            optimizer = params.optimizer(**lrs)
    bar.close()
    result.gaussians = params.gaussians().detach()
    return result


__all__ = ["LOG_EVERY", "OptimizeResult", "optimize"]
