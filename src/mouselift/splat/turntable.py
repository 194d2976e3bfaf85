"""Turntable videos and multi-view grid images of Gaussians.

The orbit is :func:`mouselift.cameras.orbit_cameras`: ``frames`` cameras evenly spaced in azimuth
at one elevation and distance around ``target``, looking at it, with ``up`` upwards in the image
(mouselift's normalised samples: Z up, the mouse at the origin, cameras ≈ 2.7 away). The field of
view is either given (full horizontal angle, degrees) or ``None`` = *auto*: the opaque Gaussians'
extent about the target (:func:`framing_radius`) fills the shorter image side with a 15 % margin.
Videos are H.264 MP4s written atomically with :class:`mouselift.data.video.VideoWriter` (sizes
must be even). Renders are on ``background`` (default white, FaceLift's), uint8 RGB.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..atomic import atomic_write_path
from ..cameras import Camera, orbit_cameras
from ..cameras.orbits import up_vector
from ..data.video import VideoWriter
from ..errors import ConfigError
from ..images import WHITE, chunk_rows, image_grid, to_uint8
from .gaussians import Gaussians
from .render import render

#: FaceLift's field of view (degrees) and camera distance.
FACELIFT_FOV_DEG = 50.0
FACELIFT_RADIUS = 2.7
#: Auto field of view: the framing radius times this fills half the shorter image side.
AUTO_FOV_MARGIN = 1.15

__all__ = [
    "FACELIFT_FOV_DEG",
    "FACELIFT_RADIUS",
    "framing_radius",
    "parse_fov",
    "parse_size",
    "parse_up",
    "parse_vector",
    "render_grid",
    "render_views",
    "turntable_cameras",
    "write_grid",
    "write_sequence_turntable",
    "write_turntable",
]


def framing_radius(
    gaussians: Gaussians,
    target: Sequence[float] = (0.0, 0.0, 0.0),
    *,
    min_opacity: float = 0.1,
    quantile: float = 0.98,
) -> float:
    """Radius about ``target`` that holds the visible Gaussians: the ``quantile`` of
    ``|mean − target| + 2·max scale`` over Gaussians with opacity above ``min_opacity`` (all of
    them when none is). Robust to a few far-away floaters. 1.0 for an empty container."""
    if len(gaussians) == 0:
        return 1.0
    with torch.no_grad():
        g = gaussians.detach().to("cpu", torch.float64)
        visible = g.opacities > min_opacity
        if not bool(visible.any()):
            visible = torch.ones_like(visible)
        centre = torch.as_tensor(target, dtype=torch.float64).reshape(1, 3)
        reach = (g.means - centre).norm(dim=1) + 2 * g.scales.amax(dim=1)
        value = float(torch.quantile(reach[visible], quantile))
    return value if math.isfinite(value) and value > 0 else 1.0


def _auto_K(half_angle: float, width: int, height: int) -> np.ndarray:
    f = (min(width, height) / 2.0) / math.tan(half_angle)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def turntable_cameras(
    frames: int = 60,
    *,
    radius: float = FACELIFT_RADIUS,
    elevation_deg: float = 20.0,
    size: int | tuple[int, int] = 256,
    fov_deg: float | None = FACELIFT_FOV_DEG,
    target: Sequence[float] = (0.0, 0.0, 0.0),
    up: str | Sequence[float] = "z",
    start_azimuth_deg: float = 0.0,
    frame_radius: float | None = None,
) -> list[Camera]:
    """The cameras of one full orbit: ``frames`` views, ``size`` = side or ``(width, height)``.

    ``fov_deg`` is the full horizontal field of view; with ``fov_deg=None`` give
    ``frame_radius``: a sphere of that radius about ``target`` then fills the shorter side
    (×1.15 margin; capped at a 150° view when the sphere reaches the camera).
    """
    width, height = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    kwargs: dict = {}
    if fov_deg is None:
        if frame_radius is None or not frame_radius > 0:
            raise ValueError("an automatic field of view needs a positive frame_radius")
        half = math.asin(min(AUTO_FOV_MARGIN * frame_radius / radius, math.sin(math.radians(75))))
        kwargs["K"] = _auto_K(half, width, height)
    else:
        kwargs["fov_deg"] = fov_deg
    return orbit_cameras(
        frames,
        radius=radius,
        elevation_deg=elevation_deg,
        target=target,
        up=up,
        width=width,
        height=height,
        start_azimuth_deg=start_azimuth_deg,
        **kwargs,
    )


def render_views(
    gaussians: Gaussians,
    cameras: Sequence[Camera],
    *,
    background: Sequence[float] = WHITE,
    progress: bool = False,
    desc: str = "render",
) -> list[np.ndarray]:
    """Render each camera (any sizes) on ``background``; uint8 ``(H, W, 3)`` images."""
    with tqdm(total=len(cameras), disable=not progress, desc=desc, unit="view",
              leave=False) as bar:
        out = []
        for image in _renders(gaussians, cameras, background):
            out.append(image)
            bar.update(1)
    return out


#: Cameras rendered per call: one call composites many images (threads, gsplat batches).
RENDER_BATCH = 12


def _renders(gaussians: Gaussians, cameras: Sequence[Camera], background: Sequence[float]
             ) -> Iterator[np.ndarray]:
    """uint8 ``(H, W, 3)`` renders of ``cameras`` in order, consecutive cameras of one size
    ``RENDER_BATCH`` at a time."""
    bg = torch.tensor(tuple(background), dtype=gaussians.dtype, device=gaussians.device)
    start = 0
    with torch.no_grad():
        while start < len(cameras):
            stop = start + 1
            while (stop < len(cameras) and stop - start < RENDER_BATCH
                   and cameras[stop].size == cameras[start].size):
                stop += 1
            yield from to_uint8(render(gaussians, list(cameras[start:stop]), bg).rgb)
            start = stop


def write_turntable(
    gaussians: Gaussians,
    path: str | os.PathLike,
    *,
    frames: int = 60,
    fps: float = 30.0,
    radius: float = FACELIFT_RADIUS,
    elevation_deg: float = 20.0,
    size: int | tuple[int, int] = 256,
    fov_deg: float | None = FACELIFT_FOV_DEG,
    background: Sequence[float] = WHITE,
    target: Sequence[float] = (0.0, 0.0, 0.0),
    up: str | Sequence[float] = "z",
    start_azimuth_deg: float = 0.0,
    frame_radius: float | None = None,
    crf: int = 18,
    progress: bool = False,
) -> Path:
    """Render a full orbit (see :func:`turntable_cameras`) and write it as an H.264 MP4 at
    ``path``, atomically. ``fov_deg=None`` frames a sphere of ``frame_radius`` about ``target``
    (default: :func:`framing_radius` of the Gaussians). Width and height must be even. Returns
    ``path``."""
    width, height = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if width % 2 or height % 2:
        raise ValueError(f"turntable size must be even (H.264), got {width}×{height}")
    cameras = turntable_cameras(
        frames,
        radius=radius,
        elevation_deg=elevation_deg,
        size=(width, height),
        fov_deg=fov_deg,
        target=target,
        up=up,
        start_azimuth_deg=start_azimuth_deg,
        frame_radius=(frame_radius or framing_radius(gaussians, target))
        if fov_deg is None
        else None,
    )
    writer = VideoWriter(path, fps=fps, width=width, height=height, crf=crf)
    try:
        for image in tqdm(_renders(gaussians, cameras, background), total=len(cameras),
                          disable=not progress, desc="turntable", unit="frame"):
            writer.write(image)
    except BaseException:
        writer.close(commit=False)
        raise
    writer.close()
    return Path(path)


def write_sequence_turntable(
    frames: Sequence[Gaussians | str | os.PathLike],
    path: str | os.PathLike,
    *,
    orbit_frames: int = 120,
    fps: float = 30.0,
    radius: float = FACELIFT_RADIUS,
    elevation_deg: float = 20.0,
    size: int | tuple[int, int] = 256,
    frame_radius: float | None = None,
    background: Sequence[float] = WHITE,
    device: str | torch.device = "cpu",
    crf: int = 18,
    progress: bool = False,
) -> Path:
    """One camera orbiting a *sequence* of Gaussians (one set per video frame, e.g. per-frame
    PLYs of ``mouselift infer --video``): video frame ``i`` shows ``frames[i]`` from the orbit's
    camera ``i mod orbit_frames`` (a full turn every ``orbit_frames`` frames). The field of view
    is fixed for the whole video: ``frame_radius`` (default: the first frame's
    :func:`framing_radius`) fills the shorter side. Paths are read one at a time
    (:func:`mouselift.splat.read_ply`). Written atomically as an H.264 MP4; returns ``path``."""
    from .ply import read_ply

    if not frames:
        raise ValueError("a sequence turntable needs at least one frame")
    width, height = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if width % 2 or height % 2:
        raise ValueError(f"turntable size must be even (H.264), got {width}×{height}")

    def load(item: Gaussians | str | os.PathLike) -> Gaussians:
        return (item if isinstance(item, Gaussians) else read_ply(item)).to(device)

    first = load(frames[0])
    reach = frame_radius or framing_radius(first)
    cameras = turntable_cameras(orbit_frames, radius=radius, elevation_deg=elevation_deg,
                                size=(width, height), fov_deg=None, frame_radius=reach)
    writer = VideoWriter(path, fps=fps, width=width, height=height, crf=crf)
    try:
        with torch.no_grad():
            for i in tqdm(range(len(frames)), disable=not progress, desc="sequence turntable",
                          unit="frame"):
                gaussians = first if i == 0 else load(frames[i])
                bg = torch.tensor(tuple(background), dtype=gaussians.dtype,
                                  device=gaussians.device)
                image = render(gaussians, cameras[i % orbit_frames], bg).rgb[0]
                writer.write(to_uint8(image))
    except BaseException:
        writer.close(commit=False)
        raise
    writer.close()
    return Path(path)


def render_grid(
    gaussians: Gaussians,
    cameras: Sequence[Camera],
    *,
    background: Sequence[float] = WHITE,
    columns: int | None = None,
    targets: Sequence[np.ndarray] | np.ndarray | None = None,
    progress: bool = False,
) -> Image.Image:
    """A contact sheet of the renders of ``cameras``, ``columns`` per row (default: all in one).

    Cells are as large as the largest camera image (smaller images sit top-left, the rest is
    ``background``). With ``targets`` (uint8 ``(H, W, 3)`` per camera) each row of renders is
    followed by a row of the matching targets. Returns an RGB PIL image.
    """
    if not cameras:
        raise ValueError("render_grid needs at least one camera")
    if targets is not None and len(targets) != len(cameras):
        raise ValueError(f"got {len(targets)} targets for {len(cameras)} cameras")
    images = render_views(gaussians, cameras, background=background, progress=progress)
    rows = []
    target_rows = chunk_rows(list(targets), columns) if targets is not None else None
    for k, row in enumerate(chunk_rows(images, columns)):
        rows.append(row)
        if target_rows is not None:
            rows.append(target_rows[k])
    return image_grid(rows, background=background)


def write_grid(gaussians: Gaussians, cameras: Sequence[Camera], path: str | os.PathLike, *,
               background: Sequence[float] = WHITE, columns: int | None = None,
               progress: bool = False) -> Image.Image:
    """:func:`render_grid` written to ``path`` (PNG, atomically); returns the sheet."""
    sheet = render_grid(gaussians, cameras, background=background, columns=columns,
                        progress=progress)
    atomic_write_path(path, lambda tmp: sheet.save(tmp, format="PNG"))
    return sheet


# --- option parsing (the CLI and notebooks share these; errors are one-line ConfigErrors) -----
def parse_size(value: str, what: str = "size") -> tuple[int, int]:
    """``N`` (square) or ``WxH`` → ``(W, H)``; both positive and even (H.264)."""
    parts = value.lower().replace("×", "x").split("x")
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if len(dims) == 1:
        dims = dims * 2
    if len(dims) != 2 or min(dims) < 2 or any(d % 2 for d in dims):
        raise ConfigError(f"{what} {value!r}: use N or WxH with even positive numbers")
    return dims[0], dims[1]


def parse_vector(value: str, what: str = "vector") -> tuple[float, float, float]:
    """``"x,y,z"`` → three floats."""
    try:
        xyz = tuple(float(p) for p in value.split(","))
    except ValueError:
        xyz = ()
    if len(xyz) != 3:
        raise ConfigError(f"{what} {value!r}: expected three numbers x,y,z")
    return xyz  # type: ignore[return-value]


def parse_up(value: str, what: str = "up") -> str | tuple[float, float, float]:
    """An up axis: ``x``, ``y``, ``z`` (optionally signed, ``-y``) or ``ux,uy,uz``."""
    up: str | tuple[float, float, float] = value if "," not in value else parse_vector(value,
                                                                                          what)
    try:
        up_vector(up)
    except ValueError as exc:
        raise ConfigError(f"{what} {value!r}: {exc}") from None
    return up


def parse_fov(value: str, what: str = "field of view") -> float | None:
    """``"auto"`` → ``None`` (fit the Gaussians), else degrees in (0, 180)."""
    if value.strip().lower() == "auto":
        return None
    try:
        fov = float(value)
    except ValueError:
        fov = -1.0
    if not 0 < fov < 180:
        raise ConfigError(f"{what} {value!r}: use 'auto' or degrees in (0, 180)")
    return fov
