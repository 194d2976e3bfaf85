"""Helpers shared by the calibration readers and writers (not public API).

Every reader reports a malformed file as a :class:`~mouselift.errors.CalibrationError` whose
message is one line and starts with the file's path; writers replace their target atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write, atomic_write_path
from ..errors import CalibrationError
from .camera import Camera
from .transforms import is_rotation


def one_line(text: object) -> str:
    """Collapse whitespace (newlines included) so a message stays on one line."""
    return " ".join(str(text).split())


def fail(path: Path, message: str) -> CalibrationError:
    """A :class:`CalibrationError` ``"<path>: <message>"`` (one line)."""
    return CalibrationError(one_line(f"{path}: {message}"))


def require_file(path: str | os.PathLike) -> Path:
    """``path`` as a :class:`Path`, or a CalibrationError when it is not an existing file."""
    p = Path(path)
    if p.is_dir():
        raise fail(p, "is a directory, not a calibration file")
    if not p.is_file():
        raise fail(p, "calibration file not found")
    return p


def as_array(
    value: Any, shape: tuple[int, ...], path: Path, what: str, *, reshape: bool = False
) -> np.ndarray:
    """``value`` as a finite float64 array of ``shape`` or a CalibrationError naming ``what``.

    With ``reshape`` any array with the right number of elements is accepted and reshaped (used
    for vectors stored as (3,), (3, 1) or (1, 3)).
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(path, f"{what} is not numeric") from None
    if reshape and arr.size == int(np.prod(shape)):
        arr = arr.reshape(shape)
    if arr.shape != shape:
        raise fail(path, f"{what} has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise fail(path, f"{what} contains NaN or Inf")
    return arr


def check_rotation(rotation: np.ndarray, path: Path, what: str) -> np.ndarray:
    """Return ``rotation`` if it is a proper rotation matrix, else a CalibrationError."""
    if not is_rotation(rotation):
        raise fail(path, f"{what} is not a proper rotation matrix (orthonormal, det +1)")
    return rotation


def image_size_value(value: Any, path: Path, what: str) -> tuple[int, int]:
    """Parse a ``(width, height)`` pair of positive integers."""
    try:
        arr = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise fail(path, f"{what} is not numeric") from None
    if arr.size != 2 or not np.all(np.isfinite(arr)):
        raise fail(path, f"{what} must be two numbers (width, height), got {arr.tolist()}")
    if not np.all(arr == np.round(arr)) or np.any(arr <= 0):
        raise fail(path, f"{what} must be positive integers (width, height), got {arr.tolist()}")
    return int(arr[0]), int(arr[1])


def size_from_principal_point(k: np.ndarray) -> tuple[int, int]:
    """Guess ``(width, height)`` from a principal point assumed at the image centre.

    In OpenCV pixels the centre of a W-wide image is at ``(W − 1)/2``, so ``W ≈ 2·(cx + 0.5)``;
    rounded to an even number as video sizes are. Callers should prefer a real size.
    """
    return 2 * round(k[0, 2] + 0.5), 2 * round(k[1, 2] + 0.5)


def make_camera(path: Path, label: str, **kwargs: Any) -> Camera:
    """Build a :class:`Camera`, turning its validation errors into a CalibrationError."""
    try:
        return Camera(**kwargs)
    except (ValueError, TypeError) as exc:
        raise fail(path, f"{label}: {exc}") from None


__all__ = ["atomic_write", "atomic_write_path"]  # re-exported for the format modules
