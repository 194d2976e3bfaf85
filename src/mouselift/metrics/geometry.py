"""3D accuracy of reconstructed Gaussians against ground-truth surface points (millimetres).

Definitions, for predicted points ``P = {p_i}`` with weights ``w_i ≥ 0`` and ground-truth surface
points ``G = {g_j}`` (both in world millimetres), with ``d(x, S) = min_{s ∈ S} ‖x − s‖₂``
(exact nearest neighbours, :class:`scipy.spatial.cKDTree`):

* **accuracy** (prediction → truth) ``= Σ_i w_i · d(p_i, G) / Σ_i w_i``: how far what was
  reconstructed lies from the true surface;
* **completeness** (truth → prediction) ``= mean_j d(g_j, P)``: how far the true surface is from
  what was reconstructed;
* **Chamfer distance** ``= (accuracy + completeness) / 2``, in mm — the *mean* of the two
  directed means (not their sum), so a reconstruction that is everywhere ``δ`` mm off the
  surface along the normal scores ``δ``;
* at a threshold ``τ`` (mm): **precision** ``= Σ_i w_i [d(p_i, G) < τ] / Σ_i w_i``, **recall**
  ``= mean_j [d(g_j, P) < τ]``, **F-score** ``= 2·P·R / (P + R)`` (0 when both are 0).

**Opacity-weighted Gaussian centres** (:func:`gaussian_points_mm`): the points are the centres of
the Gaussians whose opacity is at least ``min_opacity`` (FaceLift's inference threshold, 0.04, by
default), and each centre's weight is its opacity. So on the prediction side (accuracy,
precision) a faint Gaussian counts in proportion to how much it shows in an image — a floater of
opacity 0.1 counts a tenth of an opaque one — while the truth side (completeness, recall) asks
whether any kept centre lies near each true point. Centres are mapped to world mm with the
similarity the caller gives (a prepared sample stores ``world mm → sample``; pass its inverse).

Without predicted points the accuracy is NaN, completeness and Chamfer are ``inf``, and
precision, recall and F-score are 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.spatial import cKDTree

from ..cameras.transforms import Similarity
from ..splat import Gaussians

#: Thresholds (mm) of the F-score reported by default.
THRESHOLDS_MM = (2.0, 5.0)
#: Gaussians below this opacity are not part of the reconstructed surface (FaceLift's filter).
MIN_OPACITY = 0.04


def threshold_key(name: str, threshold_mm: float) -> str:
    """``"fscore_2mm"``-style key of a thresholded value (``name`` at ``threshold_mm``)."""
    return f"{name}_{threshold_mm:g}mm"


def _points(points: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    p = points.detach().cpu().numpy() if isinstance(points, torch.Tensor) else points
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"{name}: expected points of shape (N, 3), got {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError(f"{name}: points must be finite")
    return p


def nearest_distances(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Euclidean distance (N,) from each of ``queries`` (N, 3) to its nearest of ``points``
    (M ≥ 1, 3); exact (k-d tree)."""
    q, p = _points(queries, "queries"), _points(points, "points")
    if len(p) == 0:
        raise ValueError("nearest_distances: no points to search")
    distances, _ = cKDTree(p).query(q, k=1)
    return np.asarray(distances, dtype=np.float64).reshape(len(q))


def surface_metrics(
    predicted: np.ndarray | torch.Tensor,
    truth: np.ndarray | torch.Tensor,
    *,
    weights: np.ndarray | torch.Tensor | None = None,
    thresholds_mm: Sequence[float] = THRESHOLDS_MM,
) -> dict[str, float | int]:
    """Chamfer distance, accuracy, completeness and precision / recall / F-score at each
    threshold (definitions: module docstring) of ``predicted`` (N, 3) against ``truth`` (M ≥ 1,
    3), both in mm; ``weights`` (N,) ≥ 0 weigh the predicted points (default: all 1).

    Returns ``{"chamfer_mm", "accuracy_mm", "completeness_mm", "num_points", "num_truth",
    "precision_2mm", "recall_2mm", "fscore_2mm", …}`` (keys by :func:`threshold_key`).
    """
    pred, gt = _points(predicted, "predicted"), _points(truth, "truth")
    if len(gt) == 0:
        raise ValueError("surface_metrics: no ground-truth points")
    if weights is None:
        w = np.ones(len(pred))
    else:
        w = weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else weights
        w = np.asarray(w, dtype=np.float64).reshape(-1)
        if w.shape != (len(pred),) or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"weights: expected {len(pred)} finite values ≥ 0, got shape "
                             f"{w.shape}")
    out: dict[str, float | int] = {"num_points": len(pred), "num_truth": len(gt)}
    if len(pred) == 0 or w.sum() <= 0:
        out.update(chamfer_mm=float("inf"), accuracy_mm=float("nan"),
                   completeness_mm=float("inf"))
        for t in thresholds_mm:
            for name in ("precision", "recall", "fscore"):
                out[threshold_key(name, t)] = 0.0
        return out
    to_truth = nearest_distances(pred, gt)
    to_pred = nearest_distances(gt, pred)
    accuracy = float(np.sum(w * to_truth) / np.sum(w))
    completeness = float(np.mean(to_pred))
    out.update(chamfer_mm=(accuracy + completeness) / 2, accuracy_mm=accuracy,
               completeness_mm=completeness)
    for t in thresholds_mm:
        precision = float(np.sum(w * (to_truth < t)) / np.sum(w))
        recall = float(np.mean(to_pred < t))
        total = precision + recall
        out[threshold_key("precision", t)] = precision
        out[threshold_key("recall", t)] = recall
        out[threshold_key("fscore", t)] = 2 * precision * recall / total if total > 0 else 0.0
    return out


def gaussian_points_mm(
    gaussians: Gaussians, to_world: Similarity, *, min_opacity: float = MIN_OPACITY
) -> tuple[np.ndarray, np.ndarray]:
    """``(centres (N, 3) in world mm, opacities (N,))`` of the Gaussians with opacity ≥
    ``min_opacity``; ``to_world`` maps the Gaussians' frame to world mm (for a prepared sample:
    the inverse of its stored similarity)."""
    with torch.no_grad():
        opacity = gaussians.opacities.detach().double().cpu().numpy()
        means = gaussians.means.detach().double().cpu().numpy()
    keep = opacity >= min_opacity
    return to_world.apply(means[keep]), opacity[keep]


def gaussian_surface_metrics(
    gaussians: Gaussians,
    truth_mm: np.ndarray,
    to_world: Similarity,
    *,
    min_opacity: float = MIN_OPACITY,
    thresholds_mm: Sequence[float] = THRESHOLDS_MM,
) -> dict[str, float | int]:
    """:func:`surface_metrics` of the opacity-weighted Gaussian centres (module docstring),
    mapped to world mm by ``to_world``, against ``truth_mm`` (M, 3) surface points in mm."""
    points, weights = gaussian_points_mm(gaussians, to_world, min_opacity=min_opacity)
    return surface_metrics(points, truth_mm, weights=weights, thresholds_mm=thresholds_mm)


__all__ = [
    "MIN_OPACITY",
    "THRESHOLDS_MM",
    "gaussian_points_mm",
    "gaussian_surface_metrics",
    "nearest_distances",
    "surface_metrics",
    "threshold_key",
]
