"""Posed views → Gaussians with a GS-LRM checkpoint (``mouselift reconstruct``).

VIEWS is a prepared sample folder, or any folder in FaceLift's layout (``opencv_cameras.json`` +
the RGBA images it lists). Its views, composited on white (FaceLift's background), go through
the model with **their own cameras** (a prepared sample's cameras are the frame's real ones in
the normalised world). The Gaussians are filtered with FaceLift's inference filters
(:class:`SplatFilters`) and written to ``OUT``:

* ``gaussians.ply`` — graphdeco layout (SuperSplat, PlayCanvas);
* ``turntable.mp4`` — an orbit at 20° elevation around the origin;
* ``views.png`` — renders of the input (and held-out) cameras over the images;
* ``metrics.json`` — PSNR/SSIM (also on the mouse only) and LPIPS when VGG/LPIPS weights are
  given, on the held-out views of ``VIEWS/eval/`` when present (never seen by the model) and on
  the input views; the checkpoint, its rig, the filters, the timings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from .. import __version__
from ..config import StrictModel
from ..data.sample import EVAL_DIR, SampleViews, has_eval_views, load_sample_views
from ..devices import resolve_device, seconds_since
from ..fit.runner import evaluate, format_view_metrics
from ..gslrm.checkpoints import load_gslrm
from ..gslrm.model import GSLRM, cameras_to_tensors
from ..images import WHITE, composite, to_uint8
from ..metrics import load_lpips
from ..splat import Gaussians
from ..splat.outputs import (
    GRID_NAME,
    METRICS_NAME,
    PLY_NAME,
    VIDEO_NAME,
    TurntableSettings,
    write_splat_outputs,
)


class SplatFilters(StrictModel):
    """FaceLift's inference filters (its ``inference.py``); ``null`` disables one."""

    min_opacity: float | None = Field(0.04, ge=0, le=1)
    max_scale: float | None = Field(0.1, gt=0, description="drop larger Gaussians…")
    keep_large_above_floor: bool = Field(True, description="…unless their z > 0")
    box: tuple[tuple[float, float, float], tuple[float, float, float]] | None = (
        (-0.91, -0.91, -1.0), (0.91, 0.91, 1.0))
    corner_floaters: float | None = Field(0.6, gt=0, description="drop Gaussians with |x|, |y| "
                                          "and −z all beyond this (FaceLift's floater filter)")

    @classmethod
    def from_options(cls, *, min_opacity: float | None, max_scale: float | None,
                     no_box: bool = False, no_filters: bool = False) -> SplatFilters:
        """The filters the command-line options ask for (``--min-opacity``, ``--max-scale``,
        ``--no-box``, ``--no-filters``)."""
        if no_filters:
            return cls(min_opacity=None, max_scale=None, box=None, corner_floaters=None)
        filters = cls(min_opacity=min_opacity, max_scale=max_scale)
        return filters.model_copy(update={"box": None}) if no_box else filters

    def apply(self, gaussians: Gaussians) -> Gaussians:
        keep = gaussians.prune_mask(self.min_opacity, self.max_scale,
                                    self.keep_large_above_floor, self.box)
        if self.corner_floaters is not None:
            t = self.corner_floaters
            m = gaussians.means
            corner = (m[:, 0].abs() > t) & (m[:, 1].abs() > t) & (m[:, 2] < -t)
            keep &= ~corner
        return gaussians.filter(keep)


@dataclass(frozen=True)
class ReconstructResult:
    out_dir: Path
    gaussians: Gaussians
    metrics: dict[str, Any]

    def format(self) -> str:
        m = self.metrics
        lines = [f"reconstruct {m['views']} → {self.out_dir}",
                 f"  {m['num_gaussians']} Gaussians kept of {m['num_predicted']} "
                 f"({m['seconds']['model']:.2f} s model, {m['device']})"]
        for key in ("held_out", "inputs"):
            if m.get(key):
                lines.append(format_view_metrics(key.replace("_", "-"), m[key]))
        lines.append(f"  wrote {PLY_NAME}, {VIDEO_NAME}, {GRID_NAME}, {METRICS_NAME}")
        return "\n".join(lines)


def predict_gaussians(model: GSLRM, views: SampleViews, *, device: torch.device
                      ) -> Gaussians:
    """The model's Gaussians (unfiltered, float32 on ``device``) of ``views`` composited on
    white, resized to the model's resolution when needed."""
    return predict_gaussians_batch(model, [views], device=device)[0]


def predict_gaussians_batch(model: GSLRM, objects: Sequence[SampleViews], *,
                            device: torch.device) -> list[Gaussians]:
    """:func:`predict_gaussians` of several objects (each with its own cameras, all with the
    same number of views) in one forward pass of ``B = len(objects)``."""
    size = model.config.image_size
    resized = [views.resized(size) for views in objects]
    rgb = torch.stack([composite(v.rgba, WHITE).permute(0, 3, 1, 2) for v in resized])
    tensors = [cameras_to_tensors(v.cameras) for v in resized]
    K = torch.stack([k for k, _ in tensors]).to(device)
    c2w = torch.stack([c for _, c in tensors]).to(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
    with torch.no_grad(), autocast:
        out = model(rgb.to(device), K, c2w)
    return out.all_gaussians()


def reconstruct(views_dir: str | os.PathLike, out_dir: str | os.PathLike,
                checkpoint: str | os.PathLike, *, filters: SplatFilters | None = None,
                device: str = "cpu", vgg_weights: str | os.PathLike | None = None,
                lpips_weights: str | os.PathLike | None = None,
                turntable_frames: int = 48, turntable_size: int = 256,
                progress: bool = True) -> ReconstructResult:
    """Reconstruct ``views_dir`` with the GS-LRM ``checkpoint`` (ours or FaceLift's ``.pt``)
    and write the outputs listed in the module docstring to ``out_dir``."""
    filters = filters or SplatFilters()
    views_dir, out_dir = Path(views_dir), Path(out_dir)
    views = load_sample_views(views_dir)
    held_out = load_sample_views(views_dir / EVAL_DIR) if has_eval_views(views_dir) else None
    torch_device = resolve_device(device)
    lpips = load_lpips(vgg_weights, lpips_weights)
    started = time.perf_counter()
    model, rig = load_gslrm(checkpoint, device=torch_device)
    loaded = time.perf_counter()
    predicted = predict_gaussians(model, views, device=torch_device)
    model_seconds = seconds_since(torch_device, loaded)
    gaussians = filters.apply(predicted).to("cpu")

    metrics: dict[str, Any] = {
        "views": str(views_dir), "checkpoint": str(checkpoint), "rig": rig.summary(),
        "rig_fingerprint": rig.fingerprint(), "device": str(torch_device),
        "mouselift": __version__, "num_predicted": len(predicted),
        "num_gaussians": len(gaussians), "filters": filters.model_dump(),
        "metric_background": "white",
        "seconds": {"load": round(loaded - started, 3), "model": round(model_seconds, 3)},
    }
    input_metrics, input_renders = evaluate(gaussians, views, lpips)
    metrics["inputs"] = input_metrics
    grid_views, grid_renders = views, input_renders
    if held_out is not None:
        held_metrics, held_renders = evaluate(gaussians, held_out, lpips)
        metrics["held_out"] = held_metrics
        grid_views = SampleViews.concat([views, held_out])
        grid_renders = np.concatenate([input_renders, held_renders])
    radius = float(np.mean([np.linalg.norm(c.center) for c in views.cameras]))
    targets = to_uint8(composite(grid_views.rgba, WHITE))
    write_splat_outputs(out_dir, gaussians, renders=grid_renders, targets=targets,
                        metrics=metrics, progress=progress, turntable=TurntableSettings(
                            radius=radius, frames=turntable_frames, size=turntable_size))
    return ReconstructResult(out_dir, gaussians, metrics)


__all__ = ["ReconstructResult", "SplatFilters", "predict_gaussians", "predict_gaussians_batch",
           "reconstruct"]
