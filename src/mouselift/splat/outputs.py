"""The standard output folder of a set of Gaussians (``mouselift fit``, ``reconstruct``, ``infer``),
and the one list of the file names of result folders (every writer and the viewer import them):

* ``gaussians.ply`` — graphdeco layout (SuperSplat, PlayCanvas, viser);
* ``turntable.mp4`` — an orbit around the origin (Z up) at ``elevation`` degrees;
* ``views.png`` — renders of the evaluated cameras (first row) over their images (second row);
* ``metrics.json`` — whatever the caller measured (non-finite numbers written as strings), and
  ``output_seconds``: how long the files above took;
* written by ``infer`` only: ``input.png`` (the crop Stage 1 got), ``multiview.png`` (input |
  generated views), ``views/<view>.png`` (the generated views) and ``report.json`` (settings,
  cameras, timings; also per frame of ``infer --video``).

:func:`write_splat_outputs` writes the first four, each atomically, and says how long each took.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_json, atomic_write_path
from ..errors import ConfigError
from ..images import image_grid
from .gaussians import Gaussians
from .ply import write_ply
from .turntable import write_turntable

PLY_NAME = "gaussians.ply"
VIDEO_NAME = "turntable.mp4"
GRID_NAME = "views.png"
METRICS_NAME = "metrics.json"
INPUT_NAME = "input.png"
MULTIVIEW_NAME = "multiview.png"
VIEWS_DIR = "views"
REPORT_NAME = "report.json"


@dataclass(frozen=True)
class TurntableSettings:
    """The orbit of ``turntable.mp4``: ``radius`` (world units), ``elevation`` (degrees),
    ``frames``, ``fps``, ``size`` (pixels, rounded up to even; the flows that lift with a model
    default it to the model's resolution, :func:`default_turntable_size`), ``frame_radius`` (the
    extent to frame; ``None`` = fit the opaque Gaussians)."""

    radius: float
    elevation: float = 20.0
    frames: int = 48
    fps: float = 24.0
    size: int = 256
    frame_radius: float | None = None


def default_turntable_size(resolution: int, size: int | None = None) -> int:
    """``size``, or by default the model's view ``resolution``: a turntable larger than the
    views the model was trained on shows no more detail and costs more than the lift."""
    return int(resolution if size is None else size)


def write_splat_outputs(out_dir: str | os.PathLike, gaussians: Gaussians, *,
                        renders: np.ndarray, targets: np.ndarray, metrics: dict[str, Any],
                        turntable: TurntableSettings, progress: bool = False) -> dict[str, float]:
    """Write the folder (layout: module docstring). ``renders`` and ``targets`` are uint8
    ``(V, H, W, 3)`` of the same cameras. Returns the seconds spent on each file, by name (also
    in ``metrics.json`` as ``output_seconds``, but for itself)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    mark = time.perf_counter()
    cpu = gaussians.to("cpu")
    write_ply(out_dir / PLY_NAME, cpu)
    seconds[PLY_NAME] = time.perf_counter() - mark
    if len(cpu):
        mark = time.perf_counter()
        write_turntable(gaussians, out_dir / VIDEO_NAME, frames=turntable.frames,
                        fps=turntable.fps, radius=turntable.radius,
                        elevation_deg=turntable.elevation,
                        size=turntable.size + turntable.size % 2, fov_deg=None,
                        frame_radius=turntable.frame_radius, up="z", progress=progress)
        seconds[VIDEO_NAME] = time.perf_counter() - mark
    mark = time.perf_counter()
    sheet = image_grid([list(renders), list(targets)])
    atomic_write_path(out_dir / GRID_NAME, lambda tmp: sheet.save(tmp, format="PNG"))
    seconds[GRID_NAME] = time.perf_counter() - mark
    mark = time.perf_counter()
    metrics = {**metrics, "output_seconds": {k: round(v, 3) for k, v in seconds.items()}}
    atomic_write_json(out_dir / METRICS_NAME, metrics)
    seconds[METRICS_NAME] = time.perf_counter() - mark
    return seconds


__all__ = ["GRID_NAME", "INPUT_NAME", "METRICS_NAME", "MULTIVIEW_NAME", "PLY_NAME", "REPORT_NAME",
           "VIDEO_NAME", "VIEWS_DIR", "TurntableSettings", "default_turntable_size",
           "write_splat_outputs"]
