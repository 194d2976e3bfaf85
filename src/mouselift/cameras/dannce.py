"""DANNCE / Label3D calibrations (``label3d_dannce.mat``, ``*dannce.mat``).

A MATLAB (v5/v7) file with a cell array ``params`` holding one struct per camera:

* ``K`` (3×3): the intrinsic matrix stored MATLAB-transposed, i.e. ``Kᵀ`` of OpenCV's
  ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``. DANNCE calibrations carry a real **skew** ``s``
  (about −6 px on some cameras of ``markerless_mouse_1``), which ``cv2.projectPoints`` ignores;
  mouselift's :class:`~mouselift.cameras.Camera` keeps it.
* ``RDistort`` (k1, k2[, k3]) and ``TDistort`` (p1, p2): OpenCV's radial and tangential terms.
* ``r`` (3×3), ``t`` (1×3) in MATLAB's **row-vector** convention
  ``x ~ ([X 1]·[r; t])·K``, so OpenCV's world-to-camera rotation is ``R = rᵀ`` and ``t`` is
  unchanged: ``X_cam = rᵀ X + t``.

Optional ``camnames`` (cell of strings) names the cameras; optional ``labelData`` holds one
struct per camera with ``data_3d`` (frames × 3J, mm) and ``data_2d`` (frames × 2J, raw
*distorted* pixels), J keypoints per frame, NaN where unlabelled. Pixels are OpenCV's (centre of
the top-left pixel at (0, 0)), world units mm. MATLAB v7.3 (HDF5) files are not supported.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from ._common import as_array, atomic_write, fail, make_camera, require_file
from .camera import Camera
from .transforms import w2c_from_rt

#: Image size (width, height) of the ``markerless_mouse_1`` videos, the default for DANNCE files,
#: which do not store one.
DEFAULT_IMAGE_SIZE: tuple[int, int] = (1152, 1024)


def _load_mat(path: Path) -> dict[str, Any]:
    try:
        return scipy.io.loadmat(path, simplify_cells=True)
    except NotImplementedError:
        raise fail(path, "MATLAB v7.3 (HDF5) files are not supported; re-save with -v7") from None
    except (MatReadError, ValueError, TypeError, OSError, EOFError, KeyError) as exc:
        raise fail(path, f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from None


def _cells(mat: dict[str, Any], key: str, path: Path) -> list[Any]:
    """The entries of cell array ``key`` as a list (a 1-element cell is squeezed by scipy)."""
    if key not in mat:
        raise fail(path, f"no {key!r} variable (is this a DANNCE calibration?)")
    value = mat[key]
    if isinstance(value, dict):
        return [value]
    if isinstance(value, np.ndarray) and value.dtype == object:
        value = list(value.ravel())
    if not isinstance(value, list) or not value:
        raise fail(path, f"{key!r} must be a non-empty cell array of structs")
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise fail(path, f"{key}{{{i + 1}}} is a {type(entry).__name__}, not a struct")
    return value


def _field(entry: dict[str, Any], name: str, path: Path, where: str) -> Any:
    if name not in entry:
        raise fail(path, f"{where} has no field {name!r}")
    return entry[name]


def _camera_names(mat: dict[str, Any], count: int) -> list[str]:
    names = mat.get("camnames")
    if names is None:
        return [str(i) for i in range(count)]
    flat = [names] if isinstance(names, str) else list(np.asarray(names, dtype=object).ravel())
    flat = [str(np.asarray(n).item()) if not isinstance(n, str) else n for n in flat]
    if len(flat) != count or len(set(flat)) != count:
        return [str(i) for i in range(count)]
    return flat


def _distortion(entry: dict[str, Any], path: Path, where: str) -> np.ndarray:
    radial = np.asarray(_field(entry, "RDistort", path, where), dtype=np.float64).ravel()
    tangential = np.asarray(_field(entry, "TDistort", path, where), dtype=np.float64).ravel()
    if radial.size not in (2, 3):
        raise fail(path, f"{where}.RDistort must hold k1, k2[, k3], got {radial.size} values")
    if tangential.size != 2:
        raise fail(path, f"{where}.TDistort must hold p1, p2, got {tangential.size} values")
    coeffs = np.zeros(5)
    coeffs[:2] = radial[:2]
    coeffs[2:4] = tangential
    if radial.size == 3:
        coeffs[4] = radial[2]
    if not np.all(np.isfinite(coeffs)):
        raise fail(path, f"{where} distortion contains NaN or Inf")
    return coeffs


def read_dannce_mat(
    path: str | os.PathLike, image_size: tuple[int, int] | None = DEFAULT_IMAGE_SIZE
) -> list[Camera]:
    """Read a DANNCE calibration into OpenCV-convention cameras, in ``params`` order.

    ``image_size`` is ``(width, height)`` (DANNCE files do not store it; ``None`` means the
    ``markerless_mouse_1`` size). Cameras are named from ``camnames`` when present (and unique),
    else ``"0"``, ``"1"``, …. Distortion is kept: the labels of these files are in raw pixels.
    """
    path = require_file(path)
    width, height = DEFAULT_IMAGE_SIZE if image_size is None else image_size
    mat = _load_mat(path)
    entries = _cells(mat, "params", path)
    names = _camera_names(mat, len(entries))
    cameras = []
    for i, entry in enumerate(entries):
        where = f"params{{{i + 1}}}"
        k_stored = as_array(_field(entry, "K", path, where), (3, 3), path, f"{where}.K")
        r = as_array(_field(entry, "r", path, where), (3, 3), path, f"{where}.r")
        t = as_array(_field(entry, "t", path, where), (3,), path, f"{where}.t", reshape=True)
        k = k_stored.T
        if np.allclose(k_stored[2], [0.0, 0.0, 1.0]) and np.any(k_stored[:2, 2] != 0):
            raise fail(path, f"{where}.K is not MATLAB-transposed (DANNCE stores Kᵀ)")
        cameras.append(
            make_camera(
                path,
                where,
                K=k,
                w2c=w2c_from_rt(r.T, t),
                width=width,
                height=height,
                dist=_distortion(entry, path, where),
                name=names[i],
            )
        )
    return cameras


def read_dannce_labels(path: str | os.PathLike) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per camera, the labelled keypoints ``(data_3d (N, 3) mm, data_2d (N, 2) px)``.

    ``N = frames × J``, frame-major (the J keypoints of frame 0 first); NaN entries (unlabelled
    keypoints) are kept. ``data_2d`` is in raw, distorted pixels of that camera.
    """
    path = require_file(path)
    mat = _load_mat(path)
    labels = []
    for i, entry in enumerate(_cells(mat, "labelData", path)):
        where = f"labelData{{{i + 1}}}"
        try:
            d3 = np.atleast_2d(np.asarray(_field(entry, "data_3d", path, where), dtype=np.float64))
            d2 = np.atleast_2d(np.asarray(_field(entry, "data_2d", path, where), dtype=np.float64))
        except (TypeError, ValueError):
            raise fail(path, f"{where} data_3d/data_2d are not numeric") from None
        if d3.ndim != 2 or d2.ndim != 2 or d3.shape[1] % 3 or d2.shape[1] % 2:
            raise fail(
                path,
                f"{where}: data_3d must be frames×3J and data_2d frames×2J, "
                f"got {d3.shape} and {d2.shape}",
            )
        if d3.shape[0] != d2.shape[0] or d3.shape[1] // 3 != d2.shape[1] // 2:
            raise fail(
                path, f"{where}: data_3d {d3.shape} and data_2d {d2.shape} do not match"
            )
        labels.append((d3.reshape(-1, 3), d2.reshape(-1, 2)))
    return labels


def write_dannce_mat(path: str | os.PathLike, cameras: Sequence[Camera]) -> None:
    """Write cameras as a DANNCE ``params``/``camnames`` MATLAB file (atomically).

    The inverse of :func:`read_dannce_mat` (image sizes are not stored). Only the distortion
    terms DANNCE has (k1, k2, k3, p1, p2) can be written; a camera with k4..k6 is refused.
    """
    if not cameras:
        raise ValueError("no cameras to write")
    params = np.empty((len(cameras), 1), dtype=object)
    names = np.empty((1, len(cameras)), dtype=object)
    for i, cam in enumerate(cameras):
        if np.any(cam.dist[5:]):
            raise ValueError(f"camera {cam.name!r}: DANNCE files cannot hold k4..k6 distortion")
        k1, k2, p1, p2, k3 = cam.dist[:5]
        params[i, 0] = {
            "K": cam.K.T.copy(),
            "RDistort": np.array([[k1, k2, k3]]),
            "TDistort": np.array([[p1, p2]]),
            "r": cam.R.T.copy(),
            "t": cam.t.reshape(1, 3).copy(),
        }
        names[0, i] = cam.name or str(i)

    def write(f: IO[bytes]) -> None:
        scipy.io.savemat(f, {"params": params, "camnames": names}, do_compression=True)

    atomic_write(path, write)


__all__ = ["DEFAULT_IMAGE_SIZE", "read_dannce_labels", "read_dannce_mat", "write_dannce_mat"]
