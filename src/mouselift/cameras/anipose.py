"""Anipose / aniposelib ``calibration.toml``.

One table per camera (aniposelib names them ``cam_0``, ``cam_1``, …), in file order::

    [cam_0]
    name = "A"
    size = [1152, 1024]             # width, height in pixels
    matrix = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]
    distortions = [k1, k2, p1, p2, k3]
    rotation = [rx, ry, rz]         # Rodrigues vector of the world-to-camera rotation
    translation = [tx, ty, tz]      # X_cam = R X + t

OpenCV conventions throughout (axes and pixels), so no conversion is needed. Tables without any
camera key (such as ``[metadata]``) are skipped. aniposelib writes the key ``distortions``;
``distortion`` is accepted too. Fisheye cameras (``fisheye = true``) are not supported.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import CalibrationError
from . import distortion as _distortion
from ._common import (
    as_array,
    atomic_write,
    fail,
    image_size_value,
    make_camera,
    require_file,
)
from .camera import Camera
from .transforms import matrix_to_rodrigues, rodrigues_to_matrix, w2c_from_rt

_CAMERA_KEYS = frozenset({"matrix", "rotation", "translation", "distortions", "distortion", "size"})


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise CalibrationError(
                f"{path}: reading TOML needs Python ≥ 3.11 or the 'tomli' package"
            ) from None
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise fail(path, f"not valid TOML ({exc})") from None


def _camera_from_table(
    table: dict[str, Any], section: str, path: Path, image_size: tuple[int, int] | None
) -> Camera:
    where = f"[{section}]"
    if table.get("fisheye", False):
        raise fail(path, f"{where} is a fisheye camera, which mouselift does not support")
    for key in ("matrix", "rotation", "translation"):
        if key not in table:
            raise fail(path, f"{where} has no {key!r}")
    k = as_array(table["matrix"], (3, 3), path, f"{where} matrix")
    rvec = as_array(table["rotation"], (3,), path, f"{where} rotation", reshape=True)
    t = as_array(table["translation"], (3,), path, f"{where} translation", reshape=True)
    raw_dist = table.get("distortions", table.get("distortion", []))
    try:
        dist = _distortion.as_coefficients(np.asarray(raw_dist, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise fail(path, f"{where} distortions: {exc}") from None
    if "size" in table:
        width, height = image_size_value(table["size"], path, f"{where} size")
    elif image_size is not None:
        width, height = image_size
    else:
        raise fail(path, f"{where} has no 'size' and no image size was given")
    return make_camera(
        path,
        where,
        K=k,
        w2c=w2c_from_rt(rodrigues_to_matrix(rvec), t),
        width=width,
        height=height,
        dist=dist,
        name=str(table.get("name", section)),
    )


def read_anipose_toml(
    path: str | os.PathLike, image_size: tuple[int, int] | None = None
) -> list[Camera]:
    """Read an Anipose ``calibration.toml`` into cameras, in file order.

    ``image_size`` ``(width, height)`` is used only for cameras without a ``size`` entry.
    Cameras are named by their ``name`` key (else the table name).
    """
    path = require_file(path)
    doc = _load_toml(path)
    cameras = []
    for section, table in doc.items():
        if not isinstance(table, dict) or not (_CAMERA_KEYS & table.keys()):
            continue
        cameras.append(_camera_from_table(table, section, path, image_size))
    if not cameras:
        raise fail(path, "no camera tables (with 'matrix', 'rotation', 'translation') found")
    return cameras


# ------------------------------------------------------------------------------------ writing
def _toml_value(value: Any) -> str:
    """A TOML literal for a string, bool, int, finite float or (nested) list of those."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise ValueError(f"cannot write non-finite number {f} to TOML")
        return repr(f)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        if any(ord(ch) < 0x20 for ch in escaped):
            raise ValueError(f"cannot write control characters in TOML string {value!r}")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_anipose_toml(path: str | os.PathLike, cameras: Sequence[Camera]) -> None:
    """Write cameras as ``calibration.toml`` (tables ``cam_0``, …; atomically).

    Distortion is written as 5 coefficients (k1 k2 p1 p2 k3), or 8 when k4..k6 are non-zero.
    A ``[metadata]`` table like aniposelib's is appended.
    """
    if not cameras:
        raise ValueError("no cameras to write")
    lines: list[str] = []
    for i, cam in enumerate(cameras):
        dist = cam.dist if np.any(cam.dist[5:]) else cam.dist[:5]
        entries = {
            "name": cam.name or str(i),
            "size": [cam.width, cam.height],
            "matrix": cam.K.tolist(),
            "distortions": dist.tolist(),
            "rotation": matrix_to_rodrigues(cam.R).tolist(),
            "translation": cam.t.tolist(),
        }
        lines.append(f"[cam_{i}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in entries.items())
        lines.append("")
    lines += ["[metadata]", "adjusted = false", ""]
    text = "\n".join(lines)

    def write(f: IO[bytes]) -> None:
        f.write(text.encode("utf-8"))

    atomic_write(path, write)


__all__ = ["read_anipose_toml", "write_anipose_toml"]
