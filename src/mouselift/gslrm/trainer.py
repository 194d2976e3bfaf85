"""Training Stage 2 (GS-LRM) on the shared engine (:mod:`mouselift.train`).

A step: the inputs of each object (its own per-frame cameras) → the model's Gaussians → rendered
(differentiably: gsplat on CUDA, our rasteriser on the CPU) into the object's target cameras over
its background → :func:`~mouselift.gslrm.losses.stage2_loss` (MSE, optional perceptual / SSIM /
LPIPS, optionally masked, FaceLift's L2 warm-up; ours: the silhouette ``alpha`` and, against the
samples' geometry targets, ``depth``). AdamW with FaceLift's groups (weight decay on ≥ 2-D
weights only). Validation: PSNR and SSIM (also on the mouse only) and the silhouette IoU of the
validation samples with a fixed choice of inputs, and a grid of renders over targets. A
checkpoint's payload is ``model/`` (:func:`~mouselift.gslrm.checkpoints.save_gslrm`: EMA weights,
config, rig).

Views reach the model at its ``image_size`` whatever the dataset's resolution (FaceLift trains at
its fixed size): a 512-px dataset trains the ``tiny`` model on 64² views. A different size is the
explicit ``data.image_size``; the model is then trained and saved (config, rig) at that size, so a
checkpoint always describes the views it was trained on.

Launch: ``mouselift train gslrm …`` on one device, or ``accelerate launch [--multi_gpu …] -m
mouselift train gslrm …``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..cameras.rays import pixel_rays
from ..data.dataset_rig import resolve_rig
from ..data.layout import read_split, training_dataset
from ..errors import ConfigError
from ..images import MOUSE_ALPHA_THRESHOLD, chw_to_uint8, image_grid
from ..metrics import load_lpips
from ..metrics.image import masked_psnr, psnr, silhouette_iou, ssim
from ..splat.render import render
from ..train import Run, Stage, TrainResult, Validation, train_stage, weight_decay_groups
from .checkpoints import MODEL_DIR, load_facelift_checkpoint, load_gslrm, save_gslrm
from .config import load_gslrm_config
from .dataset import GSLRMDataset, collate_gslrm
from .losses import DepthTerms, load_perceptual_loss, stage2_loss
from .model import GSLRM, GSLRMOutput
from .train_config import TrainGSLRMConfig


class TargetRenders(NamedTuple):
    """Renders of each object's Gaussians into its target cameras: ``rgb (B, V, 3, H, W)``,
    the accumulated opacity ``alpha (B, V, 1, H, W)`` and the expected camera-frame depth
    ``depth (B, V, 1, H, W)`` (0 where nothing is drawn)."""

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor


def render_targets(out: GSLRMOutput, K: torch.Tensor, c2w: torch.Tensor,
                   background: torch.Tensor, height: int, width: int) -> TargetRenders:
    """Renders of each object's Gaussians into its ``V`` cameras (``K (B, V, 3, 3)``,
    ``c2w (B, V, 4, 4)``) over its ``background (B, 3)`` (:class:`TargetRenders`)."""
    rgbs, alphas, depths = [], [], []
    for b in range(len(out)):
        gaussians = out.gaussians(b, validate=False)
        w2c = torch.linalg.inv(c2w[b].float())
        rendered = render(gaussians, Ks=K[b].float(), w2cs=w2c, width=width, height=height,
                          background=background[b].float())
        rgbs.append(rendered.rgb.permute(0, 3, 1, 2))
        alphas.append(rendered.alpha.permute(0, 3, 1, 2))
        depths.append(rendered.depth.permute(0, 3, 1, 2))
    return TargetRenders(torch.stack(rgbs), torch.stack(alphas), torch.stack(depths))


def pixel_camera_depths(out: GSLRMOutput, K: torch.Tensor, c2w: torch.Tensor) -> torch.Tensor:
    """Camera-frame z ``(B, V, 1, H, W)`` of each input pixel's Gaussian: its distance along
    the pixel's unit ray (``out.pixel_depths``) times the ray's cosine to the optical axis."""
    h, w = out.pixel_depths.shape[-2:]
    _, directions = pixel_rays(K.float(), c2w.float(), h, w)  # (B, V, H, W, 3)
    axis = c2w[..., :3, 2].float()  # the camera's z axis in the world, (B, V, 3)
    cosine = (directions * axis[:, :, None, None, :]).sum(-1)
    return out.pixel_depths.float() * cosine[:, :, None]


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _predict(model: torch.nn.Module, batch: dict[str, Any]) -> GSLRMOutput:
    return model(batch["input_images"], batch["input_K"], batch["input_c2w"])


logger = logging.getLogger(__name__)


class GSLRMStage(Stage):
    """Stage 2 for the training engine (see the module docstring)."""

    name = "gslrm"
    payload_dirs = (MODEL_DIR,)
    collate_fn = staticmethod(collate_gslrm)

    def __init__(self, config: TrainGSLRMConfig) -> None:
        super().__init__(config)
        self.config: TrainGSLRMConfig = config
        self.dataset_dir = training_dataset(config.dataset)

    # --- models --------------------------------------------------------------------------
    def build(self, run: Run) -> torch.nn.Module:
        config, device = self.config, run.device
        self.device = device
        if run.resume_from is not None:
            model, self.rig = load_gslrm(run.resume_from / MODEL_DIR, device=device)
        else:
            model = self._initial_model(device)
            size = config.data.image_size
            if size is not None and size != model.config.image_size:
                # an explicit data.image_size: the model is trained, and saved, at that size
                if size % model.config.patch_size:
                    raise ConfigError(f"data.image_size {size} must be a multiple of the "
                                      f"model's patch size {model.config.patch_size}")
                model.config = model.config.model_copy(update={"image_size": size})
            # the cameras of the views the model takes: at its resolution (as Stage 1's rig)
            self.rig = resolve_rig(config.rig, dataset=self.dataset_dir,
                                   resolution=model.config.image_size,
                                   reference_view=config.reference_view, split=config.train_split)
        # views reach the model at its resolution, whatever the dataset's (FaceLift's fixed size)
        self.data = config.data.model_copy(update={"image_size": model.config.image_size,
                                                   "geometry": config.losses.depth > 0})
        self._told_missing_depth = False
        if config.gradient_checkpointing is not None:
            model.config = model.config.model_copy(
                update={"gradient_checkpointing": config.gradient_checkpointing})
        self.model_config = model.config
        self.perceptual = None
        if config.losses.perceptual > 0:
            if config.perceptual_weights is None:
                raise ConfigError("losses.perceptual > 0 needs --set perceptual_weights=FILE "
                                  "(VGG19 weights; FaceLift's GS-LRM .pt holds them)")
            self.perceptual = load_perceptual_loss(config.perceptual_weights, device=device)
        self.lpips = None
        if config.losses.lpips > 0 or config.vgg_weights or config.lpips_weights:
            self.lpips = load_lpips(config.vgg_weights, config.lpips_weights)
            if hasattr(self.lpips, "to"):
                self.lpips = self.lpips.to(device)
        self.val_dataset = None
        if config.validation_samples and read_split(self.dataset_dir, config.val_split,
                                                    missing_ok=True):
            val_data = self.data.model_copy(update={"input_selection": "fixed",
                                                    "background": "white"})
            self.val_dataset = GSLRMDataset(self.dataset_dir, config.val_split, val_data,
                                            seed=config.seed)
        self.model = model.to(device).train()
        return self.model

    def _initial_model(self, device: torch.device) -> GSLRM:
        """FaceLift's .pt (architecture: ``init``, default ``facelift``), our folder, or a
        random model of the ``init`` preset seeded by ``seed``."""
        config = self.config
        if config.checkpoint is not None:
            path = Path(config.checkpoint)
            if path.is_file():
                return load_facelift_checkpoint(path, load_gslrm_config(config.init or
                                                                        "facelift"),
                                                device=device)
            model, _ = load_gslrm(path, device=device)
            return model
        torch.manual_seed(config.seed)
        return GSLRM(load_gslrm_config(config.init or "tiny")).to(device)

    def parameter_groups(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        return weight_decay_groups(model.named_parameters(), self.config.weight_decay)

    def train_dataset(self) -> Dataset:
        return GSLRMDataset(self.dataset_dir, self.config.train_split, self.data,
                            seed=self.config.seed)

    # --- one micro-batch ---------------------------------------------------------------------
    def loss(self, model: torch.nn.Module, batch: dict[str, Any], generator: torch.Generator
             ) -> torch.Tensor:
        batch = _to_device(batch, self.device)
        out = _predict(model, batch)
        target = batch["target_images"]
        renders = render_targets(out, batch["target_K"], batch["target_c2w"],
                                 batch["background"], target.shape[-2], target.shape[-1])
        depths = None
        if self.config.losses.depth > 0:
            self._note_missing_depth(batch)
            depths = DepthTerms(pixel_camera_depths(out, batch["input_K"], batch["input_c2w"]),
                                batch["input_depth"], renders.depth, batch["target_depth"])
        total, _ = stage2_loss(renders.rgb, target, batch["target_alpha"], self.config.losses,
                               self.step, perceptual=self.perceptual, lpips=self.lpips,
                               render_alpha=renders.alpha, depths=depths,
                               seen=batch["target_seen"])
        return total

    def _note_missing_depth(self, batch: dict[str, Any]) -> None:
        """Say once that samples without geometry targets train without the depth term."""
        missing = [name for name, has in zip(batch["sample"], batch["has_depth"].tolist(),
                                             strict=True) if not has]
        if missing and not self._told_missing_depth:
            self._told_missing_depth = True
            logger.warning("losses.depth: %s (and maybe others) has no geometry targets, so the "
                           "depth term is off for it; run `mouselift geometry %s`", missing[0],
                           self.dataset_dir)

    # --- validation and export -------------------------------------------------------------
    @torch.no_grad()
    def validate(self, step: int, images: bool) -> Validation | None:
        if self.val_dataset is None:
            return None
        self.model.eval()
        count = min(self.config.validation_samples, len(self.val_dataset))
        values: dict[str, list[float]] = {"psnr": [], "psnr_masked": [], "ssim": [], "iou": []}
        rows: list[list[np.ndarray | None]] = []
        for i in range(count):
            batch = _to_device(collate_gslrm([self.val_dataset[i]]), self.device)
            out = _predict(self.model, batch)
            target = batch["target_images"]
            rendered = render_targets(out, batch["target_K"], batch["target_c2w"],
                                      batch["background"], target.shape[-2], target.shape[-1])
            x, y = rendered.rgb[0].clamp(0, 1).float(), target[0].float()
            mask = batch["target_alpha"][0, :, 0] > MOUSE_ALPHA_THRESHOLD
            values["psnr"].append(float(psnr(x, y).mean()))
            values["psnr_masked"].append(float(masked_psnr(x, y, mask).mean()))
            values["ssim"].append(float(ssim(x, y).mean()))
            ious = [silhouette_iou(a[0], m[0], MOUSE_ALPHA_THRESHOLD) for a, m in
                    zip(rendered.alpha[0].cpu(), batch["target_alpha"][0].cpu(), strict=True)]
            values["iou"] += [v for v in ious if v is not None]
            if images:
                rows += [list(chw_to_uint8(x.cpu())), list(chw_to_uint8(y.cpu()))]
        self.model.train()
        metrics = {k: float(np.mean(v)) for k, v in values.items() if v}
        return Validation(metrics, np.asarray(image_grid(rows)) if rows else None)

    def export(self, folder: Path) -> None:
        save_gslrm(self.model, folder / MODEL_DIR, self.rig)

    def checkpoint_state(self) -> dict[str, Any]:
        return {"rig": self.rig.summary(), "rig_fingerprint": self.rig.fingerprint(),
                "model": self.model_config.model_dump()}


def train_gslrm(config: TrainGSLRMConfig, *, resume: str | None = None,
                progress: bool = True) -> TrainResult:
    """Train Stage 2 as ``config`` says; ``resume="latest"`` (or a checkpoint path) continues a
    run in ``config.output_dir``. Checkpoints are in ``<output_dir>/checkpoints/`` with the
    model in ``checkpoint-NNNNNN/model/``."""
    return train_stage(GSLRMStage(config), resume=resume, progress=progress)


__all__ = ["GSLRMStage", "TargetRenders", "pixel_camera_depths", "render_targets",
           "train_gslrm"]
