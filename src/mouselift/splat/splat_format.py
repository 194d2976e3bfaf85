"""The ``.splat`` web-viewer format (antimatter15/splat layout): 32 bytes per Gaussian, no header.

Each record, little-endian::

    offset  0  position  3 × float32   x y z (world units)
    offset 12  scale     3 × float32   exp(log_scales), the activated standard deviations
    offset 24  colour    4 × uint8     R G B A
    offset 28  rotation  4 × uint8     w x y z

- RGB = round(255 · clip(0.5 + C0·f_dc, 0, 1)) — the DC colour only; higher SH bands are dropped.
- A = round(255 · sigmoid(opacity_logit)).
- rotation = clip(round(128·q + 128), 0, 255) for the normalised quaternion q (wxyz); the
  antimatter15 viewer (and :func:`read_splat`) decodes ``(byte − 128) / 128`` and renormalises;
  PlayCanvas' splat-transform decodes ``byte / 127.5 − 1`` — within 8-bit quantisation of each
  other, so both see the same rotation to well under a degree.
- Order (:func:`splat_sort_order`): descending ``scale_x·scale_y·scale_z · opacity`` (volume ×
  opacity, as the reference converter does; viewers stream the largest, most opaque splats
  first), computed in float64, ties in input order (stable sort).

The format is lossy (8-bit colour/opacity/rotation, SH degree 0); :func:`read_splat` decodes it
back into :class:`~.gaussians.Gaussians` for checks and previews.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import numpy as np
import torch

from ..atomic import atomic_write
from ..errors import SplatFormatError
from .gaussians import Gaussians
from .sh import C0

__all__ = ["SPLAT_DTYPE", "read_splat", "splat_sort_order", "to_splat_bytes", "write_splat"]

SPLAT_DTYPE = np.dtype(
    [("position", "<f4", (3,)), ("scale", "<f4", (3,)), ("rgba", "u1", (4,)), ("rot", "u1", (4,))]
)
assert SPLAT_DTYPE.itemsize == 32


def _numpy64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy()


def splat_sort_order(gaussians: Gaussians) -> np.ndarray:
    """Indices sorting by descending ``prod(scales)·opacity`` (stable; see the module docstring)."""
    log_scales = _numpy64(gaussians.log_scales)
    logits = _numpy64(gaussians.opacity_logits)
    key = np.exp(log_scales.sum(axis=1)) / (1.0 + np.exp(-logits))
    return np.argsort(-key, kind="stable")


def to_splat_bytes(gaussians: Gaussians, *, sort: bool = True) -> bytes:
    """The ``.splat`` file content for ``gaussians`` (sorted unless ``sort=False``)."""
    if sort:
        gaussians = gaussians[torch.from_numpy(splat_sort_order(gaussians))]
    records = np.zeros(len(gaussians), dtype=SPLAT_DTYPE)
    records["position"] = _numpy64(gaussians.means)
    scales = np.exp(_numpy64(gaussians.log_scales))
    if not np.isfinite(scales.astype(np.float32)).all():
        raise ValueError("Gaussians.log_scales too large: exp(log_scales) overflows float32")
    records["scale"] = scales
    rgb = 0.5 + C0 * _numpy64(gaussians.sh[:, 0, :])
    alpha = 1.0 / (1.0 + np.exp(-_numpy64(gaussians.opacity_logits)))
    rgba = np.concatenate([rgb, alpha[:, None]], axis=1)
    records["rgba"] = np.rint(np.clip(rgba, 0.0, 1.0) * 255.0)
    q = _numpy64(gaussians.rotations)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
    records["rot"] = np.clip(np.rint(q * 128.0 + 128.0), 0, 255)
    return records.tobytes()


def write_splat(path: str | os.PathLike, gaussians: Gaussians, *, sort: bool = True) -> Path:
    """Write ``gaussians`` as a ``.splat`` file, atomically; returns the path written."""
    payload = to_splat_bytes(gaussians, sort=sort)

    def write(f: IO[bytes]) -> None:
        f.write(payload)

    return atomic_write(path, write)


def read_splat(
    path: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Gaussians:
    """Decode a ``.splat`` file into degree-0 Gaussians (opacity clamped to [1e-6, 1 − 1e-6]).

    Raises :class:`~mouselift.errors.SplatFormatError` if the file is missing, its size is not a
    multiple of 32 bytes, or a position/scale is not finite or a scale is not positive.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SplatFormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise SplatFormatError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) % SPLAT_DTYPE.itemsize:
        raise SplatFormatError(
            f"{path}: size {len(raw)} bytes is not a multiple of 32 "
            "(not a .splat file, or truncated)"
        )
    records = np.frombuffer(raw, dtype=SPLAT_DTYPE)
    for field in ("position", "scale"):
        if not np.isfinite(records[field]).all():
            raise SplatFormatError(f"{path}: non-finite (NaN/Inf) values in {field}")
    if (records["scale"] <= 0).any():
        raise SplatFormatError(f"{path}: non-positive scale values")
    rgba = records["rgba"].astype(np.float64) / 255.0
    rot = (records["rot"].astype(np.float64) - 128.0) / 128.0

    def t(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a))

    g = Gaussians.from_activated(
        t(records["position"].astype(np.float64)),
        t(records["scale"].astype(np.float64)),
        t(rot),
        t(rgba[:, 3]),
        t(rgba[:, :3]),
    )
    return g.to(device=device, dtype=dtype)
