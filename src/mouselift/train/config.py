"""Settings of the training loop shared by every stage (:class:`TrainLoopConfig`).

A stage's config subclasses :class:`TrainLoopConfig` and adds its own keys (an unknown key stays
an error: the models are strict). A stage may redeclare a field to change its default. Keys in
``RUNTIME_KEYS`` may change between a run and its resumption (how long, how often to save or
log, where the files are); every other key must match the checkpoint being resumed. A stage
extends the set: ``RUNTIME_KEYS = TrainLoopConfig.RUNTIME_KEYS | {"my_key"}``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from ..config import StrictModel


class TrainLoopConfig(StrictModel):
    """What the engine acts on: optimisation, precision, EMA, checkpoints, validation cadence,
    logging. The defaults are FaceLift's Stage-1 fine-tune settings."""

    RUNTIME_KEYS: ClassVar[frozenset[str]] = frozenset({
        "output_dir", "max_steps", "checkpoint_every", "keep_last", "validate_every",
        "log_every", "log_with", "workers"})

    output_dir: str | None = None

    # optimisation
    max_steps: int = Field(30000, ge=1)
    batch_size: int = Field(4, ge=1, description="objects per process per micro-batch")
    gradient_accumulation: int = Field(4, ge=1)
    learning_rate: float = Field(5e-5, gt=0)
    lr_scheduler: Literal["constant", "constant_with_warmup", "cosine", "linear"] = (
        "constant_with_warmup")
    warmup_steps: int = Field(100, ge=0)
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    weight_decay: float = Field(1e-2, ge=0)
    adam_epsilon: float = 1e-8
    max_grad_norm: float = Field(1.0, gt=0)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    use_ema: bool = True
    ema_decay: float = Field(0.9999, gt=0, lt=1)

    # bookkeeping
    checkpoint_every: int = Field(1000, ge=1)
    keep_last: int = Field(3, ge=1)
    validate_every: int = Field(500, ge=1)
    log_every: int = Field(10, ge=1)
    log_with: Literal["tensorboard", "wandb", "none"] = "tensorboard"
    seed: int = 0
    workers: int = Field(2, ge=0, description="data-loading worker processes per process")

    @classmethod
    def comparable(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` (a dumped config) without the keys that may change on resumption."""
        return {k: v for k, v in data.items() if k not in cls.RUNTIME_KEYS}
