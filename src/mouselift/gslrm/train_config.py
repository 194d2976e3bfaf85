"""Typed config of ``mouselift train gslrm`` (presets in ``mouselift/configs/train_gslrm/``):
the engine's loop settings (:class:`~mouselift.train.config.TrainLoopConfig`, here with FaceLift's
GS-LRM optimiser defaults) plus Stage 2's own."""

from __future__ import annotations

import os
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ..config import load_config
from ..train.config import TrainLoopConfig
from .dataset import GSLRMDataConfig
from .losses import GSLRMLossConfig


class TrainGSLRMConfig(TrainLoopConfig):
    """Fine-tuning (or training from random init) of GS-LRM on a prepared dataset."""

    RUNTIME_KEYS: ClassVar[frozenset[str]] = TrainLoopConfig.RUNTIME_KEYS | {
        "dataset", "checkpoint", "validation_samples", "perceptual_weights", "vgg_weights",
        "lpips_weights"}

    # what to train, on what
    checkpoint: str | None = Field(None, description="initial weights: FaceLift's .pt or one "
                                   "of our checkpoint folders (weights only)")
    init: str | None = Field(None, description="mouselift/configs/gslrm architecture preset: "
                             "of a random model, or of the FaceLift-format .pt in `checkpoint` "
                             "(default facelift); our folders carry their own")
    gradient_checkpointing: bool | None = Field(None, description="override the model's")
    dataset: str | None = Field(None, description="prepared dataset folder")
    train_split: str = "train"
    val_split: str = "val"
    rig: str = Field("dataset", description="rig saved with the checkpoints: 'dataset' (its "
                     "cameras), 'facelift', or a rig folder/file; training itself uses each "
                     "sample's own cameras")
    reference_view: int = Field(0, ge=0, description="dataset rig: the input view of Stage 1")
    data: GSLRMDataConfig = GSLRMDataConfig()
    losses: GSLRMLossConfig = GSLRMLossConfig()
    perceptual_weights: str | None = Field(None, description="VGG19 weights for the "
                                           "perceptual loss (FaceLift's .pt, torchvision "
                                           "vgg19, or the MatConvNet .mat)")
    vgg_weights: str | None = Field(None, description="VGG16 weights of LPIPS")
    lpips_weights: str | None = Field(None, description="LPIPS linear-layer weights")
    validation_samples: int = Field(4, ge=0)

    # FaceLift's GS-LRM optimiser (configs/gslrm.yaml)
    learning_rate: float = Field(1e-4, gt=0)
    lr_scheduler: Literal["constant", "constant_with_warmup", "cosine", "linear"] = "cosine"
    warmup_steps: int = Field(500, ge=0)
    adam_beta2: float = 0.95
    weight_decay: float = Field(0.05, ge=0, description="on ≥ 2-D weights only (FaceLift's)")
    batch_size: int = Field(2, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    max_steps: int = Field(20000, ge=1)
    mixed_precision: Literal["no", "fp16", "bf16"] = "bf16"

    @model_validator(mode="after")
    def _source(self) -> TrainGSLRMConfig:
        if self.checkpoint is None and self.init is None:
            raise ValueError("give checkpoint (pretrained weights) or init (a random model)")
        return self


def load_train_gslrm_config(preset_or_path: str | os.PathLike | None = "mouse",
                            overrides: dict | None = None) -> TrainGSLRMConfig:
    """A ``mouselift/configs/train_gslrm/`` preset (``tiny``, ``mouse``) or a YAML file; a
    ``checkpoint`` or ``init`` in ``overrides`` replaces the file's starting point."""
    overrides = dict(overrides or {})
    unset: tuple[str, ...] = ()
    if overrides.get("checkpoint") is not None or overrides.get("init") is not None:
        unset = ("checkpoint", "init")
    return load_config(TrainGSLRMConfig, "train_gslrm", preset_or_path, overrides, unset)
