"""Image conditioning of Stage 1, shared by training and sampling.

Images are float tensors ``(B, 3, H, W)`` in [0, 1] (RGB) unless said otherwise; an RGBA input is
composited over a background colour first (straight alpha, :func:`mouselift.images.composite`
with ``channels_last=False``).

* CLIP: the input view, resized to the image encoder's size and normalised with the feature
  extractor's mean/std, → ``image_embeds`` ``(B, P)`` (P = projection_dim, 1024 for ViT-H).
* unCLIP class labels ``(B, 2P)``: the embedding scaled by the image normaliser, noised to
  ``noise_level`` with the image-noising scheduler (FaceLift: level 0), unscaled, then
  concatenated with the sinusoidal embedding of the noise level — ``[embedding ⊕ level]``.
* VAE latents ``(B, 4, H/8, W/8)``: the mode of the posterior of ``2·x − 1`` (or a sample of
  it, drawn from a given generator: FaceLift's training targets), times the VAE's scaling factor.
* The unconditional branch of classifier-free guidance zeroes the class labels *and* the input
  latents of an object; the view prompts are kept. Condition dropout in training may zero either
  or both (:func:`drop_conditions`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.embeddings import get_timestep_embedding
from PIL import Image


def to_image_tensor(image: Image.Image | np.ndarray | torch.Tensor) -> torch.Tensor:
    """One image as ``(C, H, W)`` float in [0, 1], C = 3 or 4. Arrays/tensors may be HWC or CHW;
    uint8 is scaled by 1/255."""
    if isinstance(image, Image.Image):
        mode = "RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB"
        image = np.asarray(image.convert(mode))
    tensor = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.array(image))
    if tensor.ndim != 3:
        raise ValueError(f"an image must have 3 dimensions, got shape {tuple(tensor.shape)}")
    if tensor.shape[0] not in (3, 4) and tensor.shape[-1] in (3, 4):
        tensor = tensor.permute(2, 0, 1)
    if tensor.shape[0] not in (3, 4):
        raise ValueError(f"an image must have 3 (RGB) or 4 (RGBA) channels, got shape "
                         f"{tuple(tensor.shape)}")
    if tensor.dtype == torch.uint8:
        return tensor.float() / 255.0
    return tensor.float().clamp(0.0, 1.0)


def clip_pixel_values(images: torch.Tensor, feature_extractor: object) -> torch.Tensor:
    """The CLIP input of square ``(B, 3, H, W)`` images: bicubic resize to the extractor's crop
    size (for a square image its resize + centre crop is this), then mean/std normalisation.

    Done in torch (batched, on the GPU during training) rather than by the PIL processor; on
    512² → 224² it differs from ``CLIPImageProcessor`` by ~0.004 mean, ≤ 0.05 max in normalised
    units (PIL resamples 8-bit images), the same in training and sampling."""
    crop = feature_extractor.crop_size  # type: ignore[attr-defined]
    height = int(crop["height"] if isinstance(crop, dict) else crop.height)
    width = int(crop["width"] if isinstance(crop, dict) else crop.width)
    x = images
    if tuple(x.shape[-2:]) != (height, width):
        x = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False,
                          antialias=True).clamp(0.0, 1.0)
    mean = torch.tensor(feature_extractor.image_mean, device=x.device,  # type: ignore[attr-defined]
                        dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(feature_extractor.image_std, device=x.device,  # type: ignore[attr-defined]
                       dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def clip_image_embeds(image_encoder: torch.nn.Module, feature_extractor: object,
                      images: torch.Tensor) -> torch.Tensor:
    """``(B, P)`` projected CLIP embeddings of ``(B, 3, H, W)`` images in [0, 1]."""
    dtype = next(image_encoder.parameters()).dtype
    pixels = clip_pixel_values(images.float(), feature_extractor).to(dtype)
    return image_encoder(pixel_values=pixels).image_embeds


def unclip_class_labels(image_embeds: torch.Tensor, image_normalizer: torch.nn.Module,
                        noising_scheduler: object, noise_level: int = 0,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B, 2P)`` class labels: noised embedding ⊕ sinusoidal embedding of ``noise_level``.
    The noise is drawn on the CPU from ``generator`` (reproducible on any device)."""
    batch, width = image_embeds.shape
    levels = torch.full((batch,), int(noise_level), dtype=torch.long)
    noise = torch.randn(image_embeds.shape, generator=generator, dtype=torch.float32)
    mean = image_normalizer.mean.to(image_embeds.device, torch.float32)
    std = image_normalizer.std.to(image_embeds.device, torch.float32)
    scaled = (image_embeds.float() - mean) / std
    noised = noising_scheduler.add_noise(  # type: ignore[attr-defined]
        scaled, noise.to(scaled.device), levels.to(scaled.device)
    )
    embeds = noised * std + mean
    level_embedding = get_timestep_embedding(levels, width, flip_sin_to_cos=True,
                                             downscale_freq_shift=0).to(embeds.device)
    return torch.cat([embeds, level_embedding.float()], dim=1).to(image_embeds.dtype)


def vae_latents(vae: torch.nn.Module, images: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """``(B, 4, H/8, W/8)`` scaled latents of images in [0, 1]: the posterior's mode, or a sample
    of the posterior drawn from ``generator`` when one is given."""
    dtype = next(vae.parameters()).dtype
    posterior = vae.encode(images.to(dtype) * 2.0 - 1.0).latent_dist  # type: ignore[attr-defined]
    latents = posterior.mode() if generator is None else posterior.sample(generator)
    return latents * vae.config.scaling_factor  # type: ignore[attr-defined]


def decode_latents(vae: torch.nn.Module, latents: torch.Tensor) -> torch.Tensor:
    """Images ``(N, 3, H, W)`` in [0, 1] of scaled latents."""
    dtype = next(vae.parameters()).dtype
    scaled = latents.to(dtype) / vae.config.scaling_factor  # type: ignore[attr-defined]
    decoded = vae.decode(scaled).sample  # type: ignore[attr-defined]
    return ((decoded.float() + 1.0) / 2.0).clamp(0.0, 1.0)


def drop_conditions(class_labels: torch.Tensor, image_latents: torch.Tensor,
                    drop_labels: torch.Tensor, drop_latents: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the class labels ``(N, 2P)`` of rows where the boolean ``drop_labels`` ``(N,)`` is
    set, and the input latents ``(N, 4, h, w)`` where ``drop_latents`` is (default: the same
    rows, the unconditional branch of guidance)."""
    drop_latents = drop_labels if drop_latents is None else drop_latents
    keep_labels = (~drop_labels).to(class_labels.dtype)
    keep_latents = (~drop_latents).to(image_latents.dtype)
    return class_labels * keep_labels[:, None], image_latents * keep_latents[:, None, None, None]
