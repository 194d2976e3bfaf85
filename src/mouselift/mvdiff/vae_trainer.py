"""Training a Stage-1 pipeline's own autoencoder on the training engine (:mod:`mouselift.train`).

FaceLift's pipeline encodes views with Stable Diffusion's VAE; a small pipeline built from random
weights (``mouselift/configs/mvdiff`` presets) has a random one, whose latents say little about a
mouse. :class:`VAEStage` trains that ``AutoencoderKL`` — same diffusers class, so a pipeline
folder keeps FaceLift's layout — on a prepared dataset's views: every view of a sample in rig
order, composited on a background drawn per object (:class:`~.dataset.MultiViewDataset`, the
data Stage 1 trains on), in [-1, 1]. Loss: ``l1`` · mean |x̂ − x| + ``mse`` · mean (x̂ − x)² +
``kl`` · mean over images of the KL divergence of the posterior from N(0, 1), with x̂ decoded from
a posterior sample (the step's generator). Validation: PSNR of the posterior mode's
reconstruction of the val samples' views (on their background) and a grid (real over
reconstructed). A checkpoint's payload is ``vae/`` (diffusers ``save_pretrained``, EMA weights)
with ``scaling_factor`` = 1 / the standard deviation of the posterior means of
``scaling_samples`` training samples, measured at export.

Launch: ``mouselift train vae …`` (or under ``accelerate launch``); then
``mouselift train mvdiff --config … --set vae=RUN`` trains a pipeline around it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKL

from ..data.dataset_rig import resolve_rig
from ..data.layout import training_dataset
from ..errors import WeightsError
from ..images import chw_to_uint8, image_grid
from ..metrics import psnr
from ..train import Run, Stage, TrainResult, Validation, train_stage
from ..train.checkpoints import resolve_payload
from .components import build_vae
from .config import load_mvdiff_config
from .dataset import MultiViewDataset, training_views, validation_views
from .train_config import TrainVAEConfig

#: A VAE training checkpoint's payload (and a pipeline folder's VAE component).
VAE_DIR = "vae"


class _Autoencoder(torch.nn.Module):
    """The trained module: ``forward(x, generator)`` → (reconstruction of a posterior sample,
    the posterior's KL per image), through the module's call so data parallelism sees it."""

    def __init__(self, vae: AutoencoderKL) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, images: torch.Tensor, generator: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
        posterior = self.vae.encode(images).latent_dist
        latents = posterior.sample(generator=generator)
        return self.vae.decode(latents).sample, posterior.kl()


def load_vae(path: str | Path) -> AutoencoderKL:
    """A trained VAE: a ``vae/`` folder, a VAE checkpoint or a run folder (its newest), or a
    pipeline folder's ``vae/``; one-line :class:`~mouselift.errors.WeightsError` otherwise."""
    folder, _ = resolve_payload(path, VAE_DIR)
    if not (folder / "config.json").is_file() and (folder / VAE_DIR / "config.json").is_file():
        folder = folder / VAE_DIR  # a pipeline folder
    try:
        return AutoencoderKL.from_pretrained(str(folder))
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{folder}: not a VAE folder ({str(exc).splitlines()[0]})") from None


class VAEStage(Stage):
    """The autoencoder of a Stage-1 preset for the training engine (module docstring)."""

    name = "vae"
    payload_dirs = (VAE_DIR,)

    def __init__(self, config: TrainVAEConfig) -> None:
        super().__init__(config)
        self.config: TrainVAEConfig = config
        self.dataset_dir = training_dataset(config.dataset)
        self.arch = load_mvdiff_config(config.init)
        self.size = config.image_size or self.arch.image_size

    def build(self, run: Run) -> torch.nn.Module:
        config = self.config
        rig = resolve_rig(config.rig, dataset=self.dataset_dir, split=config.train_split)
        self.rig = rig if (rig.width, rig.height) == (self.size, self.size) else rig.resized(
            self.size)
        if run.resume_from is not None:
            vae = load_vae(run.resume_from / VAE_DIR)  # weights restored by the engine
        else:
            torch.manual_seed(config.seed)
            vae = build_vae(self.arch.model_copy(update={"image_size": self.size}))
        self.vae = vae.to(run.device)
        self.device = run.device
        self.val_dataset = validation_views(self.dataset_dir, config.val_split, self.rig,
                                            config.validation_samples)
        return _Autoencoder(self.vae).train()

    def train_dataset(self) -> MultiViewDataset:
        config = self.config
        return training_views(self.dataset_dir, config.train_split, self.rig, config.augment,
                              config.seed)

    def loss(self, model: torch.nn.Module, batch: dict[str, Any], generator: torch.Generator
             ) -> torch.Tensor:
        weights = self.config.losses
        images = batch["targets"].flatten(0, 1).to(self.device) * 2.0 - 1.0
        recon, kl = model(images, generator)
        error = recon.float() - images
        return (weights.l1 * error.abs().mean() + weights.mse * error.square().mean()
                + weights.kl * kl.float().mean())

    @torch.no_grad()
    def _reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior-mode reconstructions of ``images`` ``(N, 3, H, W)`` in [0, 1]."""
        x = images.to(self.device) * 2.0 - 1.0
        recon = self.vae.decode(self.vae.encode(x).latent_dist.mode()).sample
        return ((recon.float() + 1.0) / 2.0).clamp(0.0, 1.0).cpu()

    def validate(self, step: int, images: bool) -> Validation | None:
        if self.val_dataset is None:
            return None
        count = min(self.config.validation_samples, len(self.val_dataset))
        scores, rows = [], []
        for index in range(count):
            real = self.val_dataset[index]["targets"]
            recon = self._reconstruct(real)
            scores.extend(float(psnr(r.permute(1, 2, 0).double(), t.permute(1, 2, 0).double()))
                          for r, t in zip(recon, real, strict=True))
            rows += [list(chw_to_uint8(real)), list(chw_to_uint8(recon))]
        grid = np.asarray(image_grid(rows)) if images else None
        return Validation({"psnr": float(np.mean(scores))}, grid)

    @torch.no_grad()
    def scaling_factor(self) -> float:
        """1 / the standard deviation of the posterior means of the first
        ``scaling_samples`` training samples (all views, on white)."""
        data = MultiViewDataset(self.dataset_dir, self.config.train_split, self.rig)
        latents = []
        for index in range(min(self.config.scaling_samples, len(data))):
            x = data[index]["targets"].to(self.device) * 2.0 - 1.0
            latents.append(self.vae.encode(x).latent_dist.mean.float().cpu())
        return float(1.0 / torch.cat(latents).std().clamp_min(1e-6))

    def export(self, folder: Path) -> None:
        training = self.vae.training
        self.vae.eval()
        self.vae.register_to_config(scaling_factor=round(self.scaling_factor(), 6))
        self.vae.save_pretrained(str(folder / VAE_DIR))
        self.vae.train(training)

    def checkpoint_state(self) -> dict[str, Any]:
        return {"rig": self.rig.summary(), "init": self.config.init}


def train_vae(config: TrainVAEConfig, *, resume: str | None = None,
              progress: bool = True) -> TrainResult:
    """Train the autoencoder as ``config`` says (``resume="latest"`` continues the run in
    ``config.output_dir``); checkpoints in ``<output_dir>/checkpoints/`` hold ``vae/``."""
    return train_stage(VAEStage(config), resume=resume, progress=progress)


__all__ = ["VAE_DIR", "VAEStage", "load_vae", "train_vae"]
