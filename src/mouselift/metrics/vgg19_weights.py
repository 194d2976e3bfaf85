"""VGG19 weights in torchvision layout from the files FaceLift's perceptual loss comes in.

Local files only (never downloaded), any of:

(a) FaceLift's GS-LRM checkpoint ``.pt`` (``torch.load(..., weights_only=True)["model"]`` holds
    ``loss_calculator.perceptual_loss_module.net.conv{1..16}.{weight,bias}``; a plain state dict
    with those keys, or ``net.conv{k}.*`` of FaceLift's ``PerceptualLoss``, works too);
(b) a torchvision-layout ``vgg19`` state dict (``features.{i}.weight`` / ``.bias``; ``.pth``,
    ``.pt``, ``.safetensors``; checked by :mod:`.vgg`'s validators);
(c) MatConvNet's ``imagenet-vgg-verydeep-19.mat`` (the file FaceLift downloads; read with
    ``scipy.io.loadmat``; filters ``H×W×in×out`` → ``out×in×H×W``).

FaceLift's ``conv{k}`` (k = 1 … 16) is torchvision's ``features.{VGG19_CONV_INDICES[k − 1]}``. A
wrong file is a one-line :class:`~mouselift.errors.WeightsError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import WeightsError
from .vgg import check_vgg_state_dict, split_vgg_keys, vgg_layers
from .weights_io import (
    SAFETENSORS_SUFFIX,
    TORCH_SUFFIXES,
    first_of,
    load_torch_file,
    read_state_dict,
)

#: torchvision ``features`` index of VGG19's convolutions, in order: FaceLift's ``conv1 … conv16``
#: and the layer index of each in MatConvNet's ``layers`` list (the same numbers).
VGG19_CONV_INDICES: tuple[int, ...] = tuple(
    layer.index for layer in vgg_layers("vgg19") if layer.kind == "conv")

_FACELIFT_KEY = re.compile(
    r"^(?:module\.)?(?:loss_calculator\.)?(?:perceptual_loss_module\.)?net\.conv(\d+)\."
    r"(weight|bias)$")
_FORMATS_HINT = ("expected FaceLift's GS-LRM checkpoint (model → loss_calculator."
                 "perceptual_loss_module.net.conv{1..16}), a torchvision vgg19 state dict "
                 "(features.{i}.weight) or MatConvNet's imagenet-vgg-verydeep-19.mat")


def _unwrap(obj: Any, path: Path) -> dict[str, Any]:
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: holds a {type(obj).__name__}, not a state dict; "
                           f"{_FORMATS_HINT}")
    return obj


def _from_facelift_keys(state: Mapping[str, Any], path: Path) -> dict[str, torch.Tensor] | None:
    """torchvision-layout tensors from FaceLift's ``…perceptual_loss_module.net.conv{k}.*``
    keys; ``None`` if there are none."""
    found: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _FACELIFT_KEY.match(str(key))
        if not match:
            continue
        k = int(match.group(1))
        if not 1 <= k <= len(VGG19_CONV_INDICES) or not isinstance(value, torch.Tensor):
            raise WeightsError(f"{path}: unexpected perceptual-loss entry {key!r} (VGG19 has "
                               f"conv1 … conv{len(VGG19_CONV_INDICES)})")
        found[f"features.{VGG19_CONV_INDICES[k - 1]}.{match.group(2)}"] = value
    return found or None


def _read_matconvnet(path: Path) -> dict[str, torch.Tensor]:
    """torchvision-layout tensors from MatConvNet's ``imagenet-vgg-verydeep-19.mat``."""
    import scipy.io

    try:
        raw = scipy.io.loadmat(str(path))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise WeightsError(f"cannot read {path} as a MATLAB file: {type(exc).__name__}: "
                           f"{first}") from None
    if "layers" not in raw:
        raise WeightsError(f"{path}: no 'layers' variable (not MatConvNet's "
                           "imagenet-vgg-verydeep-19.mat)")
    layers = np.asarray(raw["layers"]).reshape(-1)
    state: dict[str, torch.Tensor] = {}
    try:
        for index in VGG19_CONV_INDICES:
            record = np.asarray(layers[index]).reshape(-1)[0]
            names = record.dtype.names or ()
            weights = record["weights"] if "weights" in names else record[2]
            weights = np.asarray(weights).reshape(-1)
            kernel = np.asarray(weights[0], dtype=np.float32)
            bias = np.asarray(weights[1], dtype=np.float32).reshape(-1)
            if kernel.ndim != 4:
                raise ValueError(f"layer {index} filter has shape {kernel.shape}")
            state[f"features.{index}.weight"] = torch.from_numpy(
                np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            state[f"features.{index}.bias"] = torch.from_numpy(bias.copy())
    except (IndexError, KeyError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path}: not MatConvNet's VGG19 layout ({exc})") from None
    return state


def read_vgg19_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """VGG19 convolution tensors in torchvision layout (``features.{i}.weight/bias``, all 16
    convolutions, shapes checked) from any of the files the module docstring lists."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"VGG19 weights file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        features = _read_matconvnet(path)
    else:
        if suffix == SAFETENSORS_SUFFIX:
            state: dict[str, Any] = dict(read_state_dict(path, "VGG19 weights"))
        elif suffix in TORCH_SUFFIXES:
            state = _unwrap(load_torch_file(path, "VGG19 weights"), path)
        else:
            raise WeightsError(f"{path}: unsupported VGG19 weights extension {path.suffix!r} "
                               "(expected .pt, .pth, .bin, .ckpt, .safetensors or .mat)")
        facelift = _from_facelift_keys(state, path)
        if facelift is not None:
            features = facelift
        else:
            tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
            features, _, unknown = split_vgg_keys(tensors)
            if not features:
                raise WeightsError(f"{path}: no VGG19 weights found; {_FORMATS_HINT}")
            if unknown:
                raise WeightsError(f"{path}: unexpected key {first_of(unknown)} next to VGG19 "
                                   "features.{i}.* tensors")
    return check_vgg_state_dict(features, "vgg19", str(path))


__all__ = ["VGG19_CONV_INDICES", "read_vgg19_weights"]
