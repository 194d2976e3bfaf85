"""Reading a prepared sample (FaceLift layout) as tensors, and its held-out views.

A sample folder holds ``opencv_cameras.json`` and the RGBA images it lists (``images/cam_XXX.png``;
alpha = the mouse mask), in the normalised world of ``mouselift prepare``. When the recording had
held-out cameras, ``eval/`` holds the same layout for them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..cameras import Camera, read_opencv_cameras
from ..errors import MouseliftError
from ..images import resize_rgba
from .layout import CAMERAS_FILE, EVAL_DIR


class SampleError(MouseliftError):
    """A prepared sample is missing, incomplete or inconsistent (one-line message)."""


@dataclass(frozen=True)
class SampleViews:
    """Views of one sample.

    ``rgba`` float32 ``(V, H, W, 4)`` in [0, 1], RGB straight (not premultiplied), alpha = mask;
    ``cameras`` (V) in the sample's normalised world; ``names`` the image paths relative to the
    folder (``"images/cam_000.png"``).
    """

    rgba: torch.Tensor
    cameras: list[Camera]
    names: list[str]

    def __len__(self) -> int:
        return len(self.cameras)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of every view."""
        return int(self.rgba.shape[2]), int(self.rgba.shape[1])

    def subset(self, indices: list[int]) -> SampleViews:
        """The views at ``indices`` (in that order)."""
        return SampleViews(
            self.rgba[indices], [self.cameras[i] for i in indices], [self.names[i] for i in indices]
        )

    def resized(self, width: int, height: int | None = None) -> SampleViews:
        """The views resampled to ``width × height`` (default square): antialiased bilinear
        through premultiplied colour (:func:`mouselift.images.resize_rgba`), image edges onto
        image edges, intrinsics scaled to match (:meth:`Camera.resize`), so every 3D point
        keeps its place in the image."""
        height = width if height is None else height
        if self.size == (width, height):
            return self
        rgba = resize_rgba(self.rgba, height, width)
        cameras = [c.resize(width, height) for c in self.cameras]
        return SampleViews(rgba.contiguous(), cameras, list(self.names))

    @staticmethod
    def concat(parts: list[SampleViews]) -> SampleViews:
        return SampleViews(
            torch.cat([p.rgba for p in parts]),
            [c for p in parts for c in p.cameras],
            [n for p in parts for n in p.names],
        )


def _read_rgba(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise SampleError(f"{path}: cannot read the image ({exc.__class__.__name__})") from None


def load_sample_views(sample_dir: str | os.PathLike) -> SampleViews:
    """Read ``opencv_cameras.json`` and its RGBA images (all of one size) from ``sample_dir``.

    Raises :class:`SampleError` (or a ``CalibrationError`` for a malformed camera file) with a
    one-line message naming the file.
    """
    sample_dir = Path(sample_dir)
    if not sample_dir.is_dir():
        raise SampleError(f"{sample_dir}: sample folder not found")
    meta = sample_dir / CAMERAS_FILE
    if not meta.is_file():
        raise SampleError(f"{sample_dir}: no {CAMERAS_FILE} (not a prepared sample)")
    cameras = read_opencv_cameras(meta)
    frames = json.loads(meta.read_text(encoding="utf-8"))["frames"]
    names, images = [], []
    for k, (cam, frame) in enumerate(zip(cameras, frames, strict=True)):
        rel = frame.get("file_path") if isinstance(frame, dict) else None
        if not isinstance(rel, str):
            raise SampleError(f"{meta}: frame {k} has no file_path")
        path = sample_dir / rel
        if not path.is_file():
            raise SampleError(f"{path}: image listed in {meta.name} is missing")
        if cam.has_distortion:
            raise SampleError(f"{meta}: camera {cam.name!r} has lens distortion")
        rgba = _read_rgba(path)
        if rgba.shape[:2] != (cam.height, cam.width):
            raise SampleError(
                f"{path}: image is {rgba.shape[1]}×{rgba.shape[0]} but {meta.name} says "
                f"{cam.width}×{cam.height}"
            )
        names.append(rel)
        images.append(rgba)
    if len({im.shape for im in images}) != 1:
        raise SampleError(f"{sample_dir}: the views have different sizes")
    return SampleViews(torch.from_numpy(np.stack(images)), cameras, names)


def has_eval_views(sample_dir: str | os.PathLike) -> bool:
    """Whether ``sample_dir/eval/opencv_cameras.json`` exists (held-out views)."""
    return (Path(sample_dir) / EVAL_DIR / CAMERAS_FILE).is_file()


__all__ = [
    "CAMERAS_FILE",
    "EVAL_DIR",
    "SampleError",
    "SampleViews",
    "has_eval_views",
    "load_sample_views",
]
