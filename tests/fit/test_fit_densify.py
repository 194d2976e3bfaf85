"""Densify (clone / split by gradient) and prune (opacity, size) change the counts as intended."""

from __future__ import annotations

import math

import pytest
import torch

from mouselift.fit import TrainableGaussians, densify_and_prune
from mouselift.fit.densify import SPLIT_SHRINK
from mouselift.splat import Gaussians

SMALL, BIG = 0.01, 0.1


def four() -> TrainableGaussians:
    """A: small + hot (clone), B: big + hot (split), C: cold (kept), D: transparent (pruned)."""
    g = Gaussians.from_activated(
        means=torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [3.0, 0, 0]]),
        scales=torch.tensor([[SMALL] * 3, [BIG, SMALL, SMALL], [SMALL] * 3, [SMALL] * 3]),
        rotations=torch.tensor([[1.0, 0, 0, 0]]).repeat(4, 1),
        opacities=torch.tensor([0.5, 0.6, 0.7, 0.001]),
        colors=torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6], [0.7, 0.8, 0.9], [0.0, 0.0, 0.0]]),
    )
    params = TrainableGaussians(g)
    params.grad_sum = torch.tensor([3e-3, 2e-3, 1e-5, 5e-3])
    params.grad_count = torch.tensor([2.0, 2.0, 2.0, 2.0])
    return params


def run(params, **overrides):
    kwargs = dict(
        grad_threshold=2e-4, split_scale=0.05, prune_opacity=0.02, prune_scale=1.0,
        max_gaussians=100, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    kwargs.update(overrides)
    return densify_and_prune(params, **kwargs)


def test_clone_split_and_prune_counts():
    params = four()
    stats = run(params)
    assert (stats.before, stats.cloned, stats.split, stats.pruned) == (4, 1, 1, 1)
    assert stats.after == len(params) == 4 + 1 + 1 - 1
    means = params.means.detach()
    # Survivors first (A, C), then A's clone, then B's two children; D is gone.
    assert torch.equal(means[0], torch.tensor([0.0, 0, 0]))
    assert torch.equal(means[1], torch.tensor([2.0, 0, 0]))
    assert torch.equal(means[2], means[0])  # the clone sits on its parent
    assert torch.equal(params.sh[2], params.sh[0])
    children = means[3:5]
    torch.testing.assert_close(children.mean(dim=0), torch.tensor([1.0, 0, 0]))  # symmetric
    assert float((children[0] - children[1]).norm()) > 0
    expected = torch.log(torch.tensor([BIG, SMALL, SMALL]) / SPLIT_SHRINK)
    torch.testing.assert_close(params.log_scales[3:5].detach(), expected.expand(2, 3))
    assert not (params.means.detach()[:, 0] == 3.0).any()
    # Fresh leaves with reset statistics.
    assert params.means.requires_grad and params.means.is_leaf
    assert params.grad_sum.shape == (5,) and float(params.grad_sum.sum()) == 0


def test_split_children_are_drawn_within_the_parent():
    params = four()
    run(params, generator=torch.Generator().manual_seed(7))
    offset = (params.means.detach()[3] - torch.tensor([1.0, 0, 0])).abs()
    # The parent's standard deviations are (0.1, 0.01, 0.01): a 5-sigma box.
    assert (offset <= 5 * torch.tensor([BIG, SMALL, SMALL])).all()


def test_the_cap_admits_the_hottest_gaussians_first():
    params = four()
    stats = run(params, max_gaussians=4)  # 3 survive pruning: room for one more
    assert (stats.cloned, stats.split, stats.after) == (1, 0, 4)  # A (3e-3) beats B (2e-3)
    params = four()
    stats = run(params, max_gaussians=3)
    assert (stats.cloned, stats.split, stats.pruned, stats.after) == (0, 0, 1, 3)


def test_prune_by_size_and_nothing_hot():
    params = four()
    params.grad_sum.zero_()
    stats = run(params, prune_scale=0.05)  # B is too large
    assert (stats.cloned, stats.split, stats.pruned, stats.after) == (0, 0, 2, 2)
    assert torch.equal(params.means.detach()[:, 0], torch.tensor([0.0, 2.0]))


def test_gradient_statistics_average_over_rendered_steps():
    params = four()
    params.grad_sum.zero_()
    params.grad_count.zero_()
    for value in (1.0, 3.0):
        params.means.grad = torch.zeros(4, 3)
        params.means.grad[0] = torch.tensor([value, 0.0, 0.0])
        params.accumulate_gradients()
    params.means.grad = torch.zeros(4, 3)  # a step where A was not rendered
    params.accumulate_gradients()
    mean = params.mean_gradients()
    assert float(mean[0]) == pytest.approx(2.0) and float(mean[1:].abs().sum()) == 0
    assert math.isclose(float(params.grad_count[0]), 2.0)
