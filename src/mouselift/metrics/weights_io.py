"""Read a state dict (name -> tensor) from a local weights file; never downloads anything.

Formats, chosen by extension: ``.pth`` / ``.pt`` / ``.bin`` / ``.ckpt`` through
``torch.load(..., weights_only=True, map_location="cpu")`` (a plain state dict, or a dict whose
``"state_dict"`` entry is one), and ``.safetensors``. Every failure raises
:class:`~mouselift.errors.WeightsError` with one line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mouselift.errors import WeightsError

TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")
SAFETENSORS_SUFFIX = ".safetensors"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def first_of(keys: list[str]) -> str:
    """``'key'`` or ``'key' (+N more)`` for one-line error messages."""
    return f"{keys[0]!r}" + (f" (+{len(keys) - 1} more)" if len(keys) > 1 else "")


def load_torch_file(path: str | Path, what: str = "weights") -> object:
    """``torch.load(path, weights_only=True)`` on the CPU (no code from the file runs); a
    missing or unreadable file is a one-line :class:`WeightsError` naming ``what``."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"cannot read {what} {path} as a weights-only PyTorch file: {_first_line(exc)}"
        ) from exc


def read_state_dict(path: str | Path, what: str = "weights") -> dict[str, torch.Tensor]:
    """Tensors of the weights file ``path`` on the CPU, keys as stored.

    ``what`` names the kind of file in error messages (e.g. ``"VGG16 weights"``).
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == SAFETENSORS_SUFFIX:
        try:
            from safetensors.torch import load_file
        except ImportError as exc:  # pragma: no cover - safetensors ships with diffusers
            raise WeightsError(
                f"{path}: reading .safetensors needs the 'safetensors' package ({exc})"
            ) from exc
        try:
            obj: object = load_file(str(path), device="cpu")
        except Exception as exc:
            raise WeightsError(
                f"cannot read {what} {path} as safetensors: {_first_line(exc)}"
            ) from exc
    elif suffix in TORCH_SUFFIXES:
        obj = load_torch_file(path, what)
    else:
        raise WeightsError(
            f"{path}: unsupported {what} file extension {path.suffix!r} "
            f"(expected .pth, .pt, .bin, .ckpt or .safetensors)"
        )
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path}: {what} file holds a {type(obj).__name__}, not a state dict")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise WeightsError(
            f"{path}: {what} file is not a plain state dict: entry {bad[0]!r} is not a tensor"
        )
    return obj
