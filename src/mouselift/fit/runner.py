"""``fit_sample``: one prepared sample → fitted Gaussians, turntable, grid and metrics.

Outputs in ``OUT_DIR`` (the folder appears whole when the run finishes, replacing an earlier
fit's: :func:`mouselift.atomic.result_folder`):

* ``gaussians.ply`` — graphdeco PLY (:func:`mouselift.splat.write_ply`);
* ``turntable.mp4`` — H.264 orbit (Z up) at the mean camera distance, framing the crop sphere;
* ``views.png`` — renders (top row of each pair) over the targets, training then held-out views;
* ``metrics.json`` — see :func:`fit_sample`.

Metrics: renders scored by :func:`mouselift.metrics.views.render_and_score` (its evaluation
convention: on white, whole image and mouse only, LPIPS-VGG when weights are given).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import check_result_folder, result_folder
from ..data.sample import (
    EVAL_DIR,
    SampleError,
    SampleViews,
    has_eval_views,
    load_sample_views,
)
from ..devices import resolve_device
from ..images import WHITE, composite, to_uint8
from ..metrics import LPIPS, LPIPSUnavailable, load_lpips
from ..metrics.views import format_view_scores, render_and_score
from ..splat import Gaussians
from ..splat.outputs import (
    GRID_NAME,
    METRICS_NAME,
    PLY_NAME,
    VIDEO_NAME,
    TurntableSettings,
    write_splat_outputs,
)
from .config import FitConfig
from .loop import optimize


@dataclass(frozen=True)
class FitResult:
    """Where :func:`fit_sample` wrote its outputs, the Gaussians, and ``metrics.json``'s dict."""

    out_dir: Path
    gaussians: Gaussians
    metrics: dict[str, Any]

    def format(self) -> str:
        """A few lines for the terminal."""
        m = self.metrics
        tr = m["train"]
        lines = [
            f"fit {m['sample']} → {self.out_dir}",
            f"  {m['steps']} steps in {m['seconds']:.1f} s, {m['num_gaussians']} Gaussians "
            f"(from {m['initial_gaussians']})",
            format_view_scores("training", tr),
        ]
        held = m["held_out"]
        if held is not None:
            lpips = "" if held["lpips"] is None else f", LPIPS {held['lpips']:.4f}"
            lines.append(format_view_scores("held-out", held, held["source"]) + lpips)
        else:
            lines.append("  held-out views: none")
        if m.get("lpips_unavailable"):
            lines.append(f"  LPIPS unavailable: {m['lpips_unavailable']}")
        lines.append(f"  wrote {PLY_NAME}, {VIDEO_NAME}, {GRID_NAME}, {METRICS_NAME}")
        return "\n".join(lines)


def split_views(
    sample_dir: str | os.PathLike, views: SampleViews, holdout: str
) -> tuple[SampleViews, SampleViews | None, str | None]:
    """``(train, held_out, source)`` for a holdout setting (see ``FitConfig.holdout``)."""
    if holdout == "eval":
        if has_eval_views(sample_dir):
            return views, load_sample_views(Path(sample_dir) / EVAL_DIR), "eval cameras"
        return views, None, None
    if holdout == "none":
        return views, None, None
    index = int(holdout)
    if len(views) < 2:
        raise SampleError(f"{sample_dir}: cannot hold out a view of a sample with one view")
    if not 0 <= index < len(views):
        raise SampleError(f"holdout {index}: {sample_dir} has views 0–{len(views) - 1} only")
    train = [k for k in range(len(views)) if k != index]
    return views.subset(train), views.subset([index]), f"training view {index}"


def fit_sample(
    sample_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: FitConfig | None = None,
    *,
    vgg_weights: str | os.PathLike | None = None,
    lpips_weights: str | os.PathLike | None = None,
    device: str = "cpu",
    progress: bool = True,
    overwrite: bool = False,
) -> FitResult:
    """Fit Gaussians to one prepared sample and write the outputs listed in the module docstring.

    Held-out views follow ``config.holdout``. ``metrics.json`` holds ``sample``, ``steps``,
    ``seconds`` (optimisation wall time, initialisation included), ``num_gaussians``,
    ``initial_gaussians``, ``scene_radius``, ``device``, ``metric_background`` ("white"),
    ``train`` and ``held_out`` (``null`` when none; else with ``source``) as
    :func:`~mouselift.metrics.views.render_and_score` scores them, top-level
    ``lpips_unavailable`` (when so), the loss ``history``, the densify passes and the
    ``config``. Non-finite numbers are written as strings ("inf").
    ``out_dir`` must be new, empty or an earlier fit's; another folder only with ``overwrite``
    (its contents are replaced). Raises :class:`~.sample.SampleError` / ``WeightsError`` for
    bad inputs (one line).
    """
    config = config or FitConfig()
    sample_dir, out_dir = Path(sample_dir), Path(out_dir)
    views = load_sample_views(sample_dir)
    train, held_out, source = split_views(sample_dir, views, config.holdout)
    lpips = load_lpips(vgg_weights, lpips_weights)
    inputs = (sample_dir, vgg_weights, lpips_weights)
    check_result_folder(out_dir, "fit", overwrite=overwrite, inputs=inputs)
    torch_device = resolve_device(device)

    started = time.perf_counter()
    try:
        result = optimize(train, config, device=torch_device, progress=progress)
    except ValueError as exc:  # e.g. the masks leave an empty visual hull
        raise SampleError(f"{sample_dir}: {exc}") from None
    seconds = time.perf_counter() - started
    gaussians = result.gaussians

    if isinstance(lpips, LPIPS):
        lpips = lpips.to(torch_device)
    train_metrics, train_renders = render_and_score(gaussians, train, lpips)
    metrics: dict[str, Any] = {
        "sample": str(sample_dir),
        "steps": config.steps,
        "seconds": round(seconds, 2),
        "num_gaussians": len(gaussians),
        "initial_gaussians": result.initial_count,
        "scene_radius": round(result.scene_radius, 6),
        "device": str(torch_device),
        "metric_background": "white",
        "train": train_metrics,
        "held_out": None,
    }
    grid_views, grid_renders = train, train_renders
    if held_out is not None:
        held_metrics, held_renders = render_and_score(gaussians, held_out, lpips)
        metrics["held_out"] = {"source": source, **held_metrics}
        grid_views = SampleViews.concat([train, held_out])
        grid_renders = np.concatenate([train_renders, held_renders])
    if isinstance(lpips, LPIPSUnavailable) or lpips is None:
        metrics["lpips_unavailable"] = train_metrics.get("lpips_unavailable")
    metrics["history"] = result.history
    metrics["densify"] = [vars(s) for s in result.densify]
    metrics["config"] = config.model_dump()

    targets = to_uint8(composite(grid_views.rgba, WHITE))
    radius = float(np.mean([np.linalg.norm(c.center) for c in views.cameras]))
    with result_folder(out_dir, "fit", overwrite=overwrite, inputs=inputs) as tmp:
        write_splat_outputs(tmp, gaussians, renders=grid_renders, targets=targets,
                            metrics=metrics, progress=progress, turntable=TurntableSettings(
                                radius=radius, elevation=config.turntable_elevation_deg,
                                frames=config.turntable_frames, fps=config.turntable_fps,
                                size=config.turntable_size, frame_radius=result.scene_radius))
    return FitResult(out_dir, gaussians.to("cpu"), metrics)


__all__ = [
    "GRID_NAME",
    "METRICS_NAME",
    "PLY_NAME",
    "VIDEO_NAME",
    "FitResult",
    "fit_sample",
    "split_views",
]
