"""Scores of predicted views against a sample's views: the evaluation convention of ``fit``,
``reconstruct``, ``infer`` and ``eval``.

Convention: predictions are RGB in [0, 1] on a **white** background (renders of Gaussians over
white, or generated views) against the sample's RGBA images composited on white; ``psnr`` /
``ssim`` over the whole image, ``psnr_masked`` / ``ssim_masked`` over the mouse (target alpha >
:data:`~mouselift.images.MOUSE_ALPHA_THRESHOLD`); LPIPS-VGG when weights are given, otherwise
``lpips: null`` and ``lpips_unavailable`` with the reason (:func:`~.compute.compute_metrics`);
``iou``: the silhouette IoU of the prediction's alpha against the real mask, both thresholded at
:data:`~mouselift.images.MOUSE_ALPHA_THRESHOLD` (:func:`~.image.silhouette_iou`), where the
prediction has an alpha: a render's opacity, or for a view generated on white its non-white
pixels (:func:`~.image.silhouette_on_white`, what Stage 1's evaluation passes); without one
``iou: null``.

Only what each camera saw is scored: where a view's crop ran past its source image
(:attr:`~mouselift.data.sample.SampleViews.unseen`), the prediction is replaced by the target
(white, no silhouette) before scoring, so a mouse predicted where the camera never looked —
often rightly: the source image cut the mouse there — is neither an error nor a match.
``per_view`` gives each view's ``unseen_fraction``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data.sample import SampleViews
from ..images import MOUSE_ALPHA_THRESHOLD, WHITE, composite, to_uint8
from ..splat import Gaussians
from ..splat.render import render
from .compute import IMAGE_METRICS, compute_metrics
from .image import silhouette_iou
from .lpips import LPIPS, LPIPSUnavailable

#: The per-view scores a summary averages: the image metrics, then the silhouette IoU.
VIEW_METRICS = (*IMAGE_METRICS, "iou")


def score_views(
    predictions: torch.Tensor | list[torch.Tensor],
    views: SampleViews,
    lpips: LPIPS | LPIPSUnavailable | None = None,
    alphas: torch.Tensor | list[torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Scores of ``predictions`` (V, H, W, 3) RGB in [0, 1] (renders, or generated views)
    against ``views`` (same size), convention of the module docstring; ``alphas`` (V, H, W):
    the predictions' opacity, for the silhouette IoU (None: ``iou`` is null).

    Returns ``{"num_views", <each of VIEW_METRICS: the mean over views, None when no view has
    it>, ["lpips_unavailable"], "per_view": [{"view", <compute_metrics' keys>, "iou"}]}``.
    """
    if len(predictions) != len(views):
        raise ValueError(f"{len(predictions)} predictions for {len(views)} views")
    if alphas is not None and len(alphas) != len(views):
        raise ValueError(f"{len(alphas)} alphas for {len(views)} views")
    per_view = []
    for k, pred in enumerate(predictions):
        target = composite(views.rgba[k].double(), WHITE)
        mask = views.rgba[k, ..., 3] > MOUSE_ALPHA_THRESHOLD
        pred = pred.detach().cpu().double()
        alpha = None if alphas is None else alphas[k].detach().cpu()
        unseen = None if views.unseen is None else views.unseen[k]
        if unseen is not None and bool(unseen.any()):
            pred = torch.where(unseen[..., None], target, pred)
            alpha = None if alpha is None else torch.where(unseen, torch.zeros_like(alpha),
                                                           alpha)
        metrics = compute_metrics(pred, target, mask=mask, lpips=lpips)
        iou = None if alpha is None else silhouette_iou(alpha, views.rgba[k, ..., 3],
                                                        MOUSE_ALPHA_THRESHOLD)
        fraction = 0.0 if unseen is None else round(float(unseen.float().mean()), 4)
        per_view.append({"view": views.names[k], **metrics, "iou": iou,
                         "unseen_fraction": fraction})
    summary: dict[str, Any] = {"num_views": len(views)}
    for key in VIEW_METRICS:
        values = [v[key] for v in per_view if v.get(key) is not None]
        summary[key] = float(np.mean(values)) if values else None
    if per_view and "lpips_unavailable" in per_view[0]:
        summary["lpips_unavailable"] = per_view[0]["lpips_unavailable"]
    summary["per_view"] = per_view
    return summary


def render_and_score(
    gaussians: Gaussians,
    views: SampleViews,
    lpips: LPIPS | LPIPSUnavailable | None = None,
) -> tuple[dict[str, Any], np.ndarray]:
    """Renders of ``gaussians`` over white at each of ``views``' cameras (on the Gaussians'
    device), scored by :func:`score_views` (with their alpha: the IoU). Returns ``(scores,
    renders uint8 (V, H, W, 3))``."""
    white = torch.tensor(WHITE, dtype=gaussians.dtype, device=gaussians.device)
    renders, alphas = [], []
    with torch.no_grad():
        for cam in views.cameras:
            out = render(gaussians, cam, white)
            renders.append(out.rgb[0].clamp(0, 1).cpu().double())
            alphas.append(out.alpha[0, ..., 0].cpu())
    scores = score_views(renders, views, lpips, alphas=alphas)
    return scores, np.stack([to_uint8(rgb) for rgb in renders])


def format_view_scores(label: str, scores: dict[str, Any], source: str | None = None) -> str:
    """``"  <label> views (N[, source]): PSNR … dB (mouse … dB), SSIM …[, IoU …]"`` of
    :func:`score_views`' ``scores``."""
    what = f"{scores['num_views']}" + (f", {source}" if source else "")
    iou = scores.get("iou")
    return (f"  {label} views ({what}): PSNR {scores['psnr']:.2f} dB (mouse "
            f"{scores['psnr_masked']:.2f} dB), SSIM {scores['ssim']:.4f}"
            + ("" if iou is None else f", IoU {iou:.3f}"))


__all__ = ["VIEW_METRICS", "format_view_scores", "render_and_score", "score_views"]
