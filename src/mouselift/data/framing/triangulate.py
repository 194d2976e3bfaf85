"""Locate the mouse in 3D: robust triangulation of the mask centroids of all views.

Per view the mask (uint8, soft 0..255) is thresholded; its area, centroid (OpenCV pixels: the
centre of pixel column i is u = i) and whether it touches the image border are measured on the
uint8 array without a float copy of the frame.

The centroid of a silhouette is not the exact projection of any one 3D point (perspective), so
views are compared with a tolerant inlier threshold that grows with the silhouette,
``max(inlier_px, inlier_relative · sqrt(area))`` pixels. Every pair of usable views is
triangulated (linear DLT), the pair whose point has the most inliers wins (ties: the smaller
truncated squared error), and the point is refined on its inliers (DLT, then Gauss-Newton on the
reprojection error). A view whose mask touches the image border has a biased centroid; it is left
out when enough other views remain. The result reports every view's reprojection error and which
views were outliers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...cameras import Camera

#: Reasons a frame is skipped (keys of the summary's skip counts).
TOO_FEW_VIEWS = "too_few_views"
NO_CONSENSUS = "no_consensus"
BEHIND_CAMERA = "behind_camera"


@dataclass(frozen=True)
class MaskStats:
    """Measurements of one view's thresholded mask.

    ``area`` in pixels; ``centroid`` (2,) in OpenCV pixels (NaN when empty); ``bbox`` the tight box
    in edge coordinates ``(x0, y0, x1, y1)`` or ``None``; ``touches_border`` whether the mask has a
    pixel on the outermost image row/column; ``fraction`` = area / image area.
    """

    area: int
    centroid: np.ndarray
    bbox: tuple[int, int, int, int] | None
    touches_border: bool
    fraction: float


def mask_stats(mask: np.ndarray, threshold: int = 127) -> MaskStats:
    """Area, centroid, bounding box and border contact of ``mask > threshold`` (mask (H, W))."""
    binary = (np.asarray(mask) > threshold).view(np.uint8)
    height, width = binary.shape
    rows = binary.sum(axis=1, dtype=np.int64)
    ys = np.flatnonzero(rows)
    if not len(ys):
        return MaskStats(0, np.full(2, np.nan), None, False, 0.0)
    cols = binary[ys[0] : ys[-1] + 1].sum(axis=0, dtype=np.int64)  # rows with mouse only
    area = int(rows.sum())
    u = float(cols @ np.arange(width, dtype=np.float64)) / area
    v = float(rows @ np.arange(height, dtype=np.float64)) / area
    xs = np.flatnonzero(cols)
    bbox = (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)
    touches = bbox[0] == 0 or bbox[1] == 0 or bbox[2] == width or bbox[3] == height
    return MaskStats(area, np.array([u, v]), bbox, bool(touches), area / (width * height))


@dataclass(frozen=True)
class Triangulation:
    """Result of :func:`triangulate_robust`; arrays have one entry per camera.

    ``point`` (3,) world units, or ``None`` when ``reason`` says why it failed. ``errors``: pixel
    distance between each valid view's centroid and the projection of ``point`` (NaN for invalid
    views or on failure). ``thresholds``: each view's inlier threshold (px). ``valid``: mask large
    enough to use. ``inliers``: views the final point was fitted to. ``outliers``: valid views
    that disagree with the point (error above threshold). ``clipped_in_source``: mask touches the
    image border (centroid biased; such views are only used when too few others exist).
    """

    point: np.ndarray | None
    reason: str | None
    errors: np.ndarray
    thresholds: np.ndarray
    valid: np.ndarray
    inliers: np.ndarray
    outliers: np.ndarray
    clipped_in_source: np.ndarray

    @property
    def ok(self) -> bool:
        return self.point is not None


def projection_matrix(camera: Camera) -> np.ndarray:
    """``P = K [R | t]`` (3×4), skew included."""
    return camera.K @ camera.w2c[:3, :]


def triangulate_dlt(
    projections: Sequence[np.ndarray], pixels: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """Linear (DLT) triangulation of one point from ≥ 2 views.

    ``projections``: 3×4 matrices; ``pixels`` (N, 2); ``weights`` (N,) optional. Each view adds the
    rows ``u·P₃ − P₁`` and ``v·P₃ − P₂`` normalised to unit length. Returns (3,), NaN when the
    solution is at infinity.
    """
    rows = []
    uv = np.asarray(pixels, dtype=np.float64)
    for i, (p, (u, v)) in enumerate(zip(projections, uv, strict=True)):
        w = 1.0 if weights is None else float(weights[i])
        for row in (u * p[2] - p[0], v * p[2] - p[1]):
            rows.append(w * row / np.linalg.norm(row))
    _, _, vt = np.linalg.svd(np.asarray(rows))
    x = vt[-1]
    if abs(x[3]) < 1e-12 * np.linalg.norm(x):
        return np.full(3, np.nan)
    return x[:3] / x[3]


def _residuals(point: np.ndarray, projections: Sequence[np.ndarray], pixels: np.ndarray):
    """Pixel residuals (N, 2), depths (N,) and Jacobians (N, 2, 3) of ``point``."""
    xh = np.append(point, 1.0)
    res, depth, jac = [], [], []
    for p, uv in zip(projections, pixels, strict=True):
        q = p @ xh
        res.append(q[:2] / q[2] - uv)
        depth.append(q[2])
        dq = p[:, :3]
        jac.append((dq[:2] * q[2] - np.outer(q[:2], dq[2])) / q[2] ** 2)
    return np.asarray(res), np.asarray(depth), np.asarray(jac)


def refine_point(
    point: np.ndarray, projections: Sequence[np.ndarray], pixels: np.ndarray, iterations: int = 10
) -> np.ndarray:
    """Gauss-Newton minimisation of the summed squared reprojection error (px), from ``point``."""
    x = np.asarray(point, dtype=np.float64).copy()
    for _ in range(iterations):
        res, depth, jac = _residuals(x, projections, pixels)
        if np.any(depth <= 0):
            break
        j = jac.reshape(-1, 3)
        step, *_ = np.linalg.lstsq(j, -res.reshape(-1), rcond=None)
        x += step
        if np.linalg.norm(step) < 1e-10 * (1.0 + np.linalg.norm(x)):
            break
    return x


def reprojection_errors(
    point: np.ndarray, cameras: Sequence[Camera], pixels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per view pixel error of ``point`` against ``pixels`` (N, 2) and its depth (N,)."""
    errors, depths = np.empty(len(cameras)), np.empty(len(cameras))
    for i, cam in enumerate(cameras):
        proj, depth = cam.project(point[None], return_depth=True)
        errors[i] = np.linalg.norm(proj[0] - pixels[i]) if depth[0] > 0 else np.inf
        depths[i] = depth[0]
    return errors, depths


def triangulate_robust(
    cameras: Sequence[Camera],
    stats: Sequence[MaskStats],
    *,
    min_mask_fraction: float = 0.0005,
    inlier_px: float = 8.0,
    inlier_relative: float = 0.25,
    min_views: int = 2,
) -> Triangulation:
    """Robustly triangulate the mask centroids ``stats`` seen by ``cameras`` (see module doc)."""
    n = len(cameras)
    if len(stats) != n:
        raise ValueError(f"{len(stats)} masks for {n} cameras")
    centroids = np.array([s.centroid for s in stats], dtype=np.float64).reshape(n, 2)
    area = np.array([s.area for s in stats], dtype=np.float64)
    valid = np.array([s.area > 0 and s.fraction >= min_mask_fraction for s in stats], dtype=bool)
    clipped = np.array([s.touches_border for s in stats], dtype=bool) & valid
    thresholds = np.maximum(inlier_px, inlier_relative * np.sqrt(area))
    projections = [projection_matrix(c) for c in cameras]
    nan = np.full(n, np.nan)
    none = np.zeros(n, dtype=bool)

    def failure(reason: str) -> Triangulation:
        return Triangulation(None, reason, nan, thresholds, valid, none, none, clipped)

    if valid.sum() < min_views:
        return failure(TOO_FEW_VIEWS)
    candidates = valid & ~clipped
    if candidates.sum() < min_views:
        candidates = valid.copy()
    cand = np.flatnonzero(candidates)

    def evaluate(point: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        errors = np.full(n, np.nan)
        depths = np.full(n, np.nan)
        errors[valid], depths[valid] = reprojection_errors(
            point, [cameras[i] for i in np.flatnonzero(valid)], centroids[valid]
        )
        inl = candidates & (errors <= thresholds) & (depths > 0)
        return errors, depths, inl

    best: tuple[int, float] | None = None
    best_inliers = none
    for i, j in itertools.combinations(cand, 2):
        point = triangulate_dlt([projections[i], projections[j]], centroids[[i, j]])
        if not np.all(np.isfinite(point)):
            continue
        errors, depths, inl = evaluate(point)
        if not (depths[i] > 0 and depths[j] > 0):
            continue
        ratio = np.minimum(errors[cand] / thresholds[cand], 1.0)
        score = (int(inl.sum()), -float(np.sum(np.nan_to_num(ratio, nan=1.0) ** 2)))
        if best is None or score > best:
            best, best_inliers = score, inl
    if best is None:
        return failure(BEHIND_CAMERA)
    if best[0] < min_views:
        return failure(NO_CONSENSUS)

    inliers = best_inliers
    point = np.full(3, np.nan)
    for _ in range(3):
        idx = np.flatnonzero(inliers)
        sub = [projections[k] for k in idx]
        point = refine_point(triangulate_dlt(sub, centroids[idx]), sub, centroids[idx])
        errors, depths, new_inliers = evaluate(point)
        if np.array_equal(new_inliers, inliers) or new_inliers.sum() < min_views:
            break
        inliers = new_inliers
    errors, depths, _ = evaluate(point)
    if not np.all(np.isfinite(point)) or np.any(~(depths[inliers] > 0)):
        return failure(BEHIND_CAMERA)
    if inliers.sum() < min_views or np.any(errors[inliers] > thresholds[inliers]):
        return failure(NO_CONSENSUS)
    outliers = valid & ~(errors <= thresholds)
    return Triangulation(point, None, errors, thresholds, valid, inliers, outliers, clipped)


__all__ = [
    "BEHIND_CAMERA",
    "NO_CONSENSUS",
    "TOO_FEW_VIEWS",
    "MaskStats",
    "Triangulation",
    "mask_stats",
    "projection_matrix",
    "reprojection_errors",
    "triangulate_dlt",
    "triangulate_robust",
]
