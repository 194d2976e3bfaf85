"""Reading a prepared sample (FaceLift layout) as tensors, and its held-out views.

A sample folder holds ``opencv_cameras.json`` and the RGBA images it lists (``images/cam_XXX.png``;
alpha = the mouse mask), in the normalised world of ``mouselift prepare``. When the recording had
held-out cameras, ``eval/`` holds the same layout for them.

**What each camera saw.** A crop that runs past its source image is transparent there: those
pixels were never seen, so nothing can be said about them (where the source image cuts the
mouse, the rest of the mouse is there, unseen). :attr:`SampleViews.unseen` marks them, from the
sample record's crop ``box`` (source edge coordinates) and the source image size
(:func:`unseen_pixels`); scores skip them (:mod:`mouselift.metrics.views`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..cameras import Camera, Similarity, read_opencv_cameras
from ..errors import MouseliftError
from ..images import resize_rgba
from .layout import CAMERAS_FILE, EVAL_DIR, RECORD_FILE


class SampleError(MouseliftError):
    """A prepared sample is missing, incomplete or inconsistent (one-line message)."""


@dataclass(frozen=True)
class SampleViews:
    """Views of one sample.

    ``rgba`` float32 ``(V, H, W, 4)`` in [0, 1], RGB straight (not premultiplied), alpha = mask;
    ``cameras`` (V) in the sample's normalised world; ``names`` the image paths relative to the
    folder (``"images/cam_000.png"``); ``unseen`` bool ``(V, H, W)``, True where a view's crop
    lies outside its source image (module docstring), or None when every pixel was seen (or
    the sample does not say).
    """

    rgba: torch.Tensor
    cameras: list[Camera]
    names: list[str]
    unseen: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.cameras)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of every view."""
        return int(self.rgba.shape[2]), int(self.rgba.shape[1])

    def subset(self, indices: list[int]) -> SampleViews:
        """The views at ``indices`` (in that order)."""
        return SampleViews(
            self.rgba[indices], [self.cameras[i] for i in indices],
            [self.names[i] for i in indices],
            None if self.unseen is None else self.unseen[indices],
        )

    @property
    def view_names(self) -> list[str]:
        """The views' names as rigs name them: the image file stems (``"cam_003"``)."""
        return [Path(n).stem for n in self.names]

    def in_order(self, view_names: list[str], where: object = "the sample") -> SampleViews:
        """The views named ``view_names`` (image stems, e.g. a rig's ``names``), in that order;
        a one-line :class:`SampleError` naming the first one ``where`` lacks."""
        stems = self.view_names
        missing = [name for name in view_names if name not in stems]
        if missing:
            raise SampleError(f"{where}: view {missing[0]!r} is not among its images "
                              f"({', '.join(stems)})")
        return self.subset([stems.index(name) for name in view_names])

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
        unseen = None  # a pixel is unseen where most of it was
        if self.unseen is not None:
            unseen = self.seen_share(height, width)[:, 0] < 0.5
        return SampleViews(rgba.contiguous(), cameras, list(self.names), unseen)

    @property
    def unseen_or_none(self) -> torch.Tensor:
        """:attr:`unseen`, with all-False for views that do not say."""
        if self.unseen is not None:
            return self.unseen
        return torch.zeros(self.rgba.shape[:3], dtype=torch.bool)

    def seen_share(self, height: int, width: int) -> torch.Tensor:
        """float32 ``(V, 1, height, width)``: the share of each pixel, at that size (area
        resampling, edges onto edges), that its camera saw — 1 where :attr:`unseen` says
        nothing."""
        seen = (~self.unseen_or_none)[:, None].float()
        if seen.shape[-2:] != (height, width):
            seen = torch.nn.functional.interpolate(seen, size=(height, width), mode="area")
        return seen

    @staticmethod
    def concat(parts: list[SampleViews]) -> SampleViews:
        unseen = None
        if any(p.unseen is not None for p in parts):
            unseen = torch.cat([p.unseen_or_none for p in parts])
        return SampleViews(
            torch.cat([p.rgba for p in parts]),
            [c for p in parts for c in p.cameras],
            [n for p in parts for n in p.names],
            unseen,
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
    height, width = images[0].shape[:2]
    unseen = _recorded_unseen(sample_dir, names, width, height)
    return SampleViews(torch.from_numpy(np.stack(images)), cameras, names, unseen)


def unseen_pixels(box: Any, source_size: Any, width: int, height: int) -> np.ndarray:
    """Bool ``(height, width)``: the pixels of a ``width × height`` crop whose centre falls
    outside its ``source_size`` ``(W, H)`` image. ``box``: the crop's bounds in the source,
    edge coordinates ``(x0, y0, x1, y1)`` (prepare's record: an axis-aligned scale and shift,
    so output pixel ``i`` spans ``x0 + [i, i + 1]·(x1 − x0)/width``)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    src_w, src_h = (float(v) for v in source_size)
    xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
    ys = y0 + (np.arange(height) + 0.5) * (y1 - y0) / height
    out_x = (xs < 0) | (xs >= src_w)
    out_y = (ys < 0) | (ys >= src_h)
    return out_y[:, None] | out_x[None, :]


def _view_source_size(info: dict[str, Any], fallback: Any) -> Any:
    """A view record's source image size: ``source_size`` (prepare ≥ 0.5), else its mask
    shape's size (0.4), else ``fallback``."""
    if info.get("source_size") is not None:
        return info["source_size"]
    shape = info.get("mask_shape")
    if isinstance(shape, dict) and shape.get("size") is not None:
        return shape["size"]
    return fallback


def _recorded_unseen(sample_dir: Path, names: list[str], width: int, height: int
                     ) -> torch.Tensor | None:
    """:attr:`SampleViews.unseen` from the record of ``sample_dir`` (a sample, or its ``eval/``
    folder: the parent's ``eval_views``); None when the record is absent, says nothing of a
    view's crop, or no view has an unseen pixel. Held-out views of a record without their
    source size take the sample's cameras' one when those agree (one recording, one size)."""
    in_eval = sample_dir.name == EVAL_DIR and (sample_dir.parent / RECORD_FILE).is_file()
    try:
        record = load_sample_record(sample_dir.parent if in_eval else sample_dir)
    except SampleError:
        return None
    rig_views = [v for v in record.get("views") or [] if isinstance(v, dict)]
    sizes = {tuple(s) for s in (_view_source_size(v, None) for v in rig_views) if s}
    common = next(iter(sizes)) if len(sizes) == 1 else None
    by_path = {str(v.get("file_path")): v for v in
               (record.get("eval_views") if in_eval else rig_views) or [] if isinstance(v, dict)}
    masks = []
    for name in names:
        info = by_path.get(f"{EVAL_DIR}/{name}" if in_eval else name)
        size = None if info is None else _view_source_size(info, common)
        if info is None or info.get("box") is None or size is None:
            masks.append(np.zeros((height, width), dtype=bool))
            continue
        masks.append(unseen_pixels(info["box"], size, width, height))
    stacked = np.stack(masks)
    return torch.from_numpy(stacked) if stacked.any() else None


def has_eval_views(sample_dir: str | os.PathLike) -> bool:
    """Whether ``sample_dir/eval/opencv_cameras.json`` exists (held-out views)."""
    return (Path(sample_dir) / EVAL_DIR / CAMERAS_FILE).is_file()


def load_sample_record(sample_dir: str | os.PathLike) -> dict[str, Any]:
    """The sample's record, ``sample.json`` (written by ``mouselift prepare``: ``frame`` — the
    source frame index —, ``similarity``, ``centre_mm``, …; see
    :mod:`mouselift.data.prepare.samples`). One-line :class:`SampleError` when missing or
    unreadable."""
    path = Path(sample_dir) / RECORD_FILE
    if not path.is_file():
        raise SampleError(f"{path}: not found (not a sample prepared by mouselift prepare?)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SampleError(f"{path}: unreadable ({exc.__class__.__name__})") from None
    if not isinstance(record, dict):
        raise SampleError(f"{path}: not a JSON object")
    return record


def record_similarity(record: dict[str, Any], source: object = RECORD_FILE) -> Similarity:
    """The similarity a sample record stores: **world mm → the sample's normalised world**,
    ``X' = s R X + t`` (``.inverse()`` maps the sample's Gaussians back to mm)."""
    try:
        return Similarity.from_dict(record["similarity"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SampleError(f"{source}: no valid 'similarity' ({exc})") from None


__all__ = [
    "CAMERAS_FILE",
    "EVAL_DIR",
    "SampleError",
    "SampleViews",
    "has_eval_views",
    "load_sample_record",
    "load_sample_views",
    "record_similarity",
    "unseen_pixels",
]
