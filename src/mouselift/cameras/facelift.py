"""FaceLift's per-sample ``opencv_cameras.json``.

Layout::

    {"id": "<sample id>",
     "frames": [{"w": 512, "h": 512, "fx": …, "fy": …, "cx": …, "cy": …,
                 "w2c": [[…4 numbers…] × 4],            # world-to-camera, OpenCV axes
                 "file_path": "images/cam_000.png"}, …]}

**Pixel convention.** FaceLift casts the ray of pixel (column x, row y) through the image point
``(x + 0.5, y + 0.5)`` with the intrinsics stored here, so *its* ``cx, cy`` place pixel centres
at ``i + 0.5`` (the top-left corner of the image is (0, 0)). mouselift uses OpenCV's convention,
where the centre of pixel i is at ``i``. The same camera therefore has

    ``cx_json = cx + 0.5``, ``cy_json = cy + 0.5``  (``fx``, ``fy`` unchanged)

and :func:`read_opencv_cameras` subtracts the 0.5 again. A centred 512×512 camera has
``cx = 255.5`` here and ``cx_json = 256`` in the file.

**Skew.** FaceLift has no skew field. :func:`write_opencv_cameras` adds an extra ``"skew"`` key
(``K[0, 1]`` in pixels, unaffected by the shift) only when the skew is non-zero, and
:func:`read_opencv_cameras` reads it when present; FaceLift itself ignores the key.
Distortion cannot be stored: images in this layout are undistorted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._common import as_array, atomic_write, fail, make_camera, require_file
from .camera import Camera

#: FaceLift's pixel-centre offset: ``c_json = c_opencv + PIXEL_CENTER_SHIFT``.
PIXEL_CENTER_SHIFT = 0.5


def default_file_path(index: int) -> str:
    """FaceLift's image path of view ``index`` inside a sample directory."""
    return f"images/cam_{index:03d}.png"


def camera_to_frame(camera: Camera, file_path: str) -> dict[str, Any]:
    """One ``frames`` entry for ``camera`` (FaceLift's +0.5 pixel convention applied)."""
    if camera.has_distortion:
        raise ValueError(
            f"camera {camera.name!r}: opencv_cameras.json cannot store lens distortion"
        )
    frame: dict[str, Any] = {
        "w": camera.width,
        "h": camera.height,
        "fx": camera.fx,
        "fy": camera.fy,
        "cx": camera.cx + PIXEL_CENTER_SHIFT,
        "cy": camera.cy + PIXEL_CENTER_SHIFT,
        "w2c": camera.w2c.tolist(),
        "file_path": file_path,
    }
    if camera.skew != 0.0:
        frame["skew"] = camera.skew
    return frame


def write_opencv_cameras(
    path: str | os.PathLike,
    cameras: Sequence[Camera],
    *,
    sample_id: str,
    file_paths: Sequence[str] | None = None,
) -> None:
    """Write ``opencv_cameras.json`` for ``cameras`` (atomically: temporary file, then rename).

    ``file_paths`` default to ``images/cam_000.png``, ``images/cam_001.png``, ….
    """
    if not cameras:
        raise ValueError("no cameras to write")
    if file_paths is None:
        file_paths = [default_file_path(i) for i in range(len(cameras))]
    if len(file_paths) != len(cameras):
        raise ValueError(f"{len(file_paths)} file paths for {len(cameras)} cameras")
    doc = {
        "id": sample_id,
        "frames": [camera_to_frame(c, p) for c, p in zip(cameras, file_paths, strict=True)],
    }
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"

    def write(f: IO[bytes]) -> None:
        f.write(text.encode("utf-8"))

    atomic_write(path, write)


def _number(frame: dict[str, Any], key: str, path: Path, where: str) -> float:
    if key not in frame:
        raise fail(path, f"{where} has no {key!r}")
    value = frame[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(path, f"{where} {key!r} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise fail(path, f"{where} {key!r} is not finite")
    return float(value)


def _size(frame: dict[str, Any], key: str, path: Path, where: str) -> int:
    value = _number(frame, key, path, where)
    if value <= 0 or not value.is_integer():
        raise fail(path, f"{where} {key!r} must be a positive integer, got {frame[key]!r}")
    return int(value)


def _frame_name(frame: dict[str, Any], index: int) -> str:
    file_path = frame.get("file_path")
    if isinstance(file_path, str) and file_path:
        return Path(file_path).stem
    return str(index)


def frame_to_camera(frame: Any, path: Path, index: int) -> Camera:
    """Parse one ``frames`` entry (undoing the +0.5 pixel convention)."""
    where = f"frames[{index}]"
    if not isinstance(frame, dict):
        raise fail(path, f"{where} is a {type(frame).__name__}, not an object")
    width = _size(frame, "w", path, where)
    height = _size(frame, "h", path, where)
    k = np.eye(3)
    k[0, 0] = _number(frame, "fx", path, where)
    k[1, 1] = _number(frame, "fy", path, where)
    k[0, 2] = _number(frame, "cx", path, where) - PIXEL_CENTER_SHIFT
    k[1, 2] = _number(frame, "cy", path, where) - PIXEL_CENTER_SHIFT
    if "skew" in frame:
        k[0, 1] = _number(frame, "skew", path, where)
    if "w2c" not in frame:
        raise fail(path, f"{where} has no 'w2c'")
    w2c = as_array(frame["w2c"], (4, 4), path, f"{where} 'w2c'")
    return make_camera(
        path, where, K=k, w2c=w2c, width=width, height=height, name=_frame_name(frame, index)
    )


def read_opencv_cameras(path: str | os.PathLike) -> list[Camera]:
    """Read ``opencv_cameras.json`` into cameras in ``frames`` order, OpenCV pixel convention.

    Cameras are named after their image (``file_path``'s stem, e.g. ``"cam_000"``), or by
    index when a frame has no ``file_path``.
    """
    path = require_file(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(path, f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or "frames" not in doc:
        raise fail(path, "expected an object with a 'frames' list (FaceLift opencv_cameras.json)")
    frames = doc["frames"]
    if not isinstance(frames, list) or not frames:
        raise fail(path, "'frames' must be a non-empty list")
    return [frame_to_camera(frame, path, i) for i, frame in enumerate(frames)]


def read_sample_id(path: str | os.PathLike) -> str | None:
    """The ``id`` of an ``opencv_cameras.json`` (``None`` when absent)."""
    path = require_file(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise fail(path, f"not valid JSON ({exc})") from None
    value = doc.get("id") if isinstance(doc, dict) else None
    return None if value is None else str(value)


__all__ = [
    "PIXEL_CENTER_SHIFT",
    "camera_to_frame",
    "default_file_path",
    "frame_to_camera",
    "read_opencv_cameras",
    "read_sample_id",
    "write_opencv_cameras",
]
