"""Typed config of ``mouselift train mvdiff`` (presets in ``configs/train_mvdiff/``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..config import StrictModel, load_config


class AugmentConfig(StrictModel):
    """Photometric augmentation, one draw per object (same for all its views and the input).
    Nothing geometric: a flip would have to change the cameras too."""

    backgrounds: list[Literal["white", "black", "grey"]] = Field(
        default_factory=lambda: ["white", "black", "grey"])
    brightness: tuple[float, float] = (0.9, 1.1)
    contrast: tuple[float, float] = (0.9, 1.1)

    @model_validator(mode="after")
    def _ranges(self) -> AugmentConfig:
        if not self.backgrounds:
            raise ValueError("backgrounds must name at least one colour")
        for name in ("brightness", "contrast"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"{name} must be a range 0 < low ≤ high, got {(lo, hi)}")
        return self


class TrainMVDiffConfig(StrictModel):
    """Fine-tuning (or training from random init) of the Stage-1 multi-view diffusion model."""

    # what to train, on what
    pipeline: str | None = Field(None, description="pretrained pipeline folder (FaceLift's "
                                 "pipeckpts or one of ours)")
    init: str | None = Field(None, description="configs/mvdiff preset for a random pipeline "
                             "(instead of `pipeline`)")
    dataset: str | None = Field(None, description="prepared dataset folder")
    output_dir: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    rig: str = Field("dataset", description="'dataset' (its cameras), 'pipeline' (the rig saved "
                     "with the pipeline), 'facelift', or a rig folder/file")
    reference_view: int = Field(0, ge=0, description="dataset view used as the input view "
                                "(fixed: a random reference view collapsed training)")
    resolution: int | None = Field(None, ge=8, description="train at this size (default: the "
                                   "rig's)")
    attention: Literal["sparse", "dense"] | None = None
    camera_embedding: bool = Field(False, description="add a zero-initialised camera embedding "
                                   "if the pipeline has none")

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
    gradient_checkpointing: bool = False
    snr_gamma: float | None = Field(5.0, gt=0, description="min-SNR weighting γ; null = off")
    condition_drop: float = Field(0.05, ge=0, le=1, description="probability of dropping the "
                                  "image condition of an object (classifier-free guidance)")
    noise_level: int = Field(0, ge=0, description="unCLIP noise level of the CLIP embedding")
    use_ema: bool = True
    ema_decay: float = Field(0.9999, gt=0, lt=1)
    augment: AugmentConfig = AugmentConfig()

    # bookkeeping
    checkpoint_every: int = Field(1000, ge=1)
    keep_last: int = Field(3, ge=1)
    validate_every: int = Field(500, ge=1)
    validation_samples: int = Field(2, ge=0)
    validation_steps: int = Field(20, ge=1)
    validation_solver: Literal["ddim", "dpm++"] = "dpm++"
    validation_guidance: float = 3.0
    log_every: int = Field(10, ge=1)
    log_with: Literal["tensorboard", "wandb", "none"] = "tensorboard"
    seed: int = 0
    workers: int = Field(2, ge=0)

    @model_validator(mode="after")
    def _source(self) -> TrainMVDiffConfig:
        if self.pipeline is not None and self.init is not None:
            raise ValueError("give either pipeline (pretrained) or init (random), not both")
        return self


#: Keys that may change between a run and its resumption.
RUNTIME_KEYS = frozenset({"max_steps", "checkpoint_every", "keep_last", "validate_every",
                          "validation_samples", "validation_steps", "validation_solver",
                          "validation_guidance", "log_every", "log_with", "workers",
                          "output_dir", "dataset", "pipeline"})


def load_train_config(preset_or_path: str | None = "mouse", overrides: dict | None = None
                      ) -> TrainMVDiffConfig:
    """Load a ``configs/train_mvdiff/`` preset (``tiny``, ``mouse``) or YAML file. A
    ``pipeline`` or ``init`` in ``overrides`` replaces the file's starting point."""
    overrides = dict(overrides or {})
    unset: tuple[str, ...] = ()
    if overrides.get("pipeline") is not None or overrides.get("init") is not None:
        unset = ("pipeline", "init")
    return load_config(TrainMVDiffConfig, "train_mvdiff", preset_or_path, overrides, unset)
