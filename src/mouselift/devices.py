"""Torch devices named by users (``--device cpu|cuda|cuda:1``)."""

from __future__ import annotations

import time

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


def seconds_since(device: torch.device, since: float) -> float:
    """Wall seconds from ``since`` (a :func:`time.perf_counter` reading) until the work queued on
    ``device`` has finished (CUDA runs asynchronously: it is synchronised first)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - since
