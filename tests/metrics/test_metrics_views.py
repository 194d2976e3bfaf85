"""Scores of predicted views against a sample's views (``mouselift.metrics.views``): on white,
over the whole image and over the mouse (alpha above the one threshold), means over views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mouselift.cameras import Camera
from mouselift.data.sample import SampleViews
from mouselift.images import MOUSE_ALPHA_THRESHOLD
from mouselift.metrics import psnr
from mouselift.metrics.compute import IMAGE_METRICS
from mouselift.metrics.views import format_view_scores, render_and_score, score_views
from mouselift.splat import Gaussians

SIZE = 24


def _views(count: int, seed: int = 0) -> SampleViews:
    """``count`` random RGBA views: a square of mouse (alpha 1) on transparent background."""
    generator = torch.Generator().manual_seed(seed)
    rgba = torch.rand((count, SIZE, SIZE, 4), generator=generator, dtype=torch.float32)
    rgba[..., 3] = 0.0
    rgba[:, 6:18, 6:18, 3] = 1.0
    K = np.array([[30.0, 0, SIZE / 2], [0, 30.0, SIZE / 2], [0, 0, 1]])
    w2c = np.eye(4)
    w2c[2, 3] = 3.0
    cameras = [Camera(K, w2c, SIZE, SIZE) for _ in range(count)]
    return SampleViews(rgba, cameras, [f"images/cam_{k:03d}.png" for k in range(count)])


def test_scores_are_per_view_metrics_and_their_means():
    views = _views(3)
    white = torch.ones((3, SIZE, SIZE, 3), dtype=torch.float64)
    scores = score_views(white, views)
    assert list(scores) == ["num_views", *IMAGE_METRICS, "lpips_unavailable", "per_view"]
    assert scores["num_views"] == 3 and scores["lpips"] is None
    assert [v["view"] for v in scores["per_view"]] == views.names
    target = views.rgba[0, ..., :3].double()  # on white = the RGB where alpha is 1
    inside = float(psnr(white[0, 6:18, 6:18], target[6:18, 6:18]))
    assert scores["per_view"][0]["psnr_masked"] == pytest.approx(inside, abs=1e-9)
    assert scores["psnr"] == pytest.approx(np.mean([v["psnr"] for v in scores["per_view"]]))


def test_the_mask_is_alpha_above_the_threshold():
    views = _views(1)
    views.rgba[0, ..., 3] = MOUSE_ALPHA_THRESHOLD  # not above: no mouse pixel at all
    scores = score_views(torch.ones((1, SIZE, SIZE, 3)), views)
    assert np.isnan(scores["psnr_masked"])


def test_predictions_and_views_must_pair_up():
    with pytest.raises(ValueError, match="2 predictions for 3 views"):
        score_views(torch.ones((2, SIZE, SIZE, 3)), _views(3))


def test_render_and_score_of_nothing_is_a_white_image():
    views = _views(2)
    scores, renders = render_and_score(Gaussians.empty(), views)
    assert renders.shape == (2, SIZE, SIZE, 3) and renders.dtype == np.uint8
    assert (renders == 255).all()
    assert scores == score_views(torch.ones((2, SIZE, SIZE, 3), dtype=torch.float64), views)


def test_format_view_scores():
    line = format_view_scores("held-out", {"num_views": 2, "psnr": 20.0, "psnr_masked": 15.5,
                                           "ssim": 0.5}, "eval cameras")
    assert line == "  held-out views (2, eval cameras): PSNR 20.00 dB (mouse 15.50 dB), SSIM 0.5000"
