"""The Stage-1 training objective, shared by the trainer and by held-out loss evaluation.

For ``B`` objects × ``V`` views: VAE latents of all views; one timestep per object (shared by
its views); noise; target = velocity ``v = √ᾱ·ε − √(1−ᾱ)·x₀`` (v-prediction, FaceLift's) or ``ε``;
per-image MSE weighted by min-SNR-γ — ``min(SNR, γ)/(SNR + 1)`` for v, ``min(SNR, γ)/SNR`` for ε —
averaged over images. Condition dropout zeroes an object's class labels and input latents.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.training_utils import compute_snr

from .conditioning import (
    WHITE,
    clip_image_embeds,
    composite,
    drop_conditions,
    unclip_class_labels,
    vae_latents,
)
from .dataset import MultiViewDataset, step_generator


def diffusion_loss(model: torch.nn.Module, pipe: object, noise_scheduler: DDPMScheduler,
                   targets: torch.Tensor, poses: torch.Tensor | None, prompts: torch.Tensor,
                   generator: torch.Generator, *, condition_drop: float = 0.0,
                   snr_gamma: float | None = 5.0, noise_level: int = 0,
                   weight_dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Scalar loss of ``targets`` ``(B, V, 3, H, W)`` in [0, 1] (view 0 = the input view).

    ``model`` is the :class:`~mouselift.mvdiff.camera_embedding.MultiViewDenoiser` (possibly
    wrapped by accelerate), ``pipe`` supplies the frozen VAE and CLIP parts, ``prompts`` is
    ``(V, L, D)``, ``poses`` ``(B, V, 12)`` or ``None``. All random draws use ``generator``
    (CPU)."""
    device = prompts.device
    targets = targets.to(device)
    objects, views = targets.shape[:2]
    with torch.no_grad():
        latents = vae_latents(pipe.vae, targets.flatten(0, 1).to(weight_dtype)).float()
        cond = targets[:, 0]
        cond_latents = vae_latents(pipe.vae, cond.to(weight_dtype)).float()
        embeds = clip_image_embeds(pipe.image_encoder, pipe.feature_extractor, cond)
        labels = unclip_class_labels(embeds.float(), pipe.image_normalizer,
                                     pipe.image_noising_scheduler, noise_level,
                                     generator).float()
    drop = torch.rand(objects, generator=generator) < condition_drop
    labels, cond_latents = drop_conditions(labels, cond_latents, drop.to(device))
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
    mse = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
    if snr_gamma is not None:
        snr = compute_snr(noise_scheduler, t)
        clipped = torch.clamp(snr, max=snr_gamma)
        mse = mse * (clipped / (snr + 1) if v_prediction else clipped / snr)
    return mse.mean()


@torch.no_grad()
def evaluate_loss(pipe: object, dataset: MultiViewDataset, *, indices: Sequence[int] | None = None,
                  draws: int = 4, seed: int = 0, snr_gamma: float | None = 5.0) -> float:
    """Mean objective over ``dataset`` items (default all) × ``draws`` fixed (timestep, noise)
    draws, without condition dropout: the same number for the same weights, so it compares
    checkpoints (e.g. before and after training)."""
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    model = pipe.denoiser.eval()
    prompts = pipe.prompt_embeds.to(pipe.device, pipe.dtype)
    indices = list(range(len(dataset))) if indices is None else list(indices)
    total = 0.0
    for i in indices:
        rgba, poses = dataset.load_views(i)
        targets = composite(rgba, WHITE)
        use_poses = poses[None] if pipe.camera_embedding is not None else None
        for draw in range(draws):
            loss = diffusion_loss(model, pipe, noise_scheduler, targets[None], use_poses,
                                  prompts, step_generator(seed, i, draw), snr_gamma=snr_gamma)
            total += float(loss)
    return total / (len(indices) * draws)
