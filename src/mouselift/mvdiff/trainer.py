"""Training Stage 1 with accelerate: one script for CPU, one GPU, many GPUs and many nodes.

Objective (FaceLift's): v-prediction on the VAE latents of the rig's views of an object, one
timestep per object (shared by its views), min-SNR-γ weighting ``min(SNR, γ) / (SNR + 1)``,
condition dropout per object (class labels and input latents zeroed together), EMA of the
trained weights. The rig's view 0 is the input view, fixed for the whole run.

Every random draw of a step comes from a generator seeded by ``(seed, step, micro-batch, rank)``
and the data order from ``(seed, epoch)``, so a resumed run continues exactly where the
interrupted one would have gone (same processes count assumed). Gradient accumulation is done
here (``no_sync`` on all but the last micro-batch), not by accelerate's counter, for the same
reason.

Launch: ``mouselift train mvdiff …`` on one device, or
``accelerate launch [--multi_gpu --num_processes N --num_machines M …] -m mouselift train
mvdiff …``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import ProjectConfiguration
from diffusers import DDPMScheduler
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from PIL import Image
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..atomic import atomic_write_path
from ..cameras.rig import Rig, facelift_rig, load_rig, rig_from_dataset
from ..data.prepare.manifest import read_split
from ..errors import ConfigError, MouseliftError
from ..splat.turntable import to_uint8
from . import checkpoints as ckpt
from .attention import set_multiview_attention
from .camera_embedding import CameraEmbedding, time_embed_dim
from .conditioning import WHITE, composite
from .config import load_architecture
from .dataset import EpochSampler, MultiViewDataset, step_generator
from .objective import diffusion_loss, evaluate_loss
from .pipeline import MultiViewDiffusionPipeline
from .train_config import RUNTIME_KEYS, TrainMVDiffConfig
from .unet import MultiViewSettings

VALIDATION_DIR = "validation"
LOG_DIR = "logs"


@dataclass
class TrainResult:
    """What a call of :func:`train_mvdiff` did. ``losses``: mean loss of each optimizer step
    run in this call (first to last); ``val_losses``: ``(step, objective)`` on the validation
    samples with fixed timesteps and noise (EMA weights), at the start and at each validation."""

    output_dir: Path
    start_step: int
    end_step: int
    losses: list[float] = field(default_factory=list)
    val_losses: list[tuple[int, float]] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    validation_images: list[Path] = field(default_factory=list)
    main_process: bool = True


def _weight_dtype(mixed_precision: str) -> torch.dtype:
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed_precision, torch.float32)


def _multi_process_cpu() -> bool:
    """Launched as several processes (torchrun / accelerate launch) on a machine without CUDA:
    tell accelerate to run distributed on the CPU (gloo) instead of as independent copies."""
    return not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in RUNTIME_KEYS}


def _flat_hparams(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat_hparams(value, name + "."))
        elif isinstance(value, bool | int | float | str):
            out[name] = value
        else:
            out[name] = json.dumps(value)
    return out


def _check_resume(config: TrainMVDiffConfig, state: dict[str, Any], where: Path) -> None:
    saved = _comparable(state.get("config", {}))
    now = _comparable(config.model_dump(mode="json"))
    for key in sorted(set(saved) | set(now)):
        if saved.get(key) != now.get(key):
            raise ckpt.CheckpointError(
                f"{where}: was trained with {key}={saved.get(key)!r}, this run has "
                f"{key}={now.get(key)!r}; resume with the same settings"
            )


def build_rig(config: TrainMVDiffConfig, pipe: MultiViewDiffusionPipeline) -> Rig:
    """The rig named by ``config.rig`` (at ``config.resolution`` when set)."""
    if config.rig == "dataset":
        assert config.dataset is not None
        rig = rig_from_dataset(config.dataset, reference_view=config.reference_view,
                               split=config.train_split)
    elif config.rig == "pipeline":
        if pipe.rig is None:
            raise ConfigError("rig: 'pipeline' but the pipeline has no saved rig")
        rig = pipe.rig
    elif config.rig == "facelift":
        rig = facelift_rig(config.resolution or 512)
    else:
        rig = load_rig(config.rig)
    if config.resolution is not None and (rig.width, rig.height) != (config.resolution,) * 2:
        rig = rig.resized(config.resolution)
    return rig


def load_training_pipeline(config: TrainMVDiffConfig, resume_from: Path | None
                           ) -> MultiViewDiffusionPipeline:
    """The pipeline to train: from the checkpoint being resumed, a pretrained folder, or random
    (``init`` preset, seeded by ``config.seed``)."""
    if resume_from is not None:
        return MultiViewDiffusionPipeline.from_pretrained(resume_from / ckpt.PIPELINE_DIR)
    if config.pipeline is not None:
        pipe = MultiViewDiffusionPipeline.from_pretrained(config.pipeline)
    else:
        arch = load_architecture(config.init or "tiny")
        pipe = MultiViewDiffusionPipeline.from_architecture(arch, seed=config.seed)
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


class _Trainer:
    def __init__(self, config: TrainMVDiffConfig, resume: str | None, progress: bool) -> None:
        if config.dataset is None:
            raise ConfigError("no dataset: give --dataset (a prepared dataset folder)")
        if config.output_dir is None:
            raise ConfigError("no output folder: give --output")
        if config.log_with == "wandb":
            try:
                import wandb  # noqa: F401
            except ImportError:
                raise ConfigError("log_with: wandb needs the wandb package "
                                  "(pip install wandb)") from None
        self.config = config
        self.progress = progress
        self.output_dir = Path(config.output_dir).absolute()
        self.dataset_dir = Path(config.dataset).absolute()
        self.resume_from = ckpt.resolve_resume(self.output_dir, resume) if resume else None
        self.resume_state: dict[str, Any] = {}
        if self.resume_from is not None:
            self.resume_state = ckpt.read_state(self.resume_from)
            _check_resume(config, self.resume_state, self.resume_from)
        elif ckpt.list_checkpoints(self.output_dir):
            raise ckpt.CheckpointError(
                f"{self.output_dir} already holds checkpoints: resume with --resume latest, or "
                "choose another --output")

        # A second run in one process (a notebook, the tests) may change mixed precision;
        # accelerate keeps that in a process-wide singleton. Reset it, keeping the distributed
        # set-up (PartialState) untouched.
        AcceleratorState._reset_state(reset_partial_state=False)
        self.accelerator = Accelerator(
            cpu=_multi_process_cpu(),
            mixed_precision=config.mixed_precision,
            log_with=None if config.log_with == "none" else config.log_with,
            project_config=ProjectConfiguration(project_dir=str(self.output_dir),
                                                logging_dir=str(self.output_dir / LOG_DIR)),
        )
        acc = self.accelerator
        if config.mixed_precision == "fp16" and acc.device.type == "cpu":
            raise ConfigError("mixed_precision fp16 needs a GPU; use bf16 or no on a CPU")
        self.pipe = load_training_pipeline(config, self.resume_from)
        assert self.pipe.rig is not None and self.pipe.prompt_embeds is not None
        self.rig = self.pipe.rig
        self.weight_dtype = _weight_dtype(config.mixed_precision)
        pipe = self.pipe
        for frozen in (pipe.vae, pipe.image_encoder):
            frozen.requires_grad_(False).eval().to(acc.device)
            if self.weight_dtype != torch.float32:
                torch.nn.Module.to(frozen, dtype=self.weight_dtype)
        pipe.image_normalizer.requires_grad_(False).to(acc.device)
        self.model = pipe.denoiser
        self.model.train()
        if config.gradient_checkpointing:
            pipe.unet.enable_gradient_checkpointing()
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.params, lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2),
            weight_decay=config.weight_decay, eps=config.adam_epsilon)
        self.lr_scheduler = get_scheduler(config.lr_scheduler, self.optimizer,
                                          num_warmup_steps=config.warmup_steps,
                                          num_training_steps=config.max_steps)
        self.ema = EMAModel(self.params, decay=config.ema_decay) if config.use_ema else None
        self.model, self.optimizer = acc.prepare(self.model, self.optimizer)
        acc.register_for_checkpointing(self.lr_scheduler)
        if self.ema is not None:
            self.ema.to(acc.device)
            acc.register_for_checkpointing(self.ema)
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        # the trainable model gets float32 inputs; autocast (if any) lowers them
        self.prompts = pipe.prompt_embeds.to(acc.device, torch.float32)

        aug = config.augment
        self.dataset = MultiViewDataset(self.dataset_dir, config.train_split, self.rig,
                                        backgrounds=list(aug.backgrounds),
                                        brightness=aug.brightness, contrast=aug.contrast,
                                        seed=config.seed)
        self.sampler = EpochSampler(len(self.dataset), config.batch_size, seed=config.seed,
                                    rank=acc.process_index, world=acc.num_processes)
        self.loader = DataLoader(self.dataset, batch_size=config.batch_size,
                                 sampler=self.sampler, num_workers=config.workers,
                                 drop_last=True, pin_memory=acc.device.type == "cuda")
        self.val_dataset = None
        if config.validation_samples and read_split(self.dataset_dir, config.val_split,
                                                    missing_ok=True):
            self.val_dataset = MultiViewDataset(self.dataset_dir, config.val_split, self.rig)
        self.step = 0
        if self.resume_from is not None:
            acc.load_state(str(self.resume_from / ckpt.TRAINING_STATE_DIR))
            self.step = int(self.resume_state["step"])
        self.result = TrainResult(self.output_dir, self.step, self.step,
                                  main_process=acc.is_main_process)

    # --- one optimizer step ------------------------------------------------------------------
    def _batches(self) -> Iterator[dict[str, Any]]:
        consumed = self.step * self.config.gradient_accumulation
        epoch, start = divmod(consumed, self.sampler.batches_per_epoch)
        while True:
            self.sampler.set_epoch(epoch, start)
            self.dataset.set_epoch(epoch)
            yield from self.loader
            epoch, start = epoch + 1, 0

    def _loss(self, batch: dict[str, Any], micro: int) -> torch.Tensor:
        config, acc = self.config, self.accelerator
        generator = step_generator(config.seed, self.step, micro, acc.process_index)
        poses = batch["poses"] if self.pipe.camera_embedding is not None else None
        return diffusion_loss(self.model, self.pipe, self.noise_scheduler, batch["targets"],
                              poses, self.prompts, generator,
                              condition_drop=config.condition_drop, snr_gamma=config.snr_gamma,
                              noise_level=config.noise_level, weight_dtype=self.weight_dtype)

    def _optimizer_step(self, batches: Iterator[dict[str, Any]]) -> float:
        acc, accum = self.accelerator, self.config.gradient_accumulation
        total = 0.0
        for micro in range(accum):
            batch = next(batches)
            sync = micro == accum - 1
            context = contextlib.nullcontext() if sync else acc.no_sync(self.model)
            with context:
                loss = self._loss(batch, micro)
                acc.backward(loss / accum)
            total += float(loss.detach()) / accum
        acc.clip_grad_norm_(self.params, self.config.max_grad_norm)
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.step(self.params)
        loss_avg = acc.reduce(torch.tensor(total, device=acc.device), reduction="mean")
        return float(loss_avg)

    # --- validation and checkpoints -----------------------------------------------------------
    @contextlib.contextmanager
    def _ema_weights(self) -> Iterator[None]:
        if self.ema is None:
            yield
            return
        self.ema.store(self.params)
        self.ema.copy_to(self.params)
        try:
            yield
        finally:
            self.ema.restore(self.params)

    def _val_indices(self) -> list[int]:
        assert self.val_dataset is not None
        return list(range(min(self.config.validation_samples, len(self.val_dataset))))

    def validation_loss(self) -> float | None:
        """The objective on the validation samples with fixed draws (EMA weights); logged."""
        if self.val_dataset is None or not self.accelerator.is_main_process:
            return None
        with self._ema_weights(), self.accelerator.autocast():
            loss = evaluate_loss(self.pipe, self.val_dataset, indices=self._val_indices(),
                                 seed=self.config.seed, snr_gamma=self.config.snr_gamma)
        self.model.train()
        self.result.val_losses.append((self.step, loss))
        if self.config.log_with != "none":
            self.accelerator.log({"val/loss": loss}, step=self.step)
        return loss

    def validate(self) -> Path | None:
        if self.val_dataset is None or not self.accelerator.is_main_process:
            return None
        self.validation_loss()
        config, pipe = self.config, self.pipe
        rows = []
        with self._ema_weights(), self.accelerator.autocast():
            pipe.unet.eval()
            for i in self._val_indices():
                rgba, poses = self.val_dataset.load_views(i)
                real = composite(rgba, WHITE)
                out = pipe(real[0], num_inference_steps=config.validation_steps,
                           solver=config.validation_solver,
                           guidance_scale=config.validation_guidance, seed=config.seed,
                           pose_features=poses)
                blank = torch.ones_like(real[0])
                rows.append(torch.cat([out.inputs[0], *out.images[0]], dim=2))
                rows.append(torch.cat([blank, *real], dim=2))
            self.model.train()
        array = to_uint8(torch.cat(rows, dim=1).permute(1, 2, 0))
        path = self.output_dir / VALIDATION_DIR / f"step-{self.step:06d}.png"
        atomic_write_path(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))
        if self.config.log_with == "tensorboard":
            tracker = self.accelerator.get_tracker("tensorboard")
            tracker.log_images({"validation": array[None]}, step=self.step, dataformats="NHWC")
        self.result.validation_images.append(path)
        return path

    def save_checkpoint(self) -> Path:
        acc = self.accelerator
        partial = ckpt.partial_path(self.output_dir, self.step)
        final = ckpt.checkpoints_root(self.output_dir) / ckpt.checkpoint_name(self.step)
        if acc.is_main_process:
            ckpt.clear_partials(self.output_dir)
            partial.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(partial / ckpt.TRAINING_STATE_DIR))
        acc.wait_for_everyone()  # every rank's RNG state is in before the folder is published
        if acc.is_main_process:
            with self._ema_weights():
                self.pipe.save_pretrained(partial / ckpt.PIPELINE_DIR)
            state = {
                "step": self.step,
                "ema": self.ema is not None,
                "num_processes": acc.num_processes,
                "rig": self.rig.summary(),
                "rig_fingerprint": self.rig.fingerprint(),
                "config": self.config.model_dump(mode="json"),
            }
            ckpt.publish(partial, final, state)
            ckpt.prune(self.output_dir, self.config.keep_last)
        acc.wait_for_everyone()
        self.result.checkpoints.append(final)
        return final

    # --- the loop -----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        config, acc = self.config, self.accelerator
        if self.step >= config.max_steps:
            return self.result
        if config.log_with != "none":
            acc.init_trackers("mouselift-mvdiff", config=_flat_hparams(config.model_dump()))
        if self.step == 0:
            self.validation_loss()
        batches = self._batches()
        bar = tqdm(total=config.max_steps, initial=self.step, desc="train mvdiff",
                   disable=not (self.progress and acc.is_main_process), unit="step")
        try:
            while self.step < config.max_steps:
                loss = self._optimizer_step(batches)
                if not math.isfinite(loss):
                    raise MouseliftError(f"loss became {loss} at step {self.step + 1}; lower the "
                                         "learning rate or use bf16 instead of fp16")
                self.step += 1
                self.result.losses.append(loss)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if self.step % config.log_every == 0 and config.log_with != "none":
                    acc.log({"train/loss": loss,
                             "train/lr": self.lr_scheduler.get_last_lr()[0]}, step=self.step)
                last = self.step == config.max_steps
                if self.step % config.validate_every == 0 or last:
                    self.validate()
                if self.step % config.checkpoint_every == 0 or last:
                    self.save_checkpoint()
        finally:
            bar.close()
            acc.end_training()
        self.result.end_step = self.step
        return self.result


def train_mvdiff(config: TrainMVDiffConfig, *, resume: str | None = None,
                 progress: bool = True) -> TrainResult:
    """Train Stage 1 as ``config`` says; ``resume="latest"`` (or a checkpoint path) continues a
    run in ``config.output_dir``. Returns what was done; checkpoints are in
    ``<output_dir>/checkpoints/``."""
    return _Trainer(config, resume, progress).run()
