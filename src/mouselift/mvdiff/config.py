"""Typed configs of the Stage-1 pipeline architecture (presets in ``mouselift/configs/mvdiff/``).

These describe a *randomly initialised* pipeline — the ``tiny`` preset for CPU tests, the demo and
benchmarks, and ``facelift`` with the released sizes (Stable unCLIP 2.1: SD-2 VAE, OpenCLIP
ViT-H/14 image and text encoders, the 8-channel UNet). Pretrained pipelines carry their own
configs in their folders; these presets never override them.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from ..config import StrictModel, load_config
from .unet import UNetArchitecture


class VAEArchitecture(StrictModel):
    """diffusers ``AutoencoderKL``: ``len(block_out_channels) − 1`` halvings (3 → factor 8)."""

    block_out_channels: list[int] = Field(default_factory=lambda: [128, 256, 512, 512])
    layers_per_block: int = Field(2, ge=1)
    latent_channels: Literal[4] = 4
    norm_num_groups: int = Field(32, ge=1)
    scaling_factor: float = 0.18215


class CLIPArchitecture(StrictModel):
    """A CLIP tower (``CLIPVisionModelWithProjection`` or ``CLIPTextModel``)."""

    hidden_size: int = Field(1280, ge=1)
    num_hidden_layers: int = Field(32, ge=1)
    num_attention_heads: int = Field(16, ge=1)
    intermediate_size: int = Field(5120, ge=1)
    projection_dim: int = Field(1024, ge=1)
    hidden_act: str = "gelu"
    image_size: int = Field(224, ge=1, description="vision tower only")
    patch_size: int = Field(14, ge=1, description="vision tower only")


class PipelineArchitecture(StrictModel):
    """Everything needed to build a random Stage-1 pipeline."""

    image_size: int = Field(512, ge=8, description="generated view size in pixels (square)")
    num_views: int = Field(6, ge=1)
    attention: Literal["sparse", "dense"] = "sparse"
    camera_embedding: bool = False
    camera_embedding_hidden: int = Field(256, ge=1)
    unet: UNetArchitecture = UNetArchitecture()
    vae: VAEArchitecture = VAEArchitecture()
    image_encoder: CLIPArchitecture = CLIPArchitecture()
    text_encoder: CLIPArchitecture = CLIPArchitecture(
        hidden_size=1024, num_hidden_layers=23, intermediate_size=4096
    )


def load_mvdiff_config(preset_or_path: str | os.PathLike = "tiny",
                       overrides: dict | None = None) -> PipelineArchitecture:
    """Load a ``mouselift/configs/mvdiff/`` preset (``tiny``, ``facelift``) or a YAML file."""
    return load_config(PipelineArchitecture, "mvdiff", preset_or_path, overrides)
