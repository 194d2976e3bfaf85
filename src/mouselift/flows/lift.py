"""One image → views (Stage 1) → Gaussians (Stage 2): the two checkpoints held together.

The shared API of ``mouselift infer`` and ``mouselift eval``::

    models = LiftModels.load("runs/mvd/…/pipeline", "runs/gslrm/…/model", device="cuda")
    views, gaussians = lift(models, crop_rgba, cameras=frame_cameras, seed=0)

* :meth:`LiftModels.load` reads a Stage-1 pipeline folder (ours, saved with ``save_pretrained``
  and carrying its rig, or FaceLift's ``pipeckpts``) and a GS-LRM checkpoint (our folder or
  FaceLift's ``.pt``, :func:`~mouselift.gslrm.checkpoints.load_gslrm`) and refuses a pair whose
  rigs differ (:class:`RigMismatchError`, one line naming both checkpoints, rig summaries and
  fingerprints: a pair trained for different rigs generates views that the other stage
  reads as other cameras, and each stage alone still looks fine). A pipeline folder
  without ``rig/`` (FaceLift's ``pipeckpts``) takes the GS-LRM's rig when that is FaceLift's,
  its prompts encoded by the pipeline's own text encoder: FaceLift's two released checkpoints
  are then FaceLift's own inference.
* :meth:`LiftModels.generate_views` samples the rig's ``V`` views of one input crop. The input
  is an ``(H, W, 4)`` uint8 RGBA crop (or ``(H, W, 3)`` RGB) framed like the training data's
  reference view (view 0): a crop made as ``mouselift prepare`` makes it (see
  :mod:`mouselift.flows.infer`). It must have the rig's aspect ratio; it is composited on white
  and resized to the pipeline's resolution.
* The returned :class:`~mouselift.data.sample.SampleViews` hold the generated views at the
  pipeline's resolution, in rig order, as RGBA float32 ``(V, H, W, 4)`` in [0, 1] with **alpha
  = 1 everywhere**: the views are what the model drew, RGB on its white background; no mask is
  guessed from them (a white mouse on white would lose its fur). Stage 2 composites on white, so
  it sees exactly these pixels. ``names`` are ``"views/<rig view name>.png"`` (where ``infer``
  writes them). ``cameras`` are ``cameras`` when given — the frame's true target cameras,
  normalised exactly as ``prepare`` normalises a sample (:func:`mouselift.data.framing.locate.
  frame_cameras`) — else the rig's (average) cameras; either is resized to the views'
  resolution.
* Stage 1 uses ``cameras`` only through its camera embedding, when the pipeline has one
  (relative poses to view 0, :func:`~mouselift.mvdiff.camera_embedding.relative_pose_features`);
  without one it generates the rig's fixed views whatever ``cameras`` are
  (:meth:`LiftModels.stage1_cameras` says which). Stage 2 always reconstructs with the views'
  cameras.
* :meth:`LiftModels.generate_views` takes the sampler as keywords (``solver``, ``steps``,
  ``guidance``, ``eta``), checked as :class:`~mouselift.mvdiff.solvers.SamplingSettings`.
* :meth:`LiftModels.reconstruct` runs GS-LRM on views with their cameras
  (:func:`~mouselift.gslrm.inference.reconstruct_gaussians`: on white, at the model's resolution,
  bf16 autocast on CUDA) and applies the inference filters: ``filters=None`` means FaceLift's
  (``SplatFilters()``); pass ``SplatFilters(min_opacity=None, max_scale=None, box=None,
  corner_floaters=None)`` to keep every Gaussian. Gaussians come back float32 on the CPU, in
  the views' world (FaceLift's units, Z up, the mouse at the origin).

Beyond that core: ``eta`` and ``progress`` keywords on
:meth:`LiftModels.generate_views` and :func:`lift`; batched :meth:`LiftModels.generate_batch`
and :meth:`LiftModels.reconstruct_batch` (``infer --video``); :attr:`LiftModels.dtype`, the
checkpoint paths, :meth:`LiftModels.stage1_cameras` and :meth:`LiftModels.describe` for reports.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cameras import Camera
from ..cameras.rig import Rig, RigError, require_same_rig
from ..data.sample import SampleViews
from ..devices import resolve_device
from ..errors import ConfigError
from ..gslrm.checkpoints import MODEL_DIR, load_gslrm
from ..gslrm.inference import SplatFilters, reconstruct_gaussians
from ..gslrm.model import GSLRM
from ..mvdiff.camera_embedding import relative_pose_features
from ..mvdiff.pipeline import PIPELINE_DIR, MultiViewDiffusionPipeline
from ..mvdiff.solvers import DEFAULT_GUIDANCE
from ..splat import Gaussians
from ..splat.outputs import VIEWS_DIR
from ..train.checkpoints import resolve_payload

#: Names users give to dtypes (``--dtype``) → torch dtypes.
DTYPES = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
          "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}


class RigMismatchError(RigError):
    """A Stage-1 and a Stage-2 checkpoint made for different rigs (one line naming both)."""


def parse_dtype(name: str | None, device: torch.device) -> torch.dtype:
    """The Stage-1 dtype: ``name`` (fp32, bf16, fp16), or by default float32 on the CPU and
    bfloat16 on CUDA. fp16 on the CPU is refused (a one-line :class:`ConfigError`)."""
    if name is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    key = str(name).lower()
    if key not in DTYPES:
        raise ConfigError(f"dtype {name!r}: use fp32, bf16 or fp16")
    dtype = DTYPES[key]
    if dtype == torch.float16 and device.type == "cpu":
        raise ConfigError("dtype fp16 needs a GPU (use fp32 or bf16 on the CPU)")
    return dtype


def dtype_name(dtype: torch.dtype) -> str:
    return {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


@dataclass
class LiftModels:
    """Both stages on one device, checked to share one rig (module docstring)."""

    pipeline: MultiViewDiffusionPipeline
    gslrm: GSLRM
    rig: Rig
    device: torch.device
    dtype: torch.dtype = torch.float32
    mvdiff_path: Path | None = None
    gslrm_path: Path | None = None
    #: How each checkpoint was found from the path given (``"latest checkpoint of run …"``;
    #: absent: loaded as given), by stage.
    found: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, mvdiff: str | os.PathLike, gslrm: str | os.PathLike, *, device: str = "cpu",
             dtype: str | None = None) -> LiftModels:
        """Load both checkpoints onto ``device`` (Stage 1 in ``dtype``, see :func:`parse_dtype`;
        Stage 2 keeps float32 weights and runs under bf16 autocast on CUDA). Each may be named
        by its payload folder (or FaceLift's file / folder), a training checkpoint folder or a
        training run (its newest complete checkpoint):
        :func:`~mouselift.train.checkpoints.resolve_payload`. Raises
        :class:`RigMismatchError` when their rigs differ, and the loaders' one-line errors for
        missing or malformed checkpoints."""
        torch_device = resolve_device(device)
        torch_dtype = parse_dtype(dtype, torch_device)
        gslrm_path, gslrm_found = resolve_payload(gslrm, MODEL_DIR)
        mvdiff_path, mvdiff_found = resolve_payload(mvdiff, PIPELINE_DIR)
        found = {k: v for k, v in (("mvdiff", mvdiff_found), ("gslrm", gslrm_found)) if v}
        model, stage2_rig = load_gslrm(gslrm_path, device=torch_device)
        pipe = MultiViewDiffusionPipeline.from_pretrained(mvdiff_path, dtype=torch_dtype)
        stage1 = f"Stage 1 checkpoint {mvdiff_path}"
        stage2 = f"Stage 2 checkpoint {gslrm_path}"
        if pipe.rig is None:
            if (stage2_rig.source or {}).get("kind") != "facelift":
                raise RigMismatchError(
                    f"{stage1} has no rig (FaceLift's pipeckpts?) and {stage2} uses "
                    f"{stage2_rig.summary()}, not FaceLift's: give the Stage-1 pipeline "
                    "trained for that rig, or add the rig with `mouselift embeds`")
            pipe.set_rig(stage2_rig)  # FaceLift's prompts, encoded by its own text encoder
        assert pipe.rig is not None
        try:
            require_same_rig(pipe.rig, stage1, stage2_rig, stage2)
        except RigError as exc:
            raise RigMismatchError(str(exc)) from None
        pipe.to(torch_device)
        rig = pipe.rig
        if rig.locator is None and stage2_rig.locator is not None:  # the one either carries
            rig = replace(rig, locator=stage2_rig.locator)
        return cls(pipe, model, rig, torch_device, torch_dtype, mvdiff_path, gslrm_path, found)

    # --- reports --------------------------------------------------------------------------------
    @property
    def has_camera_embedding(self) -> bool:
        return self.pipeline.camera_embedding is not None

    def stage1_cameras(self, frame_cameras: bool) -> str:
        """What Stage 1 is conditioned on: ``"frame"`` (the frame's cameras through the camera
        embedding), ``"rig average"`` (the embedding given the rig's cameras) or ``"rig prompts
        only"`` (no camera embedding: the rig's fixed views)."""
        if not self.has_camera_embedding:
            return "rig prompts only"
        return "frame" if frame_cameras else "rig average"

    def describe(self) -> dict[str, Any]:
        """Checkpoints, rig, device and dtypes, for ``report.json``."""
        return {
            "checkpoints": {"mvdiff": str(self.mvdiff_path), "gslrm": str(self.gslrm_path)},
            "checkpoints_found": dict(self.found),
            "rig": self.rig.summary(), "rig_name": self.rig.name,
            "rig_fingerprint": self.rig.fingerprint(), "rig_views": self.rig.names,
            "resolution": [self.rig.width, self.rig.height],
            "gslrm_resolution": self.gslrm.config.image_size,
            "camera_embedding": self.has_camera_embedding,
            "device": str(self.device), "dtype": {
                "stage1": dtype_name(self.dtype),
                "stage2": "bf16 autocast" if self.device.type == "cuda" else "fp32"},
        }

    # --- stage 1 --------------------------------------------------------------------------------
    def _target_cameras(self, cameras: Sequence[Camera] | None) -> list[Camera]:
        rig = self.rig
        if cameras is None:
            return list(rig.cameras)
        cameras = list(cameras)
        if len(cameras) != rig.num_views:
            raise ValueError(f"{len(cameras)} cameras for {rig.summary()}")
        return [c if c.size == (rig.width, rig.height) else c.resize(rig.width, rig.height)
                for c in cameras]

    def generate_views(self, image_rgba: np.ndarray, *, cameras: Sequence[Camera] | None = None,
                       seed: int = 0, solver: str = "ddim", steps: int | None = None,
                       guidance: float | None = None, eta: float | None = None,
                       progress: bool = False) -> SampleViews:
        """The rig's ``V`` views of one input crop (module docstring: input, alpha, cameras).
        Sampler defaults are FaceLift's (DDIM 50 steps, eta 1, guidance 3); all noise comes
        from ``seed`` on the CPU."""
        return self.generate_batch([image_rgba], None if cameras is None else [cameras],
                                   seed=seed, solver=solver, steps=steps, guidance=guidance,
                                   eta=eta, progress=progress)[0]

    def generate_batch(self, images: Sequence[np.ndarray],
                       cameras: Sequence[Sequence[Camera] | None] | None = None, *,
                       seed: int = 0, solver: str = "ddim", steps: int | None = None,
                       guidance: float | None = None, eta: float | None = None,
                       progress: bool = False) -> list[SampleViews]:
        """:meth:`generate_views` of several input crops in one sampling call (``B`` objects;
        ``cameras[b]`` per object, ``None`` = the rig's). The noise of object ``b`` depends on
        ``seed`` and on its place in the batch."""
        per_object = list(cameras) if cameras is not None else [None] * len(images)
        if len(per_object) != len(images):
            raise ValueError(f"{len(per_object)} camera lists for {len(images)} images")
        targets = [self._target_cameras(c) for c in per_object]
        poses = None
        if self.has_camera_embedding:
            poses = torch.cat([relative_pose_features(t) for t in targets])  # (B·V, 12)
        out = self.pipeline(list(images), num_inference_steps=steps,
                            guidance_scale=DEFAULT_GUIDANCE if guidance is None else guidance,
                            solver=solver, eta=eta, seed=seed, pose_features=poses,
                            progress=progress)
        names = [f"{VIEWS_DIR}/{name}.png" for name in self.rig.names]
        results = []
        for b, target in enumerate(targets):
            rgb = out.images[b].float().clamp(0.0, 1.0).permute(0, 2, 3, 1)  # (V, H, W, 3)
            rgba = torch.cat([rgb, torch.ones_like(rgb[..., :1])], dim=-1).contiguous()
            results.append(SampleViews(rgba, list(target), list(names)))
        return results

    # --- stage 2 --------------------------------------------------------------------------------
    def reconstruct(self, views: SampleViews, *, filters: SplatFilters | None = None
                    ) -> Gaussians:
        """GS-LRM Gaussians of ``views`` with their cameras, filtered (``None``: FaceLift's
        filters), float32 on the CPU."""
        return self.reconstruct_batch([views], filters=filters)[0]

    def reconstruct_batch(self, objects: Sequence[SampleViews], *,
                          filters: SplatFilters | None = None) -> list[Gaussians]:
        """:meth:`reconstruct` of several objects in one forward pass."""
        return reconstruct_gaussians(self.gslrm, objects, device=self.device, filters=filters)


def lift(models: LiftModels, image_rgba: np.ndarray, *,
         cameras: Sequence[Camera] | None = None, seed: int = 0, solver: str = "ddim",
         steps: int | None = None, guidance: float | None = None, eta: float | None = None,
         filters: SplatFilters | None = None, progress: bool = False
         ) -> tuple[SampleViews, Gaussians]:
    """Stage 1 then Stage 2 on one input crop: ``(generated views with their cameras,
    filtered Gaussians)``."""
    views = models.generate_views(image_rgba, cameras=cameras, seed=seed, solver=solver,
                                  steps=steps, guidance=guidance, eta=eta, progress=progress)
    return views, models.reconstruct(views, filters=filters)


__all__ = ["DTYPES", "LiftModels", "RigMismatchError", "dtype_name", "lift", "parse_dtype"]
