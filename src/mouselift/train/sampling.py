"""Seeded data order and random draws of a training run, so a resumed run is exact.

Every random draw of a step comes from :func:`step_generator` keyed by ``(seed, step,
micro-batch, rank)``, and the data order of an epoch from ``(seed, epoch)``
(:class:`EpochSampler`): what a step sees is a function of the seed, the step and the process
rank, never of how many steps this process has run before.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from ..errors import DatasetError


def mix_seeds(*values: int) -> int:
    """A 63-bit seed from integers (SplitMix64 steps; stable across runs and platforms)."""
    state = 0x9E3779B97F4A7C15
    for v in values:
        state = (state ^ (int(v) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        state ^= state >> 31
    return state & 0x7FFFFFFFFFFFFFFF


def step_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded from integer keys (seed, step, micro-step, rank, …)."""
    return torch.Generator().manual_seed(mix_seeds(*keys))


class EpochSampler(Sampler[int]):
    """Indices of one process for one epoch: a permutation seeded by ``(seed, epoch)``, every
    ``world``-th index from ``rank`` on, cut to a whole number of batches (the same number on
    every process); ``set_epoch(e, start_batch)`` skips this process's first batches (resuming
    mid-epoch)."""

    def __init__(self, size: int, batch_size: int, *, seed: int = 0, rank: int = 0,
                 world: int = 1) -> None:
        self.size, self.batch_size = size, batch_size
        self.seed, self.rank, self.world = seed, rank, world
        self.epoch = 0
        self.start = 0
        if self.batches_per_epoch == 0:
            raise DatasetError(f"the split has {size} samples, fewer than one batch "
                               f"({batch_size} per process × {world} processes)")

    @property
    def batches_per_epoch(self) -> int:
        return self.size // (self.batch_size * self.world)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch = int(epoch)
        self.start = int(start_batch) * self.batch_size

    def indices(self) -> list[int]:
        perm = torch.randperm(self.size, generator=step_generator(self.seed, self.epoch)).tolist()
        per_process = self.batches_per_epoch * self.batch_size
        mine = perm[self.rank::self.world][:per_process]
        return mine[self.start:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())
