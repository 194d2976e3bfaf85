"""MAMMAL's ``new_cam.pkl``: the calibration of the undistorted ``markerless_mouse_1_nerf`` videos.

Structure: a list of dicts (a dict keyed ``0..n-1`` is accepted too), one per camera in rig order,
with ``K`` (3×3), ``R`` (3×3), ``T`` ((3,), (3, 1) or (1, 3)) in OpenCV's ``x ~ K (R X + T)`` form,
world in mm, Z up; optional ``mapx``/``mapy`` undistortion maps of shape (H, W), which give the
image size and are otherwise ignored. Distortion is zero: the videos are already undistorted.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import CalibrationError
from .camera import Camera
from .safe_pickle import safe_load_pickle
from .transforms import w2c_from_rt


def _entries(data: object, path: Path) -> list[dict]:
    if isinstance(data, dict):
        try:
            keys = sorted(data, key=int)
        except (TypeError, ValueError):
            raise CalibrationError(
                f"{path}: a calibration dict must be keyed by camera index 0..n-1"
            ) from None
        if [int(k) for k in keys] != list(range(len(keys))):
            raise CalibrationError(f"{path}: camera indices must be 0..{len(keys) - 1}, got {keys}")
        data = [data[k] for k in keys]
    if not isinstance(data, (list, tuple)) or not data:
        raise CalibrationError(f"{path}: expected a non-empty list of per-camera dicts")
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise CalibrationError(f"{path}: camera {i} is a {type(entry).__name__}, not a dict")
    return list(data)


def _matrix(entry: dict, key: str, shape: tuple[int, ...], path: Path, index: int) -> np.ndarray:
    if key not in entry:
        raise CalibrationError(f"{path}: camera {index} has no {key!r}")
    try:
        value = np.asarray(entry[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(f"{path}: camera {index} {key!r} is not numeric") from None
    if key == "T" and value.size == 3:
        value = value.reshape(3)
    if value.shape != shape:
        raise CalibrationError(
            f"{path}: camera {index} {key!r} has shape {value.shape}, expected {shape}"
        )
    if not np.all(np.isfinite(value)):
        raise CalibrationError(f"{path}: camera {index} {key!r} contains NaN or Inf")
    return value


def read_mammal_pkl(
    path: str | os.PathLike, image_size: tuple[int, int] | None = None
) -> list[Camera]:
    """Read ``new_cam.pkl`` into cameras in rig order, named ``"0"``, ``"1"``, ….

    The image size comes from the ``mapx`` shape when present, else from ``image_size``
    ``(width, height)``; with neither it is estimated from the principal point
    (``2·(c + 0.5)``, rounded to even), which a :class:`~mouselift.data.recording.Recording`
    then replaces with the real video size.
    """
    return load_mammal_pkl(path, image_size)[0]


def load_mammal_pkl(
    path: str | os.PathLike, image_size: tuple[int, int] | None = None
) -> tuple[list[Camera], list[tuple[int, int] | None]]:
    """Like :func:`read_mammal_pkl`, also returning each camera's calibrated ``(width, height)``
    from its ``mapx`` shape (``None`` where the file has no map), from one read of the file."""
    path = Path(path)
    entries = _entries(safe_load_pickle(path), path)
    cameras: list[Camera] = []
    map_sizes: list[tuple[int, int] | None] = []
    for i, entry in enumerate(entries):
        k = _matrix(entry, "K", (3, 3), path, i)
        r = _matrix(entry, "R", (3, 3), path, i)
        t = _matrix(entry, "T", (3,), path, i)
        mapx = entry.get("mapx")
        map_size = None
        if isinstance(mapx, np.ndarray) and mapx.ndim == 2:
            map_size = (int(mapx.shape[1]), int(mapx.shape[0]))
        size = map_size or image_size or (2 * round(k[0, 2] + 0.5), 2 * round(k[1, 2] + 0.5))
        try:
            camera = Camera(
                K=k, w2c=w2c_from_rt(r, t), width=size[0], height=size[1], name=str(i)
            )
        except ValueError as exc:
            raise CalibrationError(f"{path}: {exc}") from None
        cameras.append(camera)
        map_sizes.append(map_size)
    return cameras, map_sizes


def write_mammal_pkl(
    path: str | os.PathLike, cameras: Sequence[Camera], *, undistortion_maps: bool = True
) -> None:
    """Write cameras in ``new_cam.pkl``'s structure (list of dicts, ``T`` of shape (3,)).

    With ``undistortion_maps`` each dict also holds identity ``mapx``/``mapy`` (float32, H×W), as
    the real file does. The file is written to a temporary name and renamed into place.
    """
    path = Path(path)
    entries = []
    for cam in cameras:
        if cam.has_distortion:
            raise ValueError(f"camera {cam.name!r}: new_cam.pkl describes undistorted images only")
        entry: dict[str, np.ndarray] = {
            "K": cam.K.copy(),
            "R": cam.R.copy(),
            "T": cam.t.copy(),
        }
        if undistortion_maps:
            u, v = np.meshgrid(
                np.arange(cam.width, dtype=np.float32), np.arange(cam.height, dtype=np.float32)
            )
            entry["mapx"], entry["mapy"] = u, v
        entries.append(entry)
    atomic_write(path, lambda f: pickle.dump(entries, f, protocol=4))
