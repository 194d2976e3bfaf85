"""Torch devices named by users (``--device cpu|cuda|cuda:1``)."""

from __future__ import annotations

import torch

from .errors import ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """The torch device ``name``; a one-line :class:`ConfigError` for a malformed name or a
    CUDA device on a machine without CUDA."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device {name!r}: not a torch device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available here")
    return device
