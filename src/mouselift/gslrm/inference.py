"""Stage 2 inference: posed views → filtered 3D Gaussians with a GS-LRM checkpoint.

* :func:`predict_gaussians` / :func:`predict_gaussians_batch` — the model's raw Gaussians of
  views with **their own cameras**: the RGBA views composited on white (FaceLift's background),
  resized to the model's square resolution when needed (intrinsics scaled to match), one forward
  pass under bf16 autocast on CUDA. ``global_tokens + V · size²`` Gaussians per object
  (:func:`num_predicted`), float32 on the device, in the views' world (FaceLift's units, Z up).
* :class:`SplatFilters` — FaceLift's inference filters (its ``inference.py``).
* :func:`reconstruct_gaussians` — both: the filtered Gaussians, float32 on the CPU.
* :class:`Stage2Model` — a GS-LRM checkpoint (ours or FaceLift's ``.pt``) loaded with its rig on
  a device: ``mouselift reconstruct``, ``infer --views`` and ``eval`` without Stage 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import Field

from ..cameras.rig import Rig
from ..config import StrictModel
from ..data.sample import SampleViews
from ..devices import resolve_device
from ..images import WHITE, composite
from ..splat import Gaussians
from ..train.checkpoints import loaded_from, resolve_payload
from .checkpoints import MODEL_DIR, load_gslrm
from .model import GSLRM, cameras_to_tensors


class SplatFilters(StrictModel):
    """FaceLift's inference filters (its ``inference.py``); ``null`` disables one. Lengths are
    in the views' world units (FaceLift's: the mouse at the origin, Z up)."""

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


def num_predicted(model: GSLRM, num_views: int) -> int:
    """Gaussians ``model`` predicts for ``num_views`` views, before filtering: its global
    tokens and one per pixel at its resolution."""
    config = model.config
    return config.global_tokens + num_views * config.image_size ** 2


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


def reconstruct_gaussians(model: GSLRM, objects: Sequence[SampleViews], *,
                          device: torch.device, filters: SplatFilters | None = None
                          ) -> list[Gaussians]:
    """Each object's Gaussians (:func:`predict_gaussians_batch`, one forward pass) filtered
    with ``filters`` (``None``: FaceLift's, ``SplatFilters()``), float32 on the CPU."""
    filters = filters if filters is not None else SplatFilters()
    predicted = predict_gaussians_batch(model, objects, device=device)
    return [filters.apply(g).to("cpu") for g in predicted]


@dataclass
class Stage2Model:
    """Stage 2 alone (``reconstruct``, ``infer --views``, ``eval`` without Stage 1): the
    GS-LRM of a checkpoint and the rig it carries, on ``device``. ``gslrm_path`` is what was
    loaded, ``gslrm_found`` how it was found from the path given (``""``: as given; see
    :func:`~mouselift.train.checkpoints.resolve_payload`)."""

    gslrm: GSLRM
    rig: Rig
    device: torch.device
    gslrm_path: Path
    gslrm_found: str = ""

    @classmethod
    def load(cls, gslrm: str | os.PathLike, *, device: str | torch.device = "cpu"
             ) -> Stage2Model:
        """``gslrm``: our model folder, FaceLift's ``.pt``, a training checkpoint folder or a
        training run (its newest complete checkpoint)."""
        torch_device = resolve_device(device)
        path, found = resolve_payload(gslrm, MODEL_DIR)
        model, rig = load_gslrm(path, device=torch_device)
        return cls(model, rig, torch_device, path, found)

    def describe(self) -> dict[str, Any]:
        """Checkpoint, rig and device, for ``report.json`` / ``eval.json`` (the keys of
        :meth:`mouselift.flows.lift.LiftModels.describe` that Stage 2 has)."""
        return {"checkpoints": {"mvdiff": None, "gslrm": str(self.gslrm_path)},
                "checkpoints_found": {"gslrm": self.gslrm_found} if self.gslrm_found else {},
                "rig": self.rig.summary(), "rig_name": self.rig.name,
                "rig_fingerprint": self.rig.fingerprint(),
                "gslrm_resolution": self.gslrm.config.image_size, "device": str(self.device)}

    def reconstruct(self, views: SampleViews, *, filters: SplatFilters | None = None
                    ) -> Gaussians:
        """:func:`reconstruct_gaussians` of ``views`` with their cameras: filtered (``None``:
        FaceLift's filters), float32 on the CPU."""
        return reconstruct_gaussians(self.gslrm, [views], device=self.device,
                                     filters=filters)[0]


def checkpoint_lines(info: dict[str, Any]) -> list[str]:
    """The summary lines saying which checkpoints a command loaded, from the keys of
    :meth:`Stage2Model.describe` / :meth:`~mouselift.flows.lift.LiftModels.describe`:
    ``"  gslrm: runs/x/checkpoints/checkpoint-000200/model (latest checkpoint of run runs/x)"``."""
    found = info.get("checkpoints_found") or {}
    return [f"  {stage}: {loaded_from(path, found.get(stage, ''))}"
            for stage, path in (info.get("checkpoints") or {}).items() if path is not None]


__all__ = ["SplatFilters", "Stage2Model", "checkpoint_lines", "num_predicted",
           "predict_gaussians", "predict_gaussians_batch", "reconstruct_gaussians"]
