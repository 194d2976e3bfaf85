"""Typed config of ``mouselift train mvdiff`` (presets in ``mouselift/configs/train_mvdiff/``):
the engine's loop settings (:class:`~mouselift.train.config.TrainLoopConfig`) plus Stage 1's
own."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, model_validator

from ..config import StrictModel, load_config
from ..train.config import TrainLoopConfig
from .solvers import SOLVERS, SolverName

if TYPE_CHECKING:  # the objective needs torch and diffusers; the config (``--help``) does not
    from .losses import Objective


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


class TrainMVDiffConfig(TrainLoopConfig):
    """Fine-tuning (or training from random init) of the Stage-1 multi-view diffusion model.
    The loop settings (steps, batch, optimizer, schedule, precision, EMA, checkpoint, validation
    and logging cadence, seed, workers, ``output_dir``) are :class:`TrainLoopConfig`'s."""

    renamed_keys: ClassVar[dict[str, str]] = {"resolution": "image_size"}
    #: Keys that may change between a run and its resumption.
    RUNTIME_KEYS: ClassVar[frozenset[str]] = TrainLoopConfig.RUNTIME_KEYS | {
        "validation_samples", "validation_steps", "validation_solver", "validation_guidance",
        "validation_eta", "dataset", "pipeline", "vae"}

    # what to train, on what
    pipeline: str | None = Field(None, description="pretrained pipeline folder (FaceLift's "
                                 "pipeckpts or one of ours)")
    init: str | None = Field(None, description="mouselift/configs/mvdiff preset for a random "
                             "pipeline (instead of `pipeline`)")
    vae: str | None = Field(None, description="a trained autoencoder for the random pipeline "
                            "of `init` (`mouselift train vae`'s run, checkpoint or vae/ folder) "
                            "instead of its random one")
    dataset: str | None = Field(None, description="prepared dataset folder")
    train_split: str = "train"
    val_split: str = "val"
    rig: str = Field("dataset", description="'dataset' (its cameras), 'pipeline' (the rig saved "
                     "with the pipeline), 'facelift', or a rig folder/file")
    reference_view: int = Field(0, ge=0, description="dataset view used as the input view "
                                "(fixed: a random reference view collapsed training)")
    image_size: int | None = Field(None, ge=8, description="train at this square image side in "
                                   "pixels (default: the pipeline's own — its saved rig's, or "
                                   "its UNet's — never the dataset's)")
    attention: Literal["sparse", "dense"] | None = None
    camera_embedding: bool = Field(False, description="add a zero-initialised camera embedding "
                                   "if the pipeline has none")

    # optimisation (the loop settings are TrainLoopConfig's)
    gradient_checkpointing: bool = False
    snr_gamma: float | None = Field(5.0, gt=0, description="min-SNR weighting γ; null = off")
    snr_weighting: Literal["facelift", "v-prediction"] = Field(
        "facelift", description="min-SNR rule: 'facelift' = min(SNR, γ)/SNR (FaceLift's, even "
        "with v-prediction); 'v-prediction' = diffusers' min(SNR, γ)/(SNR + 1)")
    condition_drop: float = Field(0.05, ge=0, le=1, description="rate r of dropping the image "
                                  "conditions of an object (classifier-free guidance)")
    condition_drop_rule: Literal["facelift", "joint"] = Field(
        "facelift", description="'facelift': one p per object, CLIP dropped for p < 2r, input "
        "latents for r ≤ p < 3r; 'joint': both dropped together for p < r")
    target_latents: Literal["sample", "mode"] = Field(
        "sample", description="target views' VAE latents: a posterior 'sample' (FaceLift's) or "
        "its 'mode'")
    noise_level: int = Field(0, ge=0, description="unCLIP noise level of the CLIP embedding")
    ignore_unseen: bool = Field(
        True, description="average each view's error over the latent pixels its camera saw "
        "(where a crop ran past its source image the view is unknown, not background); with "
        "nothing unseen, FaceLift's data, FaceLift's loss exactly; false: background")
    augment: AugmentConfig = AugmentConfig()

    # validation (cadence: TrainLoopConfig.validate_every)
    validation_samples: int = Field(2, ge=0)
    validation_steps: int = Field(20, ge=1)
    validation_solver: SolverName = "dpm++"
    validation_guidance: float = 3.0
    validation_eta: float | None = Field(None, ge=0, le=1, description="DDIM eta of validation "
                                         "sampling (default FaceLift's 1.0; DDIM only)")

    @model_validator(mode="after")
    def _source(self) -> TrainMVDiffConfig:
        if self.pipeline is not None and self.init is not None:
            raise ValueError("give either pipeline (pretrained) or init (random), not both")
        if self.pipeline is None and self.init is None:
            raise ValueError("give pipeline (pretrained weights, e.g. FaceLift's pipeckpts) or "
                             "init (a random pipeline of a mouselift/configs/mvdiff preset, "
                             "e.g. tiny; or --config tiny)")
        if self.vae is not None and self.init is None:
            raise ValueError("vae replaces the autoencoder of a random pipeline (init); a "
                             "pretrained pipeline keeps its own")
        if self.condition_drop_rule == "facelift" and self.condition_drop > 1 / 3:
            raise ValueError("condition_drop must be ≤ 1/3 with condition_drop_rule facelift "
                             "(it drops on [0, 3r))")
        if self.validation_eta is not None and not SOLVERS[self.validation_solver].takes_eta:
            raise ValueError(f"validation_eta applies to a solver with eta (DDIM), not to "
                             f"validation_solver {self.validation_solver}")
        return self

    def objective(self) -> Objective:
        """The training objective these settings name."""
        from .losses import Objective

        return Objective(snr_gamma=self.snr_gamma, snr_weighting=self.snr_weighting,
                         condition_drop=self.condition_drop,
                         condition_drop_rule=self.condition_drop_rule,
                         target_latents=self.target_latents, noise_level=self.noise_level,
                         ignore_unseen=self.ignore_unseen)


#: Keys that may change between a run and its resumption.
RUNTIME_KEYS = TrainMVDiffConfig.RUNTIME_KEYS


class VAELossConfig(StrictModel):
    """Weights of the autoencoder's loss terms on images in [-1, 1]."""

    l1: float = Field(1.0, ge=0, description="mean absolute error of the reconstruction")
    mse: float = Field(1.0, ge=0, description="mean squared error of the reconstruction")
    kl: float = Field(1e-6, ge=0, description="KL divergence of the latent posterior from "
                      "N(0, 1), summed over a latent and averaged over images")


class TrainVAEConfig(TrainLoopConfig):
    """Training a Stage-1 pipeline's own autoencoder (``AutoencoderKL``, the ``vae`` of an
    ``mouselift/configs/mvdiff`` preset) from random weights on a prepared dataset's views, each
    on a background of ``augment.backgrounds``. Its checkpoints hold ``vae/`` (diffusers layout)
    with ``scaling_factor`` measured on the training views: 1 / the standard deviation of their
    latents, so the diffusion model sees latents of unit variance.
    ``mouselift train mvdiff --set vae=RUN`` builds its pipeline with it."""

    RUNTIME_KEYS: ClassVar[frozenset[str]] = TrainLoopConfig.RUNTIME_KEYS | {
        "validation_samples", "dataset"}

    init: str = Field("tiny", description="mouselift/configs/mvdiff preset whose vae (and "
                      "image_size) is trained")
    dataset: str | None = Field(None, description="prepared dataset folder")
    train_split: str = "train"
    val_split: str = "val"
    rig: str = Field("dataset", description="the views to train on: 'dataset' (its cameras), "
                     "'facelift', or a rig folder/file (views named like the dataset's images)")
    image_size: int | None = Field(None, ge=8, description="square image side in pixels "
                                   "(default: the preset's image_size)")
    losses: VAELossConfig = VAELossConfig()
    augment: AugmentConfig = AugmentConfig()
    scaling_samples: int = Field(16, ge=1, description="training samples (all their views) "
                                 "whose latents set scaling_factor at each checkpoint")
    validation_samples: int = Field(2, ge=0)


def load_train_vae_config(preset_or_path: str | os.PathLike | None = "small",
                          overrides: dict | None = None) -> TrainVAEConfig:
    """Load a ``mouselift/configs/train_vae/`` preset (``tiny``, ``small``) or YAML file."""
    return load_config(TrainVAEConfig, "train_vae", preset_or_path, overrides)


def load_train_mvdiff_config(preset_or_path: str | os.PathLike | None = "mouse",
                             overrides: dict | None = None) -> TrainMVDiffConfig:
    """Load a ``mouselift/configs/train_mvdiff/`` preset (``tiny``, ``mouse``) or YAML file. A
    ``pipeline`` or ``init`` in ``overrides`` replaces the file's starting point."""
    overrides = dict(overrides or {})
    unset: tuple[str, ...] = ()
    if overrides.get("pipeline") is not None or overrides.get("init") is not None:
        unset = ("pipeline", "init")
    return load_config(TrainMVDiffConfig, "train_mvdiff", preset_or_path, overrides, unset)
