"""The training loop every stage shares, on accelerate: one script for CPU, one GPU, many GPUs
and many nodes.

A :class:`~mouselift.train.stage.Stage` supplies its models, data, the loss of one micro-batch,
validation and the payload of a checkpoint; the engine owns the rest: accelerate, AdamW over the
stage's parameter groups, the LR schedule, EMA of the trained weights, gradient accumulation
(``no_sync`` on all but the last micro-batch, done here rather than by accelerate's counter so
that a resumed run is exact), gradient clipping, the stop on a non-finite loss, checkpoints
(:mod:`mouselift.train.checkpoints`), exact resumption, validation cadence, tensorboard / wandb
and the progress bar.

Exact resumption: the data order comes from ``(seed, epoch)`` and every random draw of a step
from a generator seeded by ``(seed, step, micro-batch, rank)`` (:mod:`mouselift.train.sampling`);
a checkpoint holds the raw weights, optimizer, schedule, EMA and every process's RNG, and the
data position follows from the step. A resumed run continues exactly as the uninterrupted one
would have (with the same number of processes).
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

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import ProjectConfiguration
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from PIL import Image
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..atomic import atomic_write_path
from ..config import upgrade_renamed_keys
from ..config.base import flat_keys
from ..errors import ConfigError, MouseliftError
from ..threads import single_thread_worker
from . import checkpoints as ckpt
from .config import TrainLoopConfig
from .sampling import EpochSampler, step_generator
from .stage import Run, Stage, Validation

VALIDATION_DIR = "validation"
LOG_DIR = "logs"


class LossNotFiniteError(MouseliftError):
    """The loss of a step became NaN or infinite: training stopped, that step was not saved."""


@dataclass
class TrainResult:
    """What one call of :func:`train_stage` did. ``losses``: mean loss (over micro-batches and
    processes) of each optimizer step run in this call, first to last; ``validations``:
    ``(step, metrics)`` of each validation (main process; with EMA weights), including the one
    before the first step of a new run; ``resumed_from``: the checkpoint a resumed run started
    from."""

    output_dir: Path
    start_step: int
    end_step: int
    losses: list[float] = field(default_factory=list)
    validations: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    validation_images: list[Path] = field(default_factory=list)
    main_process: bool = True
    resumed_from: Path | None = None

    @property
    def val_losses(self) -> list[tuple[int, float]]:
        """``(step, loss)`` of the validations that report a ``loss``."""
        return [(step, m["loss"]) for step, m in self.validations if "loss" in m]


def weight_dtype(mixed_precision: str) -> torch.dtype:
    return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(mixed_precision, torch.float32)


def _multi_process_cpu() -> bool:
    """Launched as several processes (torchrun / accelerate launch) on a machine without CUDA:
    tell accelerate to run distributed on the CPU (gloo) instead of as independent copies."""
    return not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1


def flat_hparams(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as flat ``a.b`` keys of scalars (what trackers accept): other values as
    JSON text."""
    return {name: value if isinstance(value, bool | int | float | str) else json.dumps(value)
            for name, value in flat_keys(config, prefix).items()}


def _with_added_keys(saved: Any, defaults: Any) -> Any:
    """``saved`` (a dumped config) with each key it lacks — added to the config since it was
    saved — at its default, at every depth."""
    if not isinstance(saved, dict) or not isinstance(defaults, dict):
        return saved
    return {**{k: v for k, v in defaults.items() if k not in saved},
            **{k: _with_added_keys(v, defaults.get(k)) for k, v in saved.items()}}


def check_resume(config: TrainLoopConfig, state: dict[str, Any], where: Path) -> None:
    """Refuse to resume with a setting (other than a runtime key) that differs from the
    checkpoint's. A key the checkpoint's config lacks (added since) counts as its default."""
    defaults = type(config).model_construct().model_dump(mode="json")
    saved = config.comparable(_with_added_keys(
        upgrade_renamed_keys(type(config), state.get("config", {})), defaults))
    now = config.comparable(config.model_dump(mode="json"))
    for key in sorted(set(saved) | set(now)):
        if saved.get(key) != now.get(key):
            raise ckpt.CheckpointError(
                f"{where}: was trained with {key}={saved.get(key)!r}, this run has "
                f"{key}={now.get(key)!r}; resume with the same settings"
            )


class TrainingEngine:
    """One training run of ``stage`` (see :func:`train_stage`)."""

    def __init__(self, stage: Stage, resume: str | Path | None = None,
                 progress: bool = True) -> None:
        config = stage.config
        if config.output_dir is None:
            raise ConfigError("no output folder: give --output")
        if config.log_with == "wandb":
            try:
                import wandb  # noqa: F401
            except ImportError:
                raise ConfigError("log_with: wandb needs the wandb package "
                                  "(pip install wandb)") from None
        self.stage, self.config, self.progress = stage, config, progress
        self.output_dir = Path(config.output_dir).absolute()
        self.resume_from, self.resume_state = self._resolve_resume(resume)
        self.accelerator = self._make_accelerator()
        self.run_context = Run(self.accelerator, self.output_dir, self.resume_from,
                               self.resume_state, weight_dtype(config.mixed_precision))
        self._setup_optimisation(stage.build(self.run_context))
        self._setup_data()
        self.step = 0
        if self.resume_from is not None:
            self.accelerator.load_state(str(self.resume_from / ckpt.TRAINING_STATE_DIR))
            self.step = int(self.resume_state["step"])
        self.result = TrainResult(self.output_dir, self.step, self.step,
                                  main_process=self.accelerator.is_main_process,
                                  resumed_from=self.resume_from)

    # --- set-up -------------------------------------------------------------------------------
    def _resolve_resume(self, resume: str | Path | None) -> tuple[Path | None, dict[str, Any]]:
        required = self.stage.payload_dirs
        if resume is None:
            if ckpt.list_checkpoints(self.output_dir, required):
                raise ckpt.CheckpointError(
                    f"{self.output_dir} already holds checkpoints: resume with --resume latest, "
                    "or choose another --output")
            return None, {}
        path = ckpt.resolve_resume(self.output_dir, resume, required)
        state = ckpt.read_state(path)
        check_resume(self.config, state, path)
        return path, state

    def _make_accelerator(self) -> Accelerator:
        config = self.config
        # A second run in one process (a notebook, the tests) may change mixed precision;
        # accelerate keeps that in a process-wide singleton. Reset it, keeping the distributed
        # set-up (PartialState) untouched.
        AcceleratorState._reset_state(reset_partial_state=False)
        acc = Accelerator(
            cpu=_multi_process_cpu(),
            mixed_precision=config.mixed_precision,
            log_with=None if config.log_with == "none" else config.log_with,
            project_config=ProjectConfiguration(project_dir=str(self.output_dir),
                                                logging_dir=str(self.output_dir / LOG_DIR)),
        )
        if config.mixed_precision == "fp16" and acc.device.type == "cpu":
            raise ConfigError("mixed_precision fp16 needs a GPU; use bf16 or no on a CPU")
        return acc

    def _setup_optimisation(self, model: torch.nn.Module) -> None:
        config, acc = self.config, self.accelerator
        model.train()
        groups = [{**g, "params": list(g["params"])}
                  for g in self.stage.parameter_groups(model)]
        self.params = [p for g in groups for p in g["params"]]
        self.optimizer = torch.optim.AdamW(
            groups, lr=config.learning_rate, betas=(config.adam_beta1, config.adam_beta2),
            weight_decay=config.weight_decay, eps=config.adam_epsilon)
        self.lr_scheduler = get_scheduler(config.lr_scheduler, self.optimizer,
                                          num_warmup_steps=config.warmup_steps,
                                          num_training_steps=config.max_steps)
        self.ema = EMAModel(self.params, decay=config.ema_decay) if config.use_ema else None
        self.model, self.optimizer = acc.prepare(model, self.optimizer)
        acc.register_for_checkpointing(self.lr_scheduler)
        if self.ema is not None:
            self.ema.to(acc.device)
            acc.register_for_checkpointing(self.ema)

    def _setup_data(self) -> None:
        config, acc = self.config, self.accelerator
        self.dataset = self.stage.train_dataset()
        self.sampler = EpochSampler(len(self.dataset), config.batch_size, seed=config.seed,
                                    rank=acc.process_index, world=acc.num_processes)
        self.loader = DataLoader(self.dataset, batch_size=config.batch_size,
                                 sampler=self.sampler, num_workers=config.workers,
                                 drop_last=True, pin_memory=acc.device.type == "cuda",
                                 collate_fn=self.stage.collate_fn,
                                 worker_init_fn=single_thread_worker)

    # --- one optimizer step -------------------------------------------------------------------
    def _batches(self) -> Iterator[Any]:
        """Micro-batches from the data position of the current step on, epoch after epoch."""
        consumed = self.step * self.config.gradient_accumulation
        epoch, start = divmod(consumed, self.sampler.batches_per_epoch)
        set_epoch = getattr(self.dataset, "set_epoch", None)
        while True:
            self.sampler.set_epoch(epoch, start)
            if set_epoch is not None:
                set_epoch(epoch)
            yield from self.loader
            epoch, start = epoch + 1, 0

    def _optimizer_step(self, batches: Iterator[Any]) -> float:
        """Accumulate the gradients of one step, stop on a non-finite loss (before the weights
        change), clip, step optimizer, schedule and EMA; the loss averaged over processes."""
        acc, accum = self.accelerator, self.config.gradient_accumulation
        total = 0.0
        self.stage.step = self.step
        for micro in range(accum):
            batch = next(batches)
            sync = micro == accum - 1
            context = contextlib.nullcontext() if sync else acc.no_sync(self.model)
            with context:
                generator = step_generator(self.config.seed, self.step, micro,
                                           acc.process_index)
                loss = self.stage.loss(self.model, batch, generator)
                acc.backward(loss / accum)
            total += float(loss.detach()) / accum
        loss_avg = float(acc.reduce(torch.tensor(total, device=acc.device), reduction="mean"))
        if not math.isfinite(loss_avg):
            self._stop_not_finite(loss_avg)
        acc.clip_grad_norm_(self.params, self.config.max_grad_norm)
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.step(self.params)
        return loss_avg

    def _stop_not_finite(self, loss: float) -> None:
        found = ckpt.list_checkpoints(self.output_dir, self.stage.payload_dirs)
        last = f"the last good checkpoint is {found[-1][1]}" if found else "no checkpoint yet"
        raise LossNotFiniteError(
            f"loss became {loss} at step {self.step + 1}; stopped without saving it, "
            f"{last}; lower the learning rate or use bf16 instead of fp16")

    # --- validation and checkpoints -----------------------------------------------------------
    @contextlib.contextmanager
    def ema_weights(self) -> Iterator[None]:
        """The EMA weights in the trained parameters for the duration of the block."""
        if self.ema is None:
            yield
            return
        self.ema.store(self.params)
        self.ema.copy_to(self.params)
        try:
            yield
        finally:
            self.ema.restore(self.params)

    def validate(self, images: bool = True) -> Validation | None:
        """The stage's validation at the current step (main process; EMA weights); logged."""
        acc = self.accelerator
        if not acc.is_main_process:
            return None
        with self.ema_weights(), acc.autocast():
            report = self.stage.validate(self.step, images)
        self.model.train()
        if report is None:
            return None
        self.result.validations.append((self.step, dict(report.metrics)))
        if self.config.log_with != "none" and report.metrics:
            acc.log({f"val/{k}": v for k, v in report.metrics.items()}, step=self.step)
        if report.image is not None:
            self._save_validation_image(report.image)
        return report

    def _save_validation_image(self, image: np.ndarray) -> Path:
        path = self.output_dir / VALIDATION_DIR / f"step-{self.step:06d}.png"
        atomic_write_path(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
        if self.config.log_with == "tensorboard":
            tracker = self.accelerator.get_tracker("tensorboard")
            tracker.log_images({"validation": image[None]}, step=self.step, dataformats="NHWC")
        self.result.validation_images.append(path)
        return path

    def _trainer_state(self) -> dict[str, Any]:
        return {"step": self.step, "ema": self.ema is not None,
                "num_processes": self.accelerator.num_processes,
                **self.stage.checkpoint_state(),
                "config": self.config.model_dump(mode="json")}

    def _export(self, folder: Path) -> None:
        with self.ema_weights():
            self.stage.export(folder)

    def save_checkpoint(self) -> Path:
        """Every process saves its training state into the shared partial folder; the main
        process adds the stage's payload and ``trainer_state.json`` and publishes atomically."""
        acc = self.accelerator
        partial = ckpt.partial_path(self.output_dir, self.step)
        final = ckpt.checkpoint_path(self.output_dir, self.step)
        if acc.is_main_process:
            ckpt.clear_partials(self.output_dir)
            partial.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(partial / ckpt.TRAINING_STATE_DIR))
        acc.wait_for_everyone()  # every rank's RNG state is in before the folder is published
        if acc.is_main_process:
            ckpt.publish(partial, final, self._trainer_state(), self._export)
            ckpt.prune(self.output_dir, self.config.keep_last, self.stage.payload_dirs)
        acc.wait_for_everyone()
        self.result.checkpoints.append(final)
        return final

    # --- the loop -----------------------------------------------------------------------------
    def _after_step(self, loss: float, bar: tqdm) -> None:
        config, acc = self.config, self.accelerator
        self.result.losses.append(loss)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}")
        if self.step % config.log_every == 0 and config.log_with != "none":
            acc.log({"train/loss": loss, "train/lr": self.lr_scheduler.get_last_lr()[0]},
                    step=self.step)
        last = self.step == config.max_steps
        if self.step % config.validate_every == 0 or last:
            self.validate(images=True)
        if self.step % config.checkpoint_every == 0 or last:
            self.save_checkpoint()

    def run(self) -> TrainResult:
        config, acc = self.config, self.accelerator
        if self.step >= config.max_steps:
            return self.result
        if config.log_with != "none":
            acc.init_trackers(f"mouselift-{self.stage.name}",
                              config=flat_hparams(config.model_dump()))
        if self.step == 0:
            self.validate(images=False)
        batches = self._batches()
        bar = tqdm(total=config.max_steps, initial=self.step, desc=f"train {self.stage.name}",
                   disable=not (self.progress and acc.is_main_process), unit="step")
        try:
            while self.step < config.max_steps:
                loss = self._optimizer_step(batches)
                self.step += 1
                self._after_step(loss, bar)
        finally:
            bar.close()
            acc.end_training()
        self.result.end_step = self.step
        return self.result


def train_stage(stage: Stage, *, resume: str | Path | None = None,
                progress: bool = True) -> TrainResult:
    """Train ``stage`` as its config says; ``resume="latest"`` (or a checkpoint path) continues
    the run in ``config.output_dir``. Checkpoints are in ``<output_dir>/checkpoints/``."""
    return TrainingEngine(stage, resume, progress).run()
