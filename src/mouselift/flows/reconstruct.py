"""Posed views → Gaussians with a GS-LRM checkpoint (``mouselift reconstruct``).

Without a checkpoint the built-in Stage 2 (:mod:`mouselift.weights`) is used, and said so in
the terminal and in ``metrics.json`` (``builtin``).

VIEWS is a prepared sample folder, or any folder in FaceLift's layout (``opencv_cameras.json`` +
the RGBA images it lists). Its views, composited on white (FaceLift's background), go through
the model with **their own cameras** (a prepared sample's cameras are the frame's real ones in
the normalised world; :class:`~mouselift.gslrm.inference.Stage2Model`). The Gaussians are
filtered with FaceLift's inference filters (:class:`~mouselift.gslrm.inference.SplatFilters`)
and written to ``OUT`` (which appears whole when the run finishes, replacing an earlier
``reconstruct``'s; any other non-empty folder only with ``overwrite``:
:func:`mouselift.atomic.result_folder`):

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..atomic import check_result_folder, result_folder
from ..data.sample import EVAL_DIR, SampleViews, has_eval_views, load_sample_views
from ..devices import resolve_device, seconds_since
from ..gslrm.inference import SplatFilters, Stage2Model, num_predicted
from ..images import WHITE, composite, to_uint8
from ..metrics import load_lpips
from ..metrics.views import format_view_scores, render_and_score
from ..splat import Gaussians
from ..splat.outputs import (
    GRID_NAME,
    METRICS_NAME,
    PLY_NAME,
    VIDEO_NAME,
    TurntableSettings,
    default_turntable_size,
    write_splat_outputs,
)
from ..train.checkpoints import loaded_from
from ..weights import BuiltinModels, require_builtin


@dataclass(frozen=True)
class ReconstructResult:
    out_dir: Path
    gaussians: Gaussians
    metrics: dict[str, Any]

    def format(self) -> str:
        m = self.metrics
        lines = [f"reconstruct {m['views']} → {self.out_dir}",
                 f"  {m['num_gaussians']} Gaussians kept of {m['num_predicted']} "
                 f"({m['seconds']['model']:.2f} s model, {m['device']})",
                 f"  gslrm: {loaded_from(m['checkpoint'], m.get('checkpoint_found') or '')}"]
        if m.get("builtin"):
            lines.insert(1, f"  {BuiltinModels.line_of(m['builtin'])}")
        for key in ("held_out", "inputs"):
            if m.get(key):
                lines.append(format_view_scores(key.replace("_", "-"), m[key]))
        lines.append(f"  wrote {PLY_NAME}, {VIDEO_NAME}, {GRID_NAME}, {METRICS_NAME}")
        return "\n".join(lines)


def reconstruct(views_dir: str | os.PathLike, out_dir: str | os.PathLike,
                checkpoint: str | os.PathLike | None = None, *, filters: SplatFilters | None = None,
                device: str = "cpu", vgg_weights: str | os.PathLike | None = None,
                lpips_weights: str | os.PathLike | None = None,
                turntable_frames: int = 48, turntable_size: int | None = None,
                progress: bool = True, overwrite: bool = False) -> ReconstructResult:
    """Reconstruct ``views_dir`` with the GS-LRM ``checkpoint`` (ours or FaceLift's ``.pt``)
    and write the outputs listed in the module docstring to ``out_dir``. ``checkpoint``
    ``None``: the built-in Stage 2 (a one-line error where this installation has none).
    ``turntable_size``: default, the model's view resolution."""
    filters = filters or SplatFilters()
    builtin = require_builtin() if checkpoint is None else None
    checkpoint = builtin.stage2 if builtin is not None else checkpoint
    views_dir, out_dir = Path(views_dir), Path(out_dir)
    inputs = (views_dir, checkpoint, vgg_weights, lpips_weights)
    check_result_folder(out_dir, "reconstruct", overwrite=overwrite, inputs=inputs)
    views = load_sample_views(views_dir)
    held_out = load_sample_views(views_dir / EVAL_DIR) if has_eval_views(views_dir) else None
    torch_device = resolve_device(device)
    lpips = load_lpips(vgg_weights, lpips_weights)
    started = time.perf_counter()
    stage2 = Stage2Model.load(checkpoint, device=torch_device)
    loaded = time.perf_counter()
    gaussians = stage2.reconstruct(views, filters=filters)
    model_seconds = seconds_since(torch_device, loaded)

    rig = stage2.rig
    metrics: dict[str, Any] = {
        "views": str(views_dir), "checkpoint": str(stage2.gslrm_path),
        "checkpoint_found": stage2.gslrm_found or None, "rig": rig.summary(),
        "rig_fingerprint": rig.fingerprint(), "device": str(torch_device),
        "mouselift": __version__, "num_predicted": num_predicted(stage2.gslrm, len(views)),
        "num_gaussians": len(gaussians), "filters": filters.model_dump(),
        "metric_background": "white",
        "builtin": builtin.describe() if builtin is not None else None,
        "seconds": {"load": round(loaded - started, 3), "model": round(model_seconds, 3)},
    }
    input_metrics, input_renders = render_and_score(gaussians, views, lpips)
    metrics["inputs"] = input_metrics
    grid_views, grid_renders = views, input_renders
    if held_out is not None:
        held_metrics, held_renders = render_and_score(gaussians, held_out, lpips)
        metrics["held_out"] = held_metrics
        grid_views = SampleViews.concat([views, held_out])
        grid_renders = np.concatenate([input_renders, held_renders])
    radius = float(np.mean([np.linalg.norm(c.center) for c in views.cameras]))
    targets = to_uint8(composite(grid_views.rgba, WHITE))
    size = default_turntable_size(rig.width, turntable_size)
    with result_folder(out_dir, "reconstruct", overwrite=overwrite, inputs=inputs) as tmp:
        outputs = write_splat_outputs(tmp, gaussians, renders=grid_renders, targets=targets,
                                      metrics=metrics, progress=progress,
                                      turntable=TurntableSettings(radius=radius,
                                                                  frames=turntable_frames,
                                                                  size=size))
    metrics["output_seconds"] = {k: round(v, 3) for k, v in outputs.items()}
    return ReconstructResult(out_dir, gaussians, metrics)


__all__ = ["ReconstructResult", "reconstruct"]
