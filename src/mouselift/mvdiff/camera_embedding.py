"""Optional camera conditioning: each target view's pose relative to the input view, embedded
and added to the UNet's time embedding.

Pose features (12 numbers per view): the top three rows of ``w2c_target @ c2w_input`` (OpenCV
axes, rotation row-major then translation, in the normalised world's units — FaceLift's, camera
distance 2.7). View 0 (the input view itself) is the identity.

The MLP's last layer starts at zero, so adding the embedding leaves a pretrained UNet's output
unchanged until training moves it. The UNet's parameters are untouched (FaceLift's weights still
load as is): :class:`MultiViewDenoiser` adds the embedding through a forward hook on
``unet.time_embedding`` that exists only for the duration of one call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from diffusers import ConfigMixin, ModelMixin, UNet2DConditionModel
from diffusers.configuration_utils import register_to_config
from torch import nn

from ..cameras import Camera
from ..cameras.rig import relative_poses

POSE_FEATURES = 12


def relative_pose_features(cameras: Sequence[Camera], reference: int = 0) -> torch.Tensor:
    """``(V, 12)`` float32 features of ``cameras`` relative to ``cameras[reference]``."""
    rows = relative_poses(cameras, reference)[:, :3, :4].reshape(len(cameras), 12)
    return torch.from_numpy(rows.astype(np.float32))


class CameraEmbedding(ModelMixin, ConfigMixin):
    """MLP ``12 → hidden → time_embed_dim`` (SiLU), last layer zero-initialised."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, time_embed_dim: int = 1280, hidden_dim: int = 256,
                 pose_features: int = POSE_FEATURES) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(pose_features, hidden_dim)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(hidden_dim, time_embed_dim)
        nn.init.zeros_(self.linear_2.weight)
        nn.init.zeros_(self.linear_2.bias)

    def forward(self, pose_features: torch.Tensor) -> torch.Tensor:
        """``(N, 12)`` → ``(N, time_embed_dim)``."""
        return self.linear_2(self.act(self.linear_1(pose_features)))


def time_embed_dim(unet: UNet2DConditionModel) -> int:
    """Width of the UNet's time embedding (4 × the first block's channels)."""
    return int(unet.time_embedding.linear_2.out_features)


@contextlib.contextmanager
def added_to_time_embedding(unet: UNet2DConditionModel, extra: torch.Tensor) -> Iterator[None]:
    """Within the block, ``unet.time_embedding(...)`` returns its output plus ``extra``
    (``(N, time_embed_dim)``, one row per image of the batch)."""

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
        if output.shape != extra.shape:
            raise ValueError(
                f"camera embedding has shape {tuple(extra.shape)}, the UNet's time embedding "
                f"{tuple(output.shape)}"
            )
        return output + extra.to(output.dtype)

    handle = unet.time_embedding.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


class MultiViewDenoiser(nn.Module):
    """The trainable part of Stage 1: the UNet plus the optional camera embedding.

    ``forward(sample, timesteps, prompt_embeds, class_labels, pose_features=None)`` with
    ``sample`` ``(B·V, 8, h, w)`` (noisy latents ⊕ input-view latents), ``timesteps`` ``(B·V,)``,
    ``prompt_embeds`` ``(B·V, 77, D)``, ``class_labels`` ``(B·V, 2048)``, ``pose_features``
    ``(B·V, 12)``; returns the UNet's prediction ``(B·V, 4, h, w)``.
    """

    def __init__(self, unet: UNet2DConditionModel,
                 camera_embedding: CameraEmbedding | None = None) -> None:
        super().__init__()
        self.unet = unet
        self.camera_embedding = camera_embedding

    def forward(self, sample: torch.Tensor, timesteps: torch.Tensor,
                prompt_embeds: torch.Tensor, class_labels: torch.Tensor,
                pose_features: torch.Tensor | None = None) -> torch.Tensor:
        def run() -> torch.Tensor:
            return self.unet(sample, timesteps, encoder_hidden_states=prompt_embeds,
                             class_labels=class_labels, return_dict=False)[0]

        if self.camera_embedding is None:
            return run()
        if pose_features is None:
            raise ValueError("this model has a camera embedding: pass pose_features")
        extra = self.camera_embedding(pose_features.to(sample.device, torch.float32))
        with added_to_time_embedding(self.unet, extra):
            return run()
