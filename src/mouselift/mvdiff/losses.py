"""Training loss of Stage 1: the whole objective (latents, timesteps, noise, weighting), shared
by the trainer and by held-out loss evaluation.

For ``B`` objects × ``V`` views: VAE latents of all views; one timestep per object (shared by
its views); noise; target = velocity ``v = √ᾱ·ε − √(1−ᾱ)·x₀`` (v-prediction, FaceLift's) or ``ε``;
per-image MSE weighted by min-SNR-γ, averaged over images. The defaults are FaceLift's own
(``train_diffusion.py``); each difference is a named option of :class:`Objective`:

* ``snr_weighting``: ``"facelift"`` weighs every image by ``min(SNR, γ) / SNR`` — FaceLift's
  rule, used even with v-prediction; ``"v-prediction"`` is diffusers' rule, ``min(SNR, γ) /
  (SNR + 1)`` for a v target (``/ SNR`` for an ε target). The two differ by the factor
  ``SNR / (SNR + 1)``: near 1 at low noise, near 0 at high noise.
* ``condition_drop_rule``: ``"facelift"`` draws one uniform ``p`` per object and zeroes the
  CLIP class labels for ``p < 2r`` and the input latents for ``r ≤ p < 3r`` (rate ``r``):
  5 % CLIP only, 5 % both, 5 % latents only at FaceLift's r = 0.05. ``"joint"`` zeroes both
  together for ``p < r`` (the unconditional branch of guidance only).
* ``target_latents``: ``"sample"`` encodes the target views with a sample of the VAE posterior
  (FaceLift's), ``"mode"`` with its mode. The input view's latents are always the mode.

Every random draw of one call comes from one CPU generator, in a fixed order, so a step is
reproducible (and a resumed run exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.training_utils import compute_snr

from ..images import WHITE, composite
from ..train.sampling import step_generator
from .conditioning import (
    clip_image_embeds,
    drop_conditions,
    unclip_class_labels,
    vae_latents,
)
from .dataset import MultiViewDataset

SnrWeighting = Literal["facelift", "v-prediction"]
DropRule = Literal["facelift", "joint"]
TargetLatents = Literal["sample", "mode"]


@dataclass(frozen=True)
class Objective:
    """The settings of :func:`diffusion_loss`; defaults are FaceLift's (see the module)."""

    snr_gamma: float | None = 5.0
    snr_weighting: SnrWeighting = "facelift"
    condition_drop: float = 0.0
    condition_drop_rule: DropRule = "facelift"
    target_latents: TargetLatents = "sample"
    noise_level: int = 0
    ignore_unseen: bool = True

    def __post_init__(self) -> None:
        if self.snr_weighting not in ("facelift", "v-prediction"):
            raise ValueError(f"unknown snr_weighting {self.snr_weighting!r} "
                             "(use facelift or v-prediction)")
        if self.condition_drop_rule not in ("facelift", "joint"):
            raise ValueError(f"unknown condition_drop_rule {self.condition_drop_rule!r} "
                             "(use facelift or joint)")
        if self.target_latents not in ("sample", "mode"):
            raise ValueError(f"unknown target_latents {self.target_latents!r} "
                             "(use sample or mode)")
        limit = 1 / 3 if self.condition_drop_rule == "facelift" else 1.0
        if not 0.0 <= self.condition_drop <= limit:
            raise ValueError(f"condition_drop {self.condition_drop} out of range (FaceLift's "
                             "rule needs 3·rate ≤ 1)")


def snr_loss_weights(snr: torch.Tensor, gamma: float | None, rule: SnrWeighting,
                     v_prediction: bool) -> torch.Tensor:
    """Per-image loss weights from the SNR ``ᾱ / (1 − ᾱ)`` of each image's timestep."""
    if gamma is None:
        return torch.ones_like(snr)
    clipped = torch.clamp(snr, max=gamma)
    if rule == "v-prediction" and v_prediction:
        return clipped / (snr + 1)
    return clipped / snr


def condition_drop_masks(p: torch.Tensor, rate: float, rule: DropRule
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(drop_clip, drop_latents)`` boolean masks of the uniform draws ``p`` (one per object)."""
    if rule == "joint":
        both = p < rate
        return both, both
    return p < 2 * rate, (p >= rate) & (p < 3 * rate)


def diffusion_loss(model: torch.nn.Module, pipe: object, noise_scheduler: DDPMScheduler,
                   targets: torch.Tensor, poses: torch.Tensor | None, prompts: torch.Tensor,
                   generator: torch.Generator, objective: Objective | None = None, *,
                   weight_dtype: torch.dtype = torch.float32,
                   seen: torch.Tensor | None = None) -> torch.Tensor:
    """Scalar loss of ``targets`` ``(B, V, 3, H, W)`` in [0, 1] (view 0 = the input view).

    ``seen`` ``(B, V, 1, H, W)``: the share of each pixel its camera saw (the dataset's
    ``seen``); where some is not and ``objective.ignore_unseen``, each image's error is the mean
    over its latent pixels weighted by the share seen (area-pooled to the latents): a crop that
    ran past its source image is unknown there, not background, so the model is free to go on
    drawing the mouse. None or all ones: FaceLift's loss exactly.

    ``model`` is the :class:`~mouselift.mvdiff.camera_embedding.MultiViewDenoiser` (possibly
    wrapped by accelerate), ``pipe`` supplies the frozen VAE and CLIP parts, ``prompts`` is
    ``(V, L, D)``, ``poses`` ``(B, V, 12)`` or ``None``. All random draws use ``generator``
    (CPU), in this order: target latents (when sampled), unCLIP noise, condition drop, timesteps,
    noise."""
    objective = objective or Objective()
    device = prompts.device
    targets = targets.to(device)
    objects, views = targets.shape[:2]
    sample_targets = generator if objective.target_latents == "sample" else None
    with torch.no_grad():
        latents = vae_latents(pipe.vae, targets.flatten(0, 1).to(weight_dtype),
                              sample_targets).float()
        cond = targets[:, 0]
        cond_latents = vae_latents(pipe.vae, cond.to(weight_dtype)).float()
        embeds = clip_image_embeds(pipe.image_encoder, pipe.feature_extractor, cond)
        labels = unclip_class_labels(embeds.float(), pipe.image_normalizer,
                                     pipe.image_noising_scheduler, objective.noise_level,
                                     generator).float()
    p = torch.rand(objects, generator=generator)
    drop_clip, drop_latents = condition_drop_masks(p, objective.condition_drop,
                                                   objective.condition_drop_rule)
    labels, cond_latents = drop_conditions(labels, cond_latents, drop_clip.to(device),
                                           drop_latents.to(device))
    t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (objects,),
                      generator=generator).repeat_interleave(views).to(device)
    noise = torch.randn(latents.shape, generator=generator).to(device)
    noisy = noise_scheduler.add_noise(latents, noise, t)
    v_prediction = noise_scheduler.config.prediction_type == "v_prediction"
    target = noise_scheduler.get_velocity(latents, noise, t) if v_prediction else noise
    model_input = torch.cat([noisy, cond_latents.repeat_interleave(views, dim=0)], dim=1)
    flat_poses = poses.flatten(0, 1).to(device) if poses is not None else None
    prediction = model(model_input, t, prompts.repeat(objects, 1, 1),
                       labels.repeat_interleave(views, dim=0), flat_poses)
    error = F.mse_loss(prediction.float(), target.float(), reduction="none")
    if seen is not None and objective.ignore_unseen and bool((seen < 1).any()):
        weight = F.adaptive_avg_pool2d(seen.flatten(0, 1).to(device, torch.float32),
                                       tuple(error.shape[-2:]))
        mse = (error * weight).sum(dim=(1, 2, 3)) / (
            error.shape[1] * weight.sum(dim=(1, 2, 3))).clamp_min(1e-12)
    else:
        mse = error.mean(dim=(1, 2, 3))
    weights = snr_loss_weights(compute_snr(noise_scheduler, t), objective.snr_gamma,
                               objective.snr_weighting, v_prediction)
    return (mse * weights).mean()


@torch.no_grad()
def evaluate_loss(pipe: object, dataset: MultiViewDataset, *, indices: Sequence[int] | None = None,
                  draws: int = 4, seed: int = 0, objective: Objective | None = None) -> float:
    """Mean objective over ``dataset`` items (default all) × ``draws`` fixed (timestep, noise)
    draws, without condition dropout: the same number for the same weights, so it compares
    checkpoints (e.g. before and after training)."""
    objective = replace(objective or Objective(), condition_drop=0.0)
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    model = pipe.denoiser.eval()
    prompts = pipe.prompt_embeds.to(pipe.device, pipe.dtype)
    indices = list(range(len(dataset))) if indices is None else list(indices)
    total = 0.0
    for i in indices:
        rgba, poses = dataset.load_views(i)
        targets = composite(rgba, WHITE, channels_last=False)
        use_poses = poses[None] if pipe.camera_embedding is not None else None
        seen = dataset.seen(i)[None]
        for draw in range(draws):
            loss = diffusion_loss(model, pipe, noise_scheduler, targets[None], use_poses,
                                  prompts, step_generator(seed, i, draw), objective, seen=seen)
            total += float(loss)
    return total / (len(indices) * draws)
