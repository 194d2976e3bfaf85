"""Training Stage 1: the multi-view diffusion stage of the training engine
(:mod:`mouselift.train`), on accelerate — one script for CPU, one GPU, many GPUs and many nodes.

Objective (FaceLift's by default, :mod:`mouselift.mvdiff.losses`): v-prediction on the VAE
latents of the rig's views of an object, one timestep per object (shared by its views), min-SNR-γ
weighting, condition dropout per object, EMA of the trained weights. The rig's view 0 is the
input view, fixed for the whole run.

:class:`MVDiffStage` supplies what is Stage 1's (the pipeline, its data, the loss of a batch,
validation, the ``pipeline/`` folder of a checkpoint); the engine does the rest: optimizer,
schedule, EMA, accumulation, clipping, checkpoints, exact resume (every random draw of a step
comes from ``(seed, step, micro-batch, rank)``, the data order from ``(seed, epoch)``), logging.

Launch: ``mouselift train mvdiff …`` on one device, or
``accelerate launch [--multi_gpu --num_processes N --num_machines M …] -m mouselift train
mvdiff …``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import DDPMScheduler

from ..cameras.rig import Rig
from ..data.dataset_rig import resolve_rig
from ..data.layout import training_dataset
from ..errors import ConfigError
from ..images import WHITE, chw_to_uint8, composite, image_grid
from ..train import Run, Stage, TrainResult, Validation, train_stage
from .attention import set_multiview_attention
from .camera_embedding import CameraEmbedding, time_embed_dim
from .config import load_mvdiff_config
from .dataset import MultiViewDataset, training_views, validation_views
from .losses import diffusion_loss, evaluate_loss
from .pipeline import PIPELINE_DIR, MultiViewDiffusionPipeline
from .train_config import TrainMVDiffConfig
from .unet import MultiViewSettings
from .vae_trainer import load_vae


def build_rig(config: TrainMVDiffConfig, pipe: MultiViewDiffusionPipeline) -> Rig:
    """The rig named by ``config.rig``, at ``config.image_size`` when set, else at the
    pipeline's own size — its saved rig's (a pipeline trained here), or the size its UNet is
    built for (:attr:`MultiViewDiffusionPipeline.native_size`) — never the dataset's: the UNet
    and VAE get views at the size the rig says."""
    if config.rig == "pipeline":
        if pipe.rig is None:
            raise ConfigError("rig: 'pipeline' but the pipeline has no saved rig")
        rig = pipe.rig
    else:
        rig = resolve_rig(config.rig, dataset=config.dataset, reference_view=config.reference_view,
                          split=config.train_split)
    size = config.image_size or (pipe.rig.width if pipe.rig is not None else pipe.native_size)
    return rig if (rig.width, rig.height) == (size, size) else rig.resized(size)


def load_training_pipeline(config: TrainMVDiffConfig, resume_from: Path | None
                           ) -> MultiViewDiffusionPipeline:
    """The pipeline to train: from the checkpoint being resumed, a pretrained folder, or random
    (``init`` preset, seeded by ``config.seed``; with ``vae``, a trained autoencoder instead of
    its random one)."""
    if resume_from is not None:
        return MultiViewDiffusionPipeline.from_pretrained(resume_from / PIPELINE_DIR)
    if config.pipeline is not None:
        pipe = MultiViewDiffusionPipeline.from_pretrained(config.pipeline)
    else:
        arch = load_mvdiff_config(config.init)
        pipe = MultiViewDiffusionPipeline.from_architecture(arch, seed=config.seed)
        if config.vae is not None:
            own = pipe.native_size
            pipe.vae = load_vae(config.vae)
            if pipe.native_size != own:
                raise ConfigError(f"vae {config.vae}: it halves the image "
                                  f"{len(pipe.vae.config.block_out_channels) - 1} times, the "
                                  f"{config.init} preset's UNet needs views of {own} px")
    pipe.set_rig(build_rig(config, pipe))
    assert pipe.rig is not None
    attention = config.attention or pipe.settings.attention
    pipe.settings = MultiViewSettings(pipe.rig.num_views, attention)
    set_multiview_attention(pipe.unet, pipe.rig.num_views, attention)
    if config.camera_embedding and pipe.camera_embedding is None:
        torch.manual_seed(config.seed)
        pipe.camera_embedding = CameraEmbedding(
            time_embed_dim=time_embed_dim(pipe.unet))
    return pipe


class MVDiffStage(Stage):
    """Stage 1 for the training engine: the pipeline's denoiser (UNet ⊕ optional camera
    embedding) is trained with :func:`~mouselift.mvdiff.losses.diffusion_loss`; the frozen
    VAE and CLIP parts run in ``weight_dtype``; validation is the objective on fixed draws plus
    a grid of sampled views; a checkpoint's payload is the whole pipeline (EMA weights, rig)."""

    name = "mvdiff"
    payload_dirs = (PIPELINE_DIR,)

    def __init__(self, config: TrainMVDiffConfig) -> None:
        super().__init__(config)
        self.config: TrainMVDiffConfig = config
        self.dataset_dir = training_dataset(config.dataset)

    def build(self, run: Run) -> torch.nn.Module:
        config, device = self.config, run.device
        self.pipe = pipe = load_training_pipeline(config, run.resume_from)
        assert pipe.rig is not None and pipe.prompt_embeds is not None
        self.rig = pipe.rig
        self.weight_dtype = run.weight_dtype
        for frozen in (pipe.vae, pipe.image_encoder):
            frozen.requires_grad_(False).eval().to(device)
            if self.weight_dtype != torch.float32:
                torch.nn.Module.to(frozen, dtype=self.weight_dtype)
        pipe.image_normalizer.requires_grad_(False).to(device)
        model = pipe.denoiser
        model.train()
        if config.gradient_checkpointing:
            pipe.unet.enable_gradient_checkpointing()
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        # the trainable model gets float32 inputs; autocast (if any) lowers them
        self.prompts = pipe.prompt_embeds.to(device, torch.float32)
        self.val_dataset = validation_views(self.dataset_dir, config.val_split, self.rig,
                                            config.validation_samples)
        return model

    def train_dataset(self) -> MultiViewDataset:
        config = self.config
        return training_views(self.dataset_dir, config.train_split, self.rig, config.augment,
                              config.seed)

    def loss(self, model: torch.nn.Module, batch: dict[str, Any], generator: torch.Generator
             ) -> torch.Tensor:
        poses = batch["poses"] if self.pipe.camera_embedding is not None else None
        return diffusion_loss(model, self.pipe, self.noise_scheduler, batch["targets"], poses,
                              self.prompts, generator, self.config.objective(),
                              weight_dtype=self.weight_dtype, seen=batch["seen"])

    def validate(self, step: int, images: bool) -> Validation | None:
        """The objective on the validation samples with fixed draws; with ``images``, a grid of
        views sampled from them (rows: input | generated views, then the real views)."""
        if self.val_dataset is None:
            return None
        config = self.config
        indices = list(range(min(config.validation_samples, len(self.val_dataset))))
        loss = evaluate_loss(self.pipe, self.val_dataset, indices=indices, seed=config.seed,
                             objective=config.objective())
        return Validation({"loss": loss}, self._sample_grid(indices) if images else None)

    def _sample_grid(self, indices: list[int]) -> np.ndarray:
        assert self.val_dataset is not None
        config, pipe = self.config, self.pipe
        pipe.unet.eval()
        rows = []
        for i in indices:
            rgba, poses = self.val_dataset.load_views(i)
            real = composite(rgba, WHITE, channels_last=False)
            out = pipe(real[0], num_inference_steps=config.validation_steps,
                       solver=config.validation_solver, eta=config.validation_eta,
                       guidance_scale=config.validation_guidance, seed=config.seed,
                       pose_features=poses)
            rows.append([chw_to_uint8(out.inputs[0]), *chw_to_uint8(out.images[0])])
            rows.append([None, *chw_to_uint8(real)])
        return np.asarray(image_grid(rows))

    def export(self, folder: Path) -> None:
        self.pipe.save_pretrained(folder / PIPELINE_DIR)

    def checkpoint_state(self) -> dict[str, Any]:
        return {"rig": self.rig.summary(), "rig_fingerprint": self.rig.fingerprint()}


def train_mvdiff(config: TrainMVDiffConfig, *, resume: str | None = None,
                 progress: bool = True) -> TrainResult:
    """Train Stage 1 as ``config`` says; ``resume="latest"`` (or a checkpoint path) continues a
    run in ``config.output_dir``. Returns what was done; checkpoints are in
    ``<output_dir>/checkpoints/``."""
    return train_stage(MVDiffStage(config), resume=resume, progress=progress)
