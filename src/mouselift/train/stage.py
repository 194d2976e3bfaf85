"""What a stage gives the training engine (:class:`Stage`), and what the engine gives it
(:class:`Run`).

The engine calls, in this order: ``build(run)`` (once, after accelerate is set up; returns the
module to train), ``parameter_groups(model)`` (for AdamW), ``train_dataset()``; then per
micro-batch ``loss(model, batch, generator)``; on the main process, with the EMA weights in place
and under autocast, ``validate(step, images)``; and, on the main process with the EMA weights in
place, ``export(folder)`` and ``checkpoint_state()`` for each checkpoint. Everything else
(optimizer, schedule, EMA, accumulation, clipping, checkpoints, resume, logging) is the
engine's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from accelerate import Accelerator
from torch.utils.data import Dataset

from .config import TrainLoopConfig


@dataclass
class Run:
    """The engine's side of a run, given to :meth:`Stage.build`. ``resume_from`` is the
    checkpoint being resumed (``None`` for a new run): load the exported payload from it if the
    stage needs its non-trained parts; the trained weights, optimizer, EMA and RNG are restored
    by the engine afterwards. ``weight_dtype``: the dtype for frozen parts under
    ``mixed_precision`` (float32 without)."""

    accelerator: Accelerator
    output_dir: Path
    resume_from: Path | None
    resume_state: dict[str, Any]
    weight_dtype: torch.dtype

    @property
    def device(self) -> torch.device:
        return self.accelerator.device

    @property
    def is_main_process(self) -> bool:
        return self.accelerator.is_main_process


@dataclass
class Validation:
    """What one validation gives: ``metrics`` (logged as ``val/<name>``) and, optionally, one
    ``image`` ``(H, W, 3)`` uint8 (written to ``validation/step-NNNNNN.png``, logged to
    tensorboard as ``validation``)."""

    metrics: dict[str, float] = field(default_factory=dict)
    image: np.ndarray | None = None


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def weight_decay_groups(named_parameters: Iterable[tuple[str, torch.nn.Parameter]],
                        weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups with weight decay on weights of two or more dimensions only
    (matrices, convolution kernels, embeddings), none on biases and norm scales; parameters
    that do not require grad are left out, and so are empty groups."""
    decay, no_decay = [], []
    for _, p in named_parameters:
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


class Stage(ABC):
    """One stage's training: its models, data, loss, validation and exported checkpoint payload.

    ``name`` names the run in the progress bar (``train <name>``) and the trackers
    (``mouselift-<name>``); ``payload_dirs`` are the folders :meth:`export` writes into a
    checkpoint (a checkpoint without one of them is incomplete); ``collate_fn`` is given to the
    DataLoader. A stage checks its own settings in ``__init__`` (before anything is built)."""

    name: ClassVar[str] = "stage"
    payload_dirs: ClassVar[tuple[str, ...]] = ()
    collate_fn: Callable[[list[Any]], Any] | None = None
    #: Optimizer steps done before the one being computed (set by the engine before each step;
    #: for schedules inside the loss, e.g. a loss warm-up).
    step: int = 0

    def __init__(self, config: TrainLoopConfig) -> None:
        self.config = config

    @abstractmethod
    def build(self, run: Run) -> torch.nn.Module:
        """Build or load the models (frozen parts on ``run.device``) and return the module to
        train; its parameters that require grad are trained. Called once, on every process."""

    def parameter_groups(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        """AdamW parameter groups of ``model`` (the module :meth:`build` returned); a group
        without ``weight_decay`` gets ``config.weight_decay``. Default: one group of all
        trainable parameters. See :func:`weight_decay_groups` for decay on ≥2-D weights only."""
        return [{"params": trainable_parameters(model)}]

    @abstractmethod
    def train_dataset(self) -> Dataset:
        """The training items (the engine samples, batches and orders them; an optional
        ``set_epoch(epoch)`` method is called at each epoch, for seeded augmentation)."""

    @abstractmethod
    def loss(self, model: torch.nn.Module, batch: Any, generator: torch.Generator
             ) -> torch.Tensor:
        """Scalar loss of one micro-batch. ``model`` is the built module as prepared by
        accelerate (possibly wrapped for data parallelism: call it, do not unwrap it);
        ``generator`` (CPU) is seeded by (seed, step, micro-batch, rank): draw every random
        number of the step from it."""

    def validate(self, step: int, images: bool) -> Validation | None:
        """Validation at ``step`` (main process only, EMA weights, autocast; the engine puts the
        model back in train mode afterwards). ``images=False`` (the cheap one before the first
        step) asks for metrics only. ``None``: nothing to validate."""
        return None

    @abstractmethod
    def export(self, folder: Path) -> None:
        """Write the stage's payload (the folders named by ``payload_dirs``) into the checkpoint
        ``folder`` being assembled (main process only, EMA weights in place)."""

    def checkpoint_state(self) -> dict[str, Any]:
        """Fields added to ``trainer_state.json`` (JSON-serialisable)."""
        return {}
