"""Tiny synthetic recordings in MAMMAL's ``markerless_mouse_1_nerf/`` layout.

``make_recording(tmp_path, num_cameras=3, num_frames=20, width=96, height=80, **overrides)``
writes ``videos_undist/{k}.mp4``, ``simpleclick_undist/{k}.mp4`` and ``new_cam.pkl`` (a raw
``pickle.dump`` of a list of dicts, as the real file, independent of mouselift's writer) under
``tmp_path / "rec"`` and returns that folder. Frame ``i`` of camera ``k`` shows a square at
``square_box(k, i, width, height)``: white on black in the mask video, in ``CAMERA_COLOURS[k]`` on
a dark grey background in the RGB video, so tests can check synchronisation frame by frame.

Overrides (all optional):

* ``fps`` (100.0), ``dict_keyed`` (False: list of dicts; True: dict keyed 0..C-1),
  ``t_shape`` ((3,), or (3, 1) / (1, 3)), ``mapx`` (True: identity ``mapx``/``mapy`` of the
  calibrated size), ``calibrated_size`` ((width, height) of the calibration; default the video
  size), ``principal_offset`` ((dx, dy) of the principal point from the image centre).
* ``frame_counts`` / ``mask_frame_counts``: {camera: frames} for that camera's video / mask.
* ``video_sizes`` / ``mask_sizes``: {camera: (width, height)} (mask defaults to its video's size).
* ``video_fps``: {camera: fps} for that camera's video and mask.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from mouselift.data.video import VideoWriter

CAMERA_COLOURS = [
    (230, 40, 40),
    (40, 200, 40),
    (40, 60, 230),
    (220, 200, 30),
    (200, 40, 200),
    (30, 200, 200),
]
BACKGROUND = (30, 30, 30)
RADIUS_MM = 300.0


def square_box(k: int, i: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Edge-coordinate box ``(x0, y0, x1, y1)`` of the square in frame ``i`` of camera ``k``.

    It moves 3 px right and 2 px down per frame (wrapping), offset by 5 px down per camera, so
    every frame of a clip of up to ~20 frames has a distinct position.
    """
    side = max(8, (min(width, height) // 5) & ~1)
    x0 = 2 + (3 * i) % (width - side - 4)
    y0 = 2 + (5 * k + 2 * i) % (height - side - 4)
    return x0, y0, x0 + side, y0 + side


def square_centre(k: int, i: int, width: int, height: int) -> np.ndarray:
    """Centre of :func:`square_box` in OpenCV pixel coordinates (pixel centres at integers)."""
    x0, y0, x1, y1 = square_box(k, i, width, height)
    return np.array([(x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5])


def rig(num_cameras: int, width: int, height: int, offset=(1.5, -2.0)) -> list[dict]:
    """Cameras on a ring of radius 300 mm, 100 mm up, looking at the origin (world Z up)."""
    cams = []
    for k in range(num_cameras):
        angle = 2 * np.pi * k / num_cameras
        centre = np.array([RADIUS_MM * np.cos(angle), RADIUS_MM * np.sin(angle), 100.0])
        forward = -centre / np.linalg.norm(centre)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rot = np.stack([right, down, forward])
        k_mat = np.array(
            [
                [1.2 * width, 0.0, width / 2 - 0.5 + offset[0]],
                [0.0, 1.2 * width, height / 2 - 0.5 + offset[1]],
                [0.0, 0.0, 1.0],
            ]
        )
        cams.append({"K": k_mat, "R": rot, "T": -rot @ centre})
    return cams


def _write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    height, width = frames[0].shape[:2]
    with VideoWriter(path, fps=fps, width=width, height=height) as writer:
        for frame in frames:
            writer.write(frame)


def _frames(k: int, n: int, width: int, height: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rgb, masks = [], []
    for i in range(n):
        x0, y0, x1, y1 = square_box(k, i, width, height)
        image = np.empty((height, width, 3), np.uint8)
        image[:] = BACKGROUND
        image[y0:y1, x0:x1] = CAMERA_COLOURS[k % len(CAMERA_COLOURS)]
        mask = np.zeros((height, width, 3), np.uint8)
        mask[y0:y1, x0:x1] = 255
        rgb.append(image)
        masks.append(mask)
    return rgb, masks


_OVERRIDES = {
    "fps",
    "dict_keyed",
    "t_shape",
    "mapx",
    "calibrated_size",
    "principal_offset",
    "frame_counts",
    "mask_frame_counts",
    "video_sizes",
    "mask_sizes",
    "video_fps",
}


def build_recording(
    tmp_path: Path,
    num_cameras: int = 3,
    num_frames: int = 20,
    width: int = 96,
    height: int = 80,
    **overrides,
) -> Path:
    unknown = set(overrides) - _OVERRIDES
    if unknown:
        raise TypeError(f"unknown make_recording overrides: {sorted(unknown)}")
    root = Path(tmp_path) / "rec"
    fps = overrides.get("fps", 100.0)
    frame_counts = overrides.get("frame_counts", {})
    mask_frame_counts = overrides.get("mask_frame_counts", {})
    video_sizes = overrides.get("video_sizes", {})
    mask_sizes = overrides.get("mask_sizes", {})
    video_fps = overrides.get("video_fps", {})
    for k in range(num_cameras):
        w, h = video_sizes.get(k, (width, height))
        mw, mh = mask_sizes.get(k, (w, h))
        n = frame_counts.get(k, num_frames)
        rgb, _ = _frames(k, n, w, h)
        _, masks = _frames(k, mask_frame_counts.get(k, n), mw, mh)
        rate = video_fps.get(k, fps)
        _write_video(root / "videos_undist" / f"{k}.mp4", rgb, rate)
        _write_video(root / "simpleclick_undist" / f"{k}.mp4", masks, rate)

    cal_w, cal_h = overrides.get("calibrated_size", (width, height))
    entries = rig(num_cameras, cal_w, cal_h, overrides.get("principal_offset", (1.5, -2.0)))
    for entry in entries:
        entry["T"] = entry["T"].reshape(overrides.get("t_shape", (3,)))
        if overrides.get("mapx", True):
            u, v = np.meshgrid(
                np.arange(cal_w, dtype=np.float32), np.arange(cal_h, dtype=np.float32)
            )
            entry["mapx"], entry["mapy"] = u, v
    data = dict(enumerate(entries)) if overrides.get("dict_keyed", False) else entries
    with open(root / "new_cam.pkl", "wb") as f:
        pickle.dump(data, f)
    return root


@pytest.fixture
def make_recording():
    """The :func:`build_recording` factory (see the module docstring)."""
    return build_recording


@pytest.fixture(scope="session")
def shared_recording(tmp_path_factory) -> Path:
    """A default recording (3 cameras, 20 frames, 96×80) shared by read-only tests."""
    return build_recording(tmp_path_factory.mktemp("shared"))


@pytest.fixture
def square_geometry():
    """``(square_box, square_centre, CAMERA_COLOURS, BACKGROUND)`` for checking decoded frames."""
    return square_box, square_centre, CAMERA_COLOURS, BACKGROUND
