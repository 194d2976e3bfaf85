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
from mouselift.metrics.image import silhouette_iou
from mouselift.metrics.views import VIEW_METRICS, format_view_scores, render_and_score, score_views
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
    assert list(scores) == ["num_views", *VIEW_METRICS, "lpips_unavailable", "per_view"]
    assert scores["num_views"] == 3 and scores["lpips"] is None
    assert scores["iou"] is None  # no alphas given (generated views have none)
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
    white = torch.ones((2, SIZE, SIZE, 3), dtype=torch.float64)
    assert scores == score_views(white, views, alphas=torch.zeros((2, SIZE, SIZE)))
    assert scores["iou"] == 0.0  # nothing drawn where the mouse is


def test_silhouette_iou_by_hand():
    target = torch.zeros(10, 10)
    target[2:6, 2:6] = 1.0  # 16 pixels
    pred = torch.zeros(10, 10)
    pred[4:8, 2:6] = 0.9  # 16 pixels, 8 shared
    assert silhouette_iou(pred, target) == pytest.approx(8 / 24)
    assert silhouette_iou(target, target) == 1.0
    pred[4:8, 2:6] = MOUSE_ALPHA_THRESHOLD  # not above the threshold: nothing predicted
    assert silhouette_iou(pred, target) == 0.0
    assert silhouette_iou(torch.zeros(3, 3), torch.zeros(3, 3)) is None
    with pytest.raises(ValueError, match="sizes"):
        silhouette_iou(torch.zeros(3, 3), torch.zeros(3, 4))


def test_the_silhouette_of_a_view_on_white_is_its_non_white_pixels():
    """A dark mouse composited on white: its silhouette is the mask; a pixel only 0.05 below
    white (anti-aliasing, a pale hair) is not mouse, one 0.2 below in one channel is."""
    from mouselift.metrics.image import silhouette_on_white

    rgb = torch.ones(2, 8, 8, 3)
    rgb[:, 2:5, 3:6] = torch.tensor([0.3, 0.2, 0.1])
    rgb[0, 0, 0] = 0.95
    rgb[1, 7, 7, 2] = 0.8
    shape = silhouette_on_white(rgb)
    expected = torch.zeros(2, 8, 8)
    expected[:, 2:5, 3:6] = 1.0
    expected[1, 7, 7] = 1.0
    assert shape.shape == (2, 8, 8) and torch.equal(shape, expected)


def test_iou_of_renders_is_the_rendered_alpha_against_the_mask():
    views = _views(2)  # the mouse: pixels 6..17 of each view
    # one opaque splat covering the centre of every view: IoU = overlap / union of the squares
    g = Gaussians.from_activated(torch.tensor([[0.0, 0.0, 0.0]]), torch.full((1, 3), 0.4),
                                 torch.tensor([[1.0, 0.0, 0.0, 0.0]]), torch.tensor([0.99]),
                                 torch.tensor([[0.2, 0.2, 0.2]]))
    scores, _ = render_and_score(g, views)
    from mouselift.splat.render import render

    alpha = render(g, views.cameras[0], torch.ones(3)).alpha[0, ..., 0]
    expected = silhouette_iou(alpha, views.rgba[0, ..., 3])
    assert 0.2 < expected < 1.0
    assert scores["per_view"][0]["iou"] == pytest.approx(expected)
    assert scores["iou"] == pytest.approx(expected)  # both views are the same


def test_format_view_scores():
    scores = {"num_views": 2, "psnr": 20.0, "psnr_masked": 15.5, "ssim": 0.5}
    line = format_view_scores("held-out", scores, "eval cameras")
    assert line == "  held-out views (2, eval cameras): PSNR 20.00 dB (mouse 15.50 dB), SSIM 0.5000"
    assert format_view_scores("held-out", {**scores, "iou": 0.8125}).endswith(", IoU 0.812")


def test_only_what_the_camera_saw_is_scored():
    """A prediction that draws the mouse where the crop ran past the source image (unseen) is
    neither an error nor a match: its scores equal a prediction that is right everywhere the
    camera saw; without the unseen mask the same prediction loses IoU and PSNR."""
    views = _views(1)
    unseen = torch.zeros((1, SIZE, SIZE), dtype=torch.bool)
    unseen[:, 14:, :] = True  # the source image ends at row 14: the mouse is cut there
    seen_views = SampleViews(views.rgba.clone(), views.cameras, views.names, unseen)
    seen_views.rgba[:, 14:] = 0.0  # the crop is transparent where there was no source image
    target = seen_views.rgba[0, ..., :3] * seen_views.rgba[0, ..., 3:] + (
        1 - seen_views.rgba[0, ..., 3:])
    whole_mouse = target.clone().double()
    whole_mouse[14:18, 6:18] = 0.2  # the model draws the rest of the mouse, below the cut
    alpha = torch.zeros((1, SIZE, SIZE))
    alpha[:, 6:18, 6:18] = 1.0
    scored = score_views(whole_mouse[None], seen_views, alphas=alpha)
    assert scored["iou"] == 1.0 and scored["psnr"] == float("inf")
    assert scored["per_view"][0]["unseen_fraction"] == round(10 / 24, 4)
    blind = score_views(whole_mouse[None], SampleViews(seen_views.rgba, views.cameras,
                                                       views.names), alphas=alpha)
    assert blind["iou"] == pytest.approx((8 * 12) / (12 * 12))
    assert blind["psnr"] < 30 and blind["per_view"][0]["unseen_fraction"] == 0.0
