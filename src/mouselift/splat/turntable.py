"""Turntable videos and multi-view grids of Gaussians.

The orbit is :func:`mouselift.cameras.orbit_cameras`: cameras evenly spaced in azimuth at one
elevation and distance around a target, looking at it, with the world's up axis (mouselift's
normalised samples are Z up, the mouse at the origin, cameras ~2.7 away). Videos are H.264 MP4
written atomically with :class:`mouselift.data.video.VideoWriter`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..cameras import Camera, orbit_cameras
from ..data.video import VideoWriter
from .gaussians import Gaussians
from .render import render

#: FaceLift's field of view (degrees) and camera distance.
FACELIFT_FOV_DEG = 50.0
FACELIFT_RADIUS = 2.7


def to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """(…, H, W, 3) float in [0, 1] → uint8 numpy, rounded."""
    return (rgb.detach().clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def turntable_cameras(
    frames: int = 60,
    *,
    radius: float = FACELIFT_RADIUS,
    elevation_deg: float = 20.0,
    size: int | tuple[int, int] = 256,
    fov_deg: float = FACELIFT_FOV_DEG,
    target: Sequence[float] = (0.0, 0.0, 0.0),
    up: str | Sequence[float] = "z",
    start_azimuth_deg: float = 0.0,
) -> list[Camera]:
    """The cameras of one full orbit (``frames`` views, ``size`` = side or ``(width, height)``)."""
    width, height = (size, size) if isinstance(size, int) else size
    return orbit_cameras(
        frames,
        radius=radius,
        elevation_deg=elevation_deg,
        target=target,
        up=up,
        width=width,
        height=height,
        fov_deg=fov_deg,
        start_azimuth_deg=start_azimuth_deg,
    )


def render_views(
    gaussians: Gaussians,
    cameras: Sequence[Camera],
    *,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    batch: int = 8,
    progress: bool = False,
) -> np.ndarray:
    """Render ``cameras`` (one size) in batches; returns uint8 (C, H, W, 3)."""
    out = []
    bg = torch.tensor(background, dtype=gaussians.dtype, device=gaussians.device)
    with torch.no_grad():
        for start in tqdm(
            range(0, len(cameras), batch), disable=not progress, desc="render", unit="batch"
        ):
            out.append(to_uint8(render(gaussians, list(cameras[start : start + batch]), bg).rgb))
    return np.concatenate(out)


def write_turntable(
    gaussians: Gaussians,
    path: str | os.PathLike,
    *,
    frames: int = 60,
    fps: float = 30.0,
    radius: float = FACELIFT_RADIUS,
    elevation_deg: float = 20.0,
    size: int | tuple[int, int] = 256,
    fov_deg: float = FACELIFT_FOV_DEG,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    up: str | Sequence[float] = "z",
    crf: int = 18,
    progress: bool = False,
) -> Path:
    """Render a full orbit and write it as an H.264 MP4 (sizes must be even)."""
    cameras = turntable_cameras(
        frames, radius=radius, elevation_deg=elevation_deg, size=size, fov_deg=fov_deg, up=up
    )
    images = render_views(gaussians, cameras, background=background, progress=progress)
    height, width = images.shape[1:3]
    with VideoWriter(path, fps=fps, width=width, height=height, crf=crf) as writer:
        for image in images:
            writer.write(image)
    return Path(path)


def render_grid(
    gaussians: Gaussians,
    cameras: Sequence[Camera],
    *,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    columns: int | None = None,
    targets: np.ndarray | None = None,
) -> Image.Image:
    """A grid PNG of the views of ``cameras`` (one size), ``columns`` wide (default: all in one
    row). With ``targets`` (uint8 (C, H, W, 3)) a second row per view row shows the references."""
    images = render_views(gaussians, cameras, background=background)
    count, height, width = images.shape[:3]
    columns = columns or count
    rows = -(-count // columns)
    per_row = 2 if targets is not None else 1
    sheet = Image.new("RGB", (columns * width, rows * per_row * height), "white")
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        sheet.paste(Image.fromarray(image), (c * width, r * per_row * height))
        if targets is not None:
            sheet.paste(Image.fromarray(targets[i]), (c * width, (r * per_row + 1) * height))
    return sheet
