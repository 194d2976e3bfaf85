"""Typed architecture config of GS-LRM (presets in ``mouselift/configs/gslrm/``: ``facelift``,
the released model, and ``tiny``)."""

from __future__ import annotations

import os

from pydantic import Field, model_validator

from ..config import StrictModel, load_config


class GSLRMConfig(StrictModel):
    """Sizes and switches of :class:`~mouselift.gslrm.model.GSLRM`; FaceLift's values in the
    ``facelift`` preset."""

    image_size: int = Field(512, ge=8, description="square input views of this many pixels")
    patch_size: int = Field(8, ge=1)
    width: int = Field(1024, ge=8, description="token width d")
    head_dim: int = Field(64, ge=1)
    depth: int = Field(24, ge=1, description="transformer blocks")
    mlp_ratio: int = Field(4, ge=1)
    global_tokens: int = Field(2, ge=0, description="learned tokens, one Gaussian each")
    sh_degree: int = Field(0, ge=0, le=3)
    clip_xyz: bool = Field(True, description="clamp pixel-aligned positions to [-1, 1] while "
                           "training (FaceLift's; never at inference)")
    gradient_checkpointing: bool = Field(False, description="recompute each block in backward")

    @model_validator(mode="after")
    def _sizes(self) -> GSLRMConfig:
        if self.width % self.head_dim:
            raise ValueError(f"width {self.width} must be a multiple of head_dim {self.head_dim}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patch_size "
                             f"{self.patch_size}")
        return self

    @property
    def num_heads(self) -> int:
        return self.width // self.head_dim

    @property
    def gaussian_channels(self) -> int:
        """Raw channels of one Gaussian: xyz 3 | SH 3·(deg+1)² | scale 3 | rotation 4 |
        opacity 1."""
        return 3 + 3 * (self.sh_degree + 1) ** 2 + 3 + 4 + 1


def load_gslrm_config(preset_or_path: str | os.PathLike = "facelift",
                      overrides: dict | None = None) -> GSLRMConfig:
    """A ``mouselift/configs/gslrm/`` preset (``facelift``, ``tiny``) or a YAML/JSON file."""
    return load_config(GSLRMConfig, "gslrm", preset_or_path, overrides)
