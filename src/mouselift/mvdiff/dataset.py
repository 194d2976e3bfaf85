"""Training data of Stage 1: prepared samples as (input view, the rig's target views).

For each sample (one frame of the recording) the target views are the sample's images named by
the rig (``images/<view name>.png``, in rig order; rig view 0 is the input view), resized to the
rig's resolution. Augmentation is drawn once per object and applied to all its views: one
background colour (white / black / grey) behind the mouse, and a contrast (about 0.5) and
brightness (a gain) change of the mouse's colours only. Random draws come from
``(seed, epoch, index)`` (:class:`~mouselift.data.split_dataset.SplitDataset`), mixed by
SplitMix64 (:func:`~mouselift.train.sampling.mix_seeds`, Stage 1's mixing since its first runs),
so the data of a step are the same whatever the worker count, and a resumed run sees exactly the
data the uninterrupted run would have.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..cameras.rig import Rig
from ..data.sample import SampleViews, load_sample_views
from ..data.split_dataset import SplitDataset
from ..images import BACKGROUNDS, composite, resize
from ..train.sampling import mix_seeds
from .camera_embedding import relative_pose_features


class MultiViewDataset(SplitDataset):
    """Items: ``targets`` ``(V, 3, H, W)`` composited views in rig order (view 0 = the input),
    ``poses`` ``(V, 12)`` relative pose features of the sample's own cameras, ``seen``
    ``(V, 1, H, W)`` the share of each pixel its camera saw (0 where the crop ran past its source
    image: :attr:`~mouselift.data.sample.SampleViews.unseen`), ``background`` ``(3,)``,
    ``index``."""

    def __init__(self, dataset_dir: str | os.PathLike, split: str, rig: Rig, *,
                 backgrounds: list[str] | None = None,
                 brightness: tuple[float, float] = (1.0, 1.0),
                 contrast: tuple[float, float] = (1.0, 1.0), seed: int = 0) -> None:
        super().__init__(dataset_dir, split, seed=seed)
        self.rig = rig
        self.backgrounds = [BACKGROUNDS[b] for b in (backgrounds or ["white"])]
        self.brightness = brightness
        self.contrast = contrast
        self._check(self.samples[0])

    def generator(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch: SplitMix64 of ``(seed, epoch,
        index)`` (any integer seed)."""
        return np.random.default_rng(mix_seeds(self.seed, self.epoch, index))

    def _in_rig_order(self, views: SampleViews, where: Path) -> SampleViews:
        """The sample's views of the rig's cameras, in rig order (a one-line error naming a
        rig view the sample lacks)."""
        return views.in_order(list(self.rig.names),
                              where=f"{where} (build the rig from this dataset)")

    def _check(self, sample: str) -> None:
        self._in_rig_order(load_sample_views(self.root / sample), self.root / sample)

    def _rig_views(self, index: int) -> SampleViews:
        folder = self.root / self.samples[index]
        return self._in_rig_order(load_sample_views(folder), folder)

    def _at_rig_size(self, views: SampleViews) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rgba (V, 4, H, W), seen (V, 1, H, W))`` at the rig's resolution."""
        size = (self.rig.height, self.rig.width)
        return resize(views.rgba.permute(0, 3, 1, 2), *size), views.seen_share(*size)

    def load_views(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rgba (V, 4, H, W) at the rig's resolution, poses (V, 12))`` of sample ``index``."""
        views = self._rig_views(index)
        return self._at_rig_size(views)[0], relative_pose_features(views.cameras)

    def seen(self, index: int) -> torch.Tensor:
        """``(V, 1, H, W)`` float: the share of each pixel of sample ``index``'s views (rig
        order, the rig's resolution) that its camera saw."""
        return self._at_rig_size(self._rig_views(index))[1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        views = self._rig_views(index)
        rgba, seen = self._at_rig_size(views)
        poses = relative_pose_features(views.cameras)
        rng = self.generator(index)
        background = torch.tensor(self.backgrounds[rng.integers(len(self.backgrounds))],
                                  dtype=torch.float32)
        contrast = float(rng.uniform(*self.contrast))
        brightness = float(rng.uniform(*self.brightness))
        rgb = ((rgba[:, :3] - 0.5) * contrast + 0.5) * brightness
        adjusted = torch.cat([rgb.clamp(0.0, 1.0), rgba[:, 3:4]], dim=1)
        targets = composite(adjusted, background, channels_last=False)
        return {"targets": targets, "poses": poses, "seen": seen,
                "background": background, "index": torch.tensor(index)}


def training_views(dataset_dir: str | os.PathLike, split: str, rig: Rig, augment: Any,
                   seed: int) -> MultiViewDataset:
    """The training items of a Stage-1 run (the pipeline's or its autoencoder's), augmented as
    ``augment`` (an :class:`~.train_config.AugmentConfig`) says."""
    return MultiViewDataset(dataset_dir, split, rig, backgrounds=list(augment.backgrounds),
                            brightness=augment.brightness, contrast=augment.contrast, seed=seed)


def validation_views(dataset_dir: str | os.PathLike, split: str, rig: Rig, samples: int
                     ) -> MultiViewDataset | None:
    """The validation items (on white, unaugmented), or ``None`` when no validation is asked
    for or the dataset has no such split."""
    from ..data.layout import read_split

    if not samples or not read_split(dataset_dir, split, missing_ok=True):
        return None
    return MultiViewDataset(dataset_dir, split, rig)
