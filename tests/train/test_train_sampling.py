"""Seeded data order of the engine (moved from tests/mvdiff/test_mvdiff_train.py)."""

from __future__ import annotations

import pytest

from mouselift.errors import DatasetError
from mouselift.train.sampling import EpochSampler, step_generator


def test_sampler_splits_processes_and_resumes_mid_epoch():
    ranks = [EpochSampler(10, 2, seed=3, rank=r, world=2) for r in range(2)]
    for s in ranks:
        s.set_epoch(1)
    a, b = ranks[0].indices(), ranks[1].indices()
    assert len(a) == len(b) == 4 and not set(a) & set(b)
    ranks[0].set_epoch(1, start_batch=1)
    assert ranks[0].indices() == a[2:]
    ranks[0].set_epoch(2)
    assert ranks[0].indices() != a
    with pytest.raises(DatasetError, match="fewer than one batch"):
        EpochSampler(3, 2, world=2)


def test_step_generators_depend_on_every_key():
    import torch

    draw = lambda *keys: torch.rand(4, generator=step_generator(*keys))  # noqa: E731
    assert torch.equal(draw(0, 5, 1, 0), draw(0, 5, 1, 0))
    others = [draw(1, 5, 1, 0), draw(0, 6, 1, 0), draw(0, 5, 0, 0), draw(0, 5, 1, 1)]
    assert all(not torch.equal(draw(0, 5, 1, 0), o) for o in others)
