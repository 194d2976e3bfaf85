"""The base of both stages' training datasets: the samples of one split of a prepared dataset,
with every random draw of an item keyed by ``(seed, epoch, index)``.

Item ``index`` is the sample on line ``index`` of ``<dataset>/<split>.txt``. All random draws of
an item come from :meth:`SplitDataset.generator`, a NumPy generator seeded by the dataset's
``seed``, the epoch (:meth:`SplitDataset.set_epoch`, called by the training engine once per
epoch) and ``index``: an item is a function of these three numbers only — the same whatever the
worker count or order, and a resumed run sees exactly what the uninterrupted run would have.
How the three numbers are mixed into one generator is the stage's: the default is NumPy's
``SeedSequence`` of ``[seed, epoch, index]`` (non-negative integers); a stage may override
:meth:`~SplitDataset.generator` to keep the draws its earlier runs made.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from ..errors import DatasetError
from .layout import read_split


class SplitDataset(Dataset):
    """The samples listed in ``<dataset_dir>/<split>.txt`` (a one-line :class:`DatasetError`
    when the list is missing or empty); ``root``, ``split``, ``samples`` (folder names),
    ``seed`` and ``epoch`` (0 until :meth:`set_epoch`). Subclasses define ``__getitem__``."""

    def __init__(self, dataset_dir: str | os.PathLike, split: str, *, seed: int = 0) -> None:
        self.root = Path(dataset_dir)
        self.split = split
        self.samples = read_split(self.root, split)
        if not self.samples:
            raise DatasetError(f"{self.root / (split + '.txt')}: lists no samples")
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Key the random draws of the following items by ``epoch`` (call once per epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def generator(self, index: int) -> np.random.Generator:
        """The generator of item ``index`` in the current epoch: ``SeedSequence([seed, epoch,
        index])``."""
        return np.random.default_rng([self.seed, self.epoch, int(index)])


__all__ = ["SplitDataset"]
