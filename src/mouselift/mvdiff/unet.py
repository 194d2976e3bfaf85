"""The Stage-1 UNet: diffusers' stock ``UNet2DConditionModel`` in Stable unCLIP 2.1's layout.

FaceLift's ``pipeckpts/unet`` folder holds the same parameters under the same names (see
``tests/fixtures/facelift_mvdiffusion_unet_state_dict.json``), but its ``config.json`` names
FaceLift's own classes (``UNetMV2DConditionModel``, ``CrossAttnDownBlockMV2D``, …) and adds
multi-view keys (``num_views``, ``sparse_mv_attention``, …). :func:`load_unet` reads both that
folder and our own ``save_pretrained`` output: it maps the block names to the stock ones, keeps
the multi-view keys as :class:`MultiViewSettings`, builds the stock UNet without allocating
weights, and loads the weight file strictly (any missing, unexpected or mis-shaped tensor is a
one-line :class:`~mouselift.errors.WeightsError`).

Inputs (Stable unCLIP image variation, 8 channels): noisy latents (4) ⊕ VAE latents of the input
view (4), both at 1/8 of the image resolution; ``class_labels`` = the 2048-d noised CLIP image
embedding (see :mod:`mouselift.mvdiff.conditioning`); ``encoder_hidden_states`` = the view's
prompt embedding ``(77, cross_attention_dim)``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from diffusers import UNet2DConditionModel
from pydantic import Field

from ..config import StrictModel
from ..errors import WeightsError
from .attention import AttentionMode

WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"
WEIGHTS_NAME_BIN = "diffusion_pytorch_model.bin"
CONFIG_NAME = "config.json"

#: FaceLift's block class names → the stock diffusers blocks with the same parameters.
FACELIFT_BLOCK_NAMES = {
    "CrossAttnDownBlockMV2D": "CrossAttnDownBlock2D",
    "UNetMidBlockMV2DCrossAttn": "UNetMidBlock2DCrossAttn",
    "CrossAttnUpBlockMV2D": "CrossAttnUpBlock2D",
}


class UNetArchitecture(StrictModel):
    """Architecture of a Stage-1 UNet (the keys of diffusers' ``UNet2DConditionModel`` config
    that differ between our presets). ``attention_head_dim`` follows diffusers/SD 2.x: a list is
    the number of heads per block."""

    sample_size: int = Field(64, ge=1, description="latent size (image size / 8)")
    in_channels: Literal[8] = 8
    out_channels: Literal[4] = 4
    block_out_channels: list[int] = Field(default_factory=lambda: [320, 640, 1280, 1280])
    layers_per_block: int = Field(2, ge=1)
    attention_head_dim: int | list[int] = Field(default_factory=lambda: [5, 10, 20, 20])
    cross_attention_dim: int = Field(1024, ge=1)
    projection_class_embeddings_input_dim: int = Field(2048, ge=1)
    norm_num_groups: int = Field(32, ge=1)
    down_block_types: list[str] = Field(default_factory=lambda: [
        "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"])
    up_block_types: list[str] = Field(default_factory=lambda: [
        "UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"])
    mid_block_type: str = "UNetMidBlock2DCrossAttn"
    use_linear_projection: bool = True
    upcast_attention: bool = True

    def diffusers_config(self) -> dict[str, Any]:
        """Keyword arguments for ``UNet2DConditionModel`` (Stable unCLIP conventions)."""
        return {
            **self.model_dump(),
            "class_embed_type": "projection",
            "act_fn": "silu",
            "flip_sin_to_cos": True,
            "freq_shift": 0,
            "norm_eps": 1e-5,
        }


@dataclass(frozen=True)
class MultiViewSettings:
    """How many views a UNet was trained on, and which multi-view attention it uses."""

    num_views: int = 6
    attention: AttentionMode = "sparse"


def build_unet(arch: UNetArchitecture, *, device: str | torch.device | None = None
               ) -> UNet2DConditionModel:
    """A randomly initialised UNet (``device="meta"`` builds the structure without memory)."""
    with torch.device(device) if device is not None else contextlib.nullcontext():
        return UNet2DConditionModel(**arch.diffusers_config())


def _accepted_keys() -> set[str]:
    return set(inspect.signature(UNet2DConditionModel.__init__).parameters) - {"self"}


def translate_unet_config(config: dict[str, Any], source: str = "config.json"
                          ) -> tuple[dict[str, Any], MultiViewSettings]:
    """Split a UNet ``config.json`` (ours or FaceLift's) into stock ``UNet2DConditionModel``
    keyword arguments and the multi-view settings it declares."""
    accepted = _accepted_keys()
    out: dict[str, Any] = {}
    for key, value in config.items():
        if key.startswith("_") or key not in accepted:
            continue
        if key in ("down_block_types", "up_block_types"):
            value = [FACELIFT_BLOCK_NAMES.get(v, v) for v in value]
        elif key == "mid_block_type" and value is not None:
            value = FACELIFT_BLOCK_NAMES.get(value, value)
        out[key] = value
    for key in ("down_block_types", "up_block_types"):
        unknown = [v for v in out.get(key, []) if "MV" in v]
        if unknown:
            raise WeightsError(f"{source}: unknown multi-view block type {unknown[0]!r}")
    views = int(config.get("num_views", 6))
    sparse = config.get("sparse_mv_attention", True)
    settings = MultiViewSettings(num_views=views, attention="sparse" if sparse else "dense")
    return out, settings


def _weight_files(folder: Path) -> list[Path]:
    for name in (WEIGHTS_NAME, WEIGHTS_NAME_BIN):
        if (folder / name).is_file():
            return [folder / name]
        index = folder / f"{name}.index.json"
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text())["weight_map"]
            except (ValueError, KeyError, TypeError):
                raise WeightsError(f"{index}: not a weight index file") from None
            return [folder / shard for shard in sorted(set(weight_map.values()))]
    raise WeightsError(f"{folder}: no {WEIGHTS_NAME} (or .bin / sharded index) in the folder")


def read_state_dict(files: list[Path]) -> dict[str, torch.Tensor]:
    """Tensors of a (possibly sharded) safetensors or PyTorch ``.bin`` weight file, on CPU."""
    from safetensors.torch import load_file

    state: dict[str, torch.Tensor] = {}
    for path in files:
        if not path.is_file():
            raise WeightsError(f"{path}: weight shard listed in the index is missing")
        try:
            if path.suffix == ".safetensors":
                part = load_file(str(path), device="cpu")
            else:
                part = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt file: report it in one line
            raise WeightsError(f"{path}: cannot read weights ({exc.__class__.__name__})") from None
        if not isinstance(part, dict):
            raise WeightsError(f"{path}: not a state dict")
        state.update(part)
    return state


def check_state_dict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str,
                     ignore_prefixes: tuple[str, ...] = ()) -> None:
    """Raise :class:`WeightsError` naming the first missing, unexpected or mis-shaped tensor."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items() if not k.startswith(ignore_prefixes)}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    if missing:
        raise WeightsError(
            f"{source}: {len(missing)} tensor(s) missing for this architecture, e.g. {missing[0]!r}"
        )
    if unexpected:
        raise WeightsError(
            f"{source}: {len(unexpected)} unexpected tensor(s), e.g. {unexpected[0]!r} "
            "(the config does not match the weights)"
        )
    for key, shape in expected.items():
        if given[key] != shape:
            raise WeightsError(
                f"{source}: {key} has shape {list(given[key])}, the config expects {list(shape)}"
            )


def load_unet(folder: str | os.PathLike, *, dtype: torch.dtype | None = None
              ) -> tuple[UNet2DConditionModel, MultiViewSettings]:
    """Load a UNet folder (``config.json`` + weights) written by diffusers or by FaceLift."""
    folder = Path(folder)
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise WeightsError(f"{folder}: no {CONFIG_NAME} (not a diffusers UNet folder)")
    try:
        raw = json.loads(config_path.read_text())
    except ValueError:
        raise WeightsError(f"{config_path}: not valid JSON") from None
    kwargs, settings = translate_unet_config(raw, str(config_path))
    try:
        with torch.device("meta"):
            unet = UNet2DConditionModel(**kwargs)
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{config_path}: invalid UNet config ({exc})") from None
    state = read_state_dict(_weight_files(folder))
    check_state_dict(unet, state, str(folder))
    if dtype is not None:
        state = {k: v.to(dtype) for k, v in state.items()}
    unet.load_state_dict(state, strict=True, assign=True)
    leftover = [name for name, t in [*unet.named_parameters(), *unet.named_buffers()]
                if t.is_meta]
    if leftover:  # a non-persistent buffer the weight file cannot provide
        raise WeightsError(f"{folder}: {leftover[0]} was not initialised by the weight file")
    unet.eval()
    return unet, settings

