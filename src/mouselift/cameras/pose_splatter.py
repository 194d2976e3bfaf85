"""Pose Splatter ``camera_params*.h5``.

HDF5 datasets, all cameras stacked along the first axis (C cameras), OpenCV form
``x ~ K (R X + t)``:

* ``intrinsic`` (C, 3, 3): ``K`` (skew allowed),
* ``rotation`` (C, 3, 3): world-to-camera ``R``,
* ``translation`` (C, 3) (or (C, 3, 1)): world-to-camera ``t``.

Pose Splatter keeps them in a group ``camera_parameters``; datasets at the file's root are
accepted too. Optional, mouselift's additions (Pose Splatter ignores them): ``distortion``
(C, 4|5|8) and the image size as a dataset ``image_size`` ((2,) or (C, 2), width then height),
or datasets/attributes ``width`` and ``height``. Without a stored size the ``image_size``
argument is used, else it is estimated from the principal point (as for MAMMAL's pickle).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ._common import (
    as_array,
    atomic_write_path,
    check_rotation,
    fail,
    image_size_value,
    make_camera,
    require_file,
    size_from_principal_point,
)
from .camera import Camera
from .transforms import w2c_from_rt

#: Group Pose Splatter stores its camera datasets in.
GROUP = "camera_parameters"


def _group(f: h5py.File, path: Path) -> h5py.Group:
    if GROUP in f and isinstance(f[GROUP], h5py.Group):
        return f[GROUP]
    if "intrinsic" in f:
        return f
    raise fail(path, f"no '{GROUP}' group or 'intrinsic' dataset (is this a Pose Splatter file?)")


def _dataset(group: h5py.Group, key: str, path: Path) -> np.ndarray:
    if key not in group or not isinstance(group[key], h5py.Dataset):
        raise fail(path, f"no {key!r} dataset")
    try:
        return np.asarray(group[key][()], dtype=np.float64)
    except (TypeError, ValueError):
        raise fail(path, f"{key!r} is not numeric") from None


def _lookup(group: h5py.Group, key: str) -> Any | None:
    """A dataset's value or an attribute of the group named ``key`` (``None`` if neither)."""
    if key in group and isinstance(group[key], h5py.Dataset):
        return group[key][()]
    if key in group.attrs:
        return group.attrs[key]
    return None


def _stored_sizes(group: h5py.Group, count: int, path: Path) -> list[tuple[int, int]] | None:
    size = _lookup(group, "image_size")
    if size is not None:
        arr = np.asarray(size)
        if arr.ndim == 2:
            if arr.shape != (count, 2):
                raise fail(
                    path, f"'image_size' has shape {arr.shape}, expected (2,) or ({count}, 2)"
                )
            return [image_size_value(s, path, f"image_size[{i}]") for i, s in enumerate(arr)]
        return [image_size_value(arr, path, "image_size")] * count
    width, height = _lookup(group, "width"), _lookup(group, "height")
    if width is None and height is None:
        return None
    if width is None or height is None:
        raise fail(path, "has only one of 'width' and 'height'")
    w, h = np.asarray(width).ravel(), np.asarray(height).ravel()
    if w.size not in (1, count) or h.size not in (1, count):
        raise fail(path, f"'width' and 'height' must hold 1 or {count} values each")
    w, h = np.broadcast_to(w, (count,)), np.broadcast_to(h, (count,))
    return [image_size_value((w[i], h[i]), path, f"width/height[{i}]") for i in range(count)]


def read_pose_splatter_h5(
    path: str | os.PathLike, image_size: tuple[int, int] | None = None
) -> list[Camera]:
    """Read a Pose Splatter camera file into cameras ``"0"``, ``"1"``, … in stored order.

    The image size is the stored one when present, else ``image_size`` ``(width, height)``,
    else an estimate from the principal point.
    """
    path = require_file(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise fail(path, f"not a readable HDF5 file ({exc})") from None
    with f:
        group = _group(f, path)
        intrinsic = _dataset(group, "intrinsic", path)
        rotation = _dataset(group, "rotation", path)
        translation = _dataset(group, "translation", path)
        dist = _dataset(group, "distortion", path) if "distortion" in group else None
        if intrinsic.ndim != 3 or intrinsic.shape[1:] != (3, 3) or intrinsic.shape[0] == 0:
            raise fail(path, f"'intrinsic' has shape {intrinsic.shape}, expected (C, 3, 3)")
        count = intrinsic.shape[0]
        sizes = _stored_sizes(group, count, path)
    if rotation.shape != (count, 3, 3):
        raise fail(path, f"'rotation' has shape {rotation.shape}, expected ({count}, 3, 3)")
    if translation.shape in ((count, 3, 1), (count, 1, 3)):
        translation = translation.reshape(count, 3)
    if translation.shape != (count, 3):
        raise fail(path, f"'translation' has shape {translation.shape}, expected ({count}, 3)")
    if dist is not None and (dist.ndim != 2 or dist.shape[0] != count):
        raise fail(path, f"'distortion' has shape {dist.shape}, expected ({count}, 4|5|8)")
    cameras = []
    for i in range(count):
        k = as_array(intrinsic[i], (3, 3), path, f"intrinsic[{i}]")
        r = check_rotation(
            as_array(rotation[i], (3, 3), path, f"rotation[{i}]"), path, f"rotation[{i}]"
        )
        t = as_array(translation[i], (3,), path, f"translation[{i}]")
        if sizes is not None:
            width, height = sizes[i]
        elif image_size is not None:
            width, height = image_size
        else:
            width, height = size_from_principal_point(k)
        cameras.append(
            make_camera(
                path,
                f"camera {i}",
                K=k,
                w2c=w2c_from_rt(r, t),
                width=width,
                height=height,
                dist=None if dist is None else dist[i],
                name=str(i),
            )
        )
    return cameras


def write_pose_splatter_h5(path: str | os.PathLike, cameras: Sequence[Camera]) -> None:
    """Write cameras in Pose Splatter's layout (group ``camera_parameters``; atomically).

    Also stores ``image_size`` (C, 2) and, if any camera has distortion, ``distortion`` (C, 8).
    """
    if not cameras:
        raise ValueError("no cameras to write")

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            g = f.create_group(GROUP)
            g.create_dataset("intrinsic", data=np.stack([c.K for c in cameras]))
            g.create_dataset("rotation", data=np.stack([c.R for c in cameras]))
            g.create_dataset("translation", data=np.stack([c.t for c in cameras]))
            sizes = np.array([c.size for c in cameras], dtype=np.int64)
            g.create_dataset("image_size", data=sizes)
            if any(c.has_distortion for c in cameras):
                g.create_dataset("distortion", data=np.stack([c.dist for c in cameras]))

    atomic_write_path(path, write)


__all__ = ["GROUP", "read_pose_splatter_h5", "write_pose_splatter_h5"]
