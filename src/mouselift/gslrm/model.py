"""GS-LRM: posed views → one 3D Gaussian per input pixel (plus a few global Gaussians).

Architecture (FaceLift's, parameter names equal to its released checkpoint; sizes from
:class:`~mouselift.gslrm.config.GSLRMConfig`):

* input per pixel, 9 channels (:func:`mouselift.cameras.rays.plucker_input`): ``2·rgb − 1``, the
  unit ray direction ``d`` and ``o + (−o·d)·d`` (the ray's point closest to the world origin);
  rays through pixel centres, OpenCV axes;
* ``patch_embedder``: ``p × p`` patches, channel fastest (then patch column, then patch row), →
  Linear ``9·p² → d`` without bias; no positional embedding;
* sequence = ``global_tokens`` learned tokens ⊕ all views' patch tokens → ``input_layer_norm`` →
  ``depth`` pre-norm blocks (``x + attn(norm1 x)``, ``x + mlp(norm2 x)``; attention with one
  ``to_qkv`` Linear and an output ``fc``; MLP ``d → 4d → d`` with exact GELU; no bias anywhere,
  LayerNorm eps 1e-5), no final norm; attention through PyTorch's SDPA;
* heads: ``gaussian_upsampler`` (LayerNorm + Linear ``d → C``) on the global tokens;
  ``pixel_gaussian_decoder`` (LayerNorm + Linear ``d → p²·C``) on each patch token, one Gaussian
  per pixel (pixels of a patch row-major); ``C`` = xyz 3 | SH 3·(deg+1)² | scale 3 | rotation 4
  (wxyz) | opacity 1.

Activations (FaceLift's): log-scale ``min(raw − 2.3, −1.2)``; opacity logit ``raw − 2``; SH as
they come (colour = 0.28209·SH₀ + 0.5, the renderer's convention); rotations unnormalised wxyz;
global Gaussians' positions as they come. **Hard pixel alignment**: a pixel's Gaussian sits on its
ray, ``xyz = o + t·d`` with ``t = (2·σ(mean of its 3 raw xyz channels) − 1)·1.8 + (−o·d)``, i.e.
within ±1.8 of the ray's point closest to the origin; while training (and ``clip_xyz``) the
positions are clamped to [−1, 1] as FaceLift does, never at inference.

Order of the Gaussians of one object: the global ones, then view 0's pixels row by row, view 1's,
…; ``pixel_*`` outputs are ``(B, V, ·, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..cameras import Camera
from ..cameras.rays import pixel_rays, plucker_input
from ..splat import Gaussians
from .config import GSLRMConfig

IN_CHANNELS = 9
#: FaceLift's activation constants.
SCALE_BIAS = -2.3
MAX_LOG_SCALE = -1.2
OPACITY_BIAS = -2.0
DEPTH_RANGE = 1.8
CLIP_XYZ = 1.0


class Patchify(nn.Module):
    """``(N, C, H, W)`` → ``(N, (H/p)·(W/p), p·p·C)``: patches row-major, inside a patch the
    channel runs fastest, then the column, then the row. No parameters."""

    def __init__(self, patch: int) -> None:
        super().__init__()
        self.patch = patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        p = self.patch
        x = x.reshape(n, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(n, (h // p) * (w // p), p * p * c)


class SelfAttention(nn.Module):
    def __init__(self, width: int, head_dim: int) -> None:
        super().__init__()
        self.width, self.head_dim = width, head_dim
        self.to_qkv = nn.Linear(width, 3 * width, bias=False)
        self.fc = nn.Linear(width, width, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, -1, self.head_dim).transpose(1, 2)
                   for t in self.to_qkv(x).split(self.width, dim=2))
        out = F.scaled_dot_product_attention(q, k, v)
        return self.fc(out.transpose(1, 2).reshape(b, n, self.width))


class MLP(nn.Module):
    def __init__(self, width: int, ratio: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(width, ratio * width, bias=False), nn.GELU(),
                                 nn.Linear(ratio * width, width, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


class TransformerBlock(nn.Module):
    def __init__(self, width: int, head_dim: int, mlp_ratio: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, bias=False)
        self.norm2 = nn.LayerNorm(width, bias=False)
        self.attn = SelfAttention(width, head_dim)
        self.mlp = MLP(width, mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GaussianHead(nn.Module):
    """LayerNorm + bias-free Linear (FaceLift's ``gaussian_upsampler``)."""

    def __init__(self, width: int, channels: int) -> None:
        super().__init__()
        self.layernorm = nn.LayerNorm(width, bias=False)
        self.linear = nn.Linear(width, channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.layernorm(x))


@dataclass
class GSLRMOutput:
    """What :class:`GSLRM` predicts for ``B`` objects of ``V`` views of ``H × W``.

    Batched raw Gaussians (``N = global_tokens + V·H·W`` per object, order: module docstring):
    ``means (B, N, 3)``, ``log_scales (B, N, 3)``, ``rotations (B, N, 4)`` (wxyz),
    ``opacity_logits (B, N)``, ``sh (B, N, K, 3)``. ``pixel_positions (B, V, 3, H, W)``: each
    pixel's Gaussian centre; ``pixel_depths (B, V, 1, H, W)``: its distance along the (unit) ray
    from the camera centre."""

    means: torch.Tensor
    log_scales: torch.Tensor
    rotations: torch.Tensor
    opacity_logits: torch.Tensor
    sh: torch.Tensor
    pixel_positions: torch.Tensor
    pixel_depths: torch.Tensor

    def __len__(self) -> int:
        return self.means.shape[0]

    def gaussians(self, index: int, *, validate: bool = True) -> Gaussians:
        """The Gaussians of object ``index`` (float32; differentiable)."""
        return Gaussians(self.means[index].float(), self.log_scales[index].float(),
                         self.rotations[index].float(), self.opacity_logits[index].float(),
                         self.sh[index].float(), validate=validate)

    def all_gaussians(self, *, validate: bool = True) -> list[Gaussians]:
        return [self.gaussians(i, validate=validate) for i in range(len(self))]


class GSLRM(nn.Module):
    """The network (see the module docstring). ``forward(images, K, c2w)``."""

    def __init__(self, config: GSLRMConfig) -> None:
        super().__init__()
        self.config = config
        d, p, c = config.width, config.patch_size, config.gaussian_channels
        self.gaussian_position_embeddings = nn.Parameter(torch.empty(config.global_tokens, d))
        self.patch_embedder = nn.Sequential(Patchify(p), nn.Linear(IN_CHANNELS * p * p, d,
                                                                   bias=False))
        self.input_layer_norm = nn.LayerNorm(d, bias=False)
        self.transformer_layers = nn.ModuleList(
            TransformerBlock(d, config.head_dim, config.mlp_ratio) for _ in range(config.depth))
        self.gaussian_upsampler = GaussianHead(d, c)
        self.pixel_gaussian_decoder = nn.Sequential(nn.LayerNorm(d, bias=False),
                                                    nn.Linear(d, p * p * c, bias=False))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """FaceLift's initialisation: Linear weights N(0, 0.02), global tokens truncated
        N(0, 0.02), LayerNorm weights 1."""
        if self.gaussian_position_embeddings.is_meta:
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
        nn.init.trunc_normal_(self.gaussian_position_embeddings, std=0.02)

    # ------------------------------------------------------------------------------ forward
    def forward(self, images: torch.Tensor, K: torch.Tensor, c2w: torch.Tensor) -> GSLRMOutput:
        """``images (B, V, 3, H, W)`` in [0, 1]; ``K (B, V, 3, 3)`` (OpenCV pixels: centres at
        integers) and ``c2w (B, V, 4, 4)`` (OpenCV axes) in the model's world."""
        cfg = self.config
        if images.ndim != 5 or images.shape[2] != 3:
            raise ValueError(f"images must be (B, V, 3, H, W), got {tuple(images.shape)}")
        b, v, _, h, w = images.shape
        p = cfg.patch_size
        if h % p or w % p:
            raise ValueError(f"image size {w}×{h} must be a multiple of the patch size {p}")
        param_dtype = self.patch_embedder[1].weight.dtype
        with torch.no_grad():
            origins, directions = pixel_rays(K, c2w, h, w, dtype=torch.float32,
                                             device=images.device)  # (B, V, H, W, 3)
            posed = plucker_input(images.float(), K, c2w)  # (B, V, 9, H, W)
        tokens = self.patch_embedder(posed.reshape(b * v, IN_CHANNELS, h, w).to(param_dtype))
        patches = tokens.shape[1]
        tokens = tokens.reshape(b, v * patches, -1)
        glob = self.gaussian_position_embeddings.to(tokens.dtype).expand(b, -1, -1)
        x = self.input_layer_norm(torch.cat([glob, tokens], dim=1))
        for block in self.transformer_layers:
            if cfg.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        g = cfg.global_tokens
        global_raw = self.gaussian_upsampler(x[:, :g])  # (B, G, C)
        pixel_raw = self.pixel_gaussian_decoder(x[:, g:])  # (B, V·P, p²·C)
        pixel_raw = _unpatchify(pixel_raw.float(), b, v, h, w, p)  # (B, V, H, W, C)
        return self._activate(global_raw.float(), pixel_raw, origins, directions)

    def _activate(self, global_raw: torch.Tensor, pixel_raw: torch.Tensor,
                  origins: torch.Tensor, directions: torch.Tensor) -> GSLRMOutput:
        b, v, h, w, c = pixel_raw.shape
        sh_dim = 3 * (self.config.sh_degree + 1) ** 2
        # hard pixel alignment: on the ray, within ±DEPTH_RANGE of its point closest to the origin
        s = torch.sigmoid(pixel_raw[..., :3].mean(dim=-1, keepdim=True))
        closest_t = -(origins * directions).sum(dim=-1, keepdim=True)
        t = (2.0 * s - 1.0) * DEPTH_RANGE + closest_t
        positions = origins + t * directions
        if self.config.clip_xyz and self.training:
            positions = positions.clamp(-CLIP_XYZ, CLIP_XYZ)
        raw = torch.cat([global_raw, pixel_raw.reshape(b, v * h * w, c)], dim=1)
        _, sh, scale, rotation, opacity = raw.split([3, sh_dim, 3, 4, 1], dim=2)
        means = torch.cat([global_raw[..., :3], positions.reshape(b, v * h * w, 3)], dim=1)
        depth = (positions - origins).mul(directions).sum(dim=-1, keepdim=True)
        return GSLRMOutput(
            means=means,
            log_scales=(scale + SCALE_BIAS).clamp(max=MAX_LOG_SCALE),
            rotations=rotation,
            opacity_logits=(opacity + OPACITY_BIAS).squeeze(-1),
            sh=sh.reshape(b, -1, sh_dim // 3, 3),
            pixel_positions=positions.permute(0, 1, 4, 2, 3),
            pixel_depths=depth.permute(0, 1, 4, 2, 3),
        )

    def reconstruct(self, images: torch.Tensor, cameras: Sequence[Camera]) -> GSLRMOutput:
        """One object from ``images (V, 3, H, W)`` and its ``V`` cameras (the model's world)."""
        K, c2w = cameras_to_tensors(cameras, device=images.device)
        return self(images[None], K[None], c2w[None])


def _unpatchify(raw: torch.Tensor, b: int, v: int, h: int, w: int, p: int) -> torch.Tensor:
    """``(B, V·(H/p)·(W/p), p²·C)`` → ``(B, V, H, W, C)`` (pixels of a patch row-major)."""
    c = raw.shape[-1] // (p * p)
    x = raw.reshape(b, v, h // p, w // p, p, p, c).permute(0, 1, 2, 4, 3, 5, 6)
    return x.reshape(b, v, h, w, c)


def cameras_to_tensors(cameras: Sequence[Camera], *, device: torch.device | str | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(K (V, 3, 3), c2w (V, 4, 4))`` float32 of undistorted cameras."""
    for cam in cameras:
        if cam.has_distortion:
            raise ValueError(f"camera {cam.name!r} has lens distortion; GS-LRM needs pinhole views")
    K = torch.as_tensor(np.stack([cam.K for cam in cameras]), dtype=torch.float32, device=device)
    c2w = torch.as_tensor(np.stack([cam.c2w for cam in cameras]), dtype=torch.float32,
                          device=device)
    return K, c2w


__all__ = ["GSLRM", "GSLRMOutput", "cameras_to_tensors"]
