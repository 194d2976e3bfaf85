"""The visual hull of masks (:func:`carve`, the one carver: also ``mouselift fit``'s initial
points), and the mouse centre refined to its centroid (:func:`hull_centroid`).

The triangulated mask centroids locate the mouse robustly but are biased: a silhouette's area
centroid is not the projection of the body's centre (the tail weighs in every silhouette, views
cut by the image border are left out). The visual hull — the voxels whose projection lies inside
the mask of every view — approximates the body's volume, and its centroid is a closer estimate of
the body centre. On a synthetic recording (300 frames over the whole arena; mouse with tail,
often leaving some images) the hull centroid is a median 1.3 mm from the true volume centroid
(90th percentile 7.7 mm), the triangulated centroids 6.4 mm (12 mm).

Rules:

* The hull is carved inside a sphere of ``domain`` mm about the triangulated point (the hull of a
  few views has long spikes along their rays; the sphere keeps them from dragging the centroid).
* A view whose mask does not touch its image border sees the whole mouse, so a voxel projecting
  outside its image (or behind it) is not mouse and is carved. A view whose mask is cut by the
  border cannot tell: it carves only voxels that project inside its image.
* Which views carve: the valid views whose mask is neither cut by the border nor a triangulation
  outlier form the base; every other valid view joins when its mask holds at least
  ``HULL_AGREEMENT`` of the base's coarse hull voxels that project into its image (a view cut by
  the border is still right inside its image; a wrong mask, e.g. of another object, is not).
* Voxels are tested at their centres against the nearest mask pixel (OpenCV pixel centres): first
  coarse voxels (side ``COARSE_FACTOR · step``); the survivors and their neighbours are split into
  fine voxels of side ``step`` and carved again. Each view carves the survivors of the previous.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...cameras import Camera

#: Coarse voxel side, in fine steps.
COARSE_FACTOR = 4
#: Fewest fine voxels for a usable hull.
MIN_VOXELS = 8


def nearest_pixels(camera: Camera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nearest pixel ``(N, 2)`` int64 (column, row; OpenCV pixel centres) of each world point
    ``(N, 3)`` through ``camera.project`` (skew and distortion included), and whether it is
    seen: in front of the camera and inside its image, ``(N,)`` bool. Pixels of unseen points
    are 0."""
    uv = camera.project(np.asarray(points, dtype=np.float64).reshape(-1, 3))
    u, v = np.rint(uv[:, 0]), np.rint(uv[:, 1])  # NaN behind the camera: never seen
    seen = (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    ij = np.zeros((len(uv), 2), dtype=np.int64)
    ij[seen, 0], ij[seen, 1] = u[seen], v[seen]
    return ij, seen


def _lookup(
    points: np.ndarray, camera: Camera, mask: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """For points (N, 3): seen by ``camera`` (:func:`nearest_pixels`), and inside ``mask``
    (``> threshold`` at the nearest pixel). Both (N,) bool."""
    ij, seen = nearest_pixels(camera, points)
    inside = np.zeros(len(ij), dtype=bool)
    inside[seen] = mask[ij[seen, 1], ij[seen, 0]] > threshold
    return seen, inside


def carve(
    points: np.ndarray,
    cameras: Sequence[Camera],
    masks: Sequence[np.ndarray],
    threshold: float,
    *,
    partial: Sequence[bool] | None = None,
    min_views: int = 0,
) -> np.ndarray:
    """The visual hull test: boolean ``(N,)``, true for the points ``(N, 3)`` (world units of
    the cameras) inside every view's mask and seen by at least ``min_views`` views.

    ``masks[k]``: view k's ``(H, W)`` mask, mouse where ``> threshold`` (uint8 0..255 with e.g.
    127, or alpha in [0, 1] with 0.5), looked up at the nearest pixel (:func:`nearest_pixels`).
    A point outside view k's image (or behind it) is removed, unless ``partial[k]`` (its mask is
    cut by the image border, or unknown outside the image: that view carves only inside it).
    ``partial`` defaults to no view. Each view tests only the survivors of the previous ones.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    partial = [False] * len(cameras) if partial is None else list(partial)
    alive = np.arange(len(pts))
    views_seeing = np.zeros(len(pts), dtype=np.int64)
    for cam, mask, cut in zip(cameras, masks, partial, strict=True):
        if not len(alive):
            break
        seen, inside = _lookup(pts[alive], cam, mask, threshold)
        views_seeing[alive] += seen
        alive = alive[inside | ~seen] if cut else alive[inside]
    keep = np.zeros(len(pts), dtype=bool)
    keep[alive] = True
    return keep & (views_seeing >= min_views)


def _cube_offsets(count: int) -> np.ndarray:
    """Offsets (count³, 3) of the cells of a cube of ``count`` cells per side, centred on 0."""
    r = np.arange(count) - (count - 1) / 2
    return np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)


def _coarse_cells(domain: float, coarse: float) -> np.ndarray:
    """Coarse cell centres (in coarse units about the start) of the cells overlapping the sphere."""
    n = int(np.ceil(domain / coarse))
    cells = _cube_offsets(2 * n + 1)
    reach = domain + coarse * np.sqrt(3) / 2
    return cells[np.linalg.norm(cells, axis=1) * coarse <= reach]


def coarse_hull(
    cameras: Sequence[Camera],
    masks: Sequence[np.ndarray],
    start: np.ndarray,
    domain: float,
    step: float,
    threshold: int = 127,
    partial: Sequence[bool] | None = None,
) -> np.ndarray:
    """Centres (M, 3) of the coarse voxels (side ``COARSE_FACTOR · step``) of the hull."""
    start = np.asarray(start, dtype=np.float64).reshape(3)
    coarse = COARSE_FACTOR * step
    cells = start + coarse * _coarse_cells(domain, coarse)
    return cells[carve(cells, cameras, masks, threshold, partial=partial)]


def agreement(points: np.ndarray, camera: Camera, mask: np.ndarray, threshold: int = 127) -> float:
    """Fraction of ``points`` (N, 3) projecting into ``camera``'s image that fall inside ``mask``
    (NaN when none does): how well a view's mask agrees with a hull."""
    seen, inside = _lookup(np.asarray(points, dtype=np.float64).reshape(-1, 3), camera, mask,
                           threshold)
    return float(inside.sum() / seen.sum()) if seen.any() else float("nan")


def fine_hull(
    cameras: Sequence[Camera],
    masks: Sequence[np.ndarray],
    start: np.ndarray,
    domain: float,
    step: float,
    threshold: int = 127,
    partial: Sequence[bool] | None = None,
) -> np.ndarray:
    """Centres ``(M, 3)`` of the fine voxels (side ``step``) of the visual hull inside the sphere
    ``|X − start| ≤ domain``: the coarse hull (:func:`coarse_hull`), its voxels and their
    neighbours split into fine voxels, carved again (rules: the module docstring)."""
    start = np.asarray(start, dtype=np.float64).reshape(3)
    coarse = COARSE_FACTOR * step
    survivors = coarse_hull(cameras, masks, start, domain, step, threshold, partial)
    if not len(survivors):
        return np.zeros((0, 3))
    kept = np.rint((survivors - start) / coarse)
    grown = np.unique((kept[:, None, :] + _cube_offsets(3)[None]).reshape(-1, 3), axis=0)
    fine = (grown[:, None, :] * COARSE_FACTOR + _cube_offsets(COARSE_FACTOR)[None]).reshape(-1, 3)
    fine = fine[np.linalg.norm(fine, axis=1) * step <= domain]
    cells = start + step * fine
    return cells[carve(cells, cameras, masks, threshold, partial=partial)]


def hull_centroid(
    cameras: Sequence[Camera],
    masks: Sequence[np.ndarray],
    start: np.ndarray,
    domain: float,
    step: float,
    threshold: int = 127,
    partial: Sequence[bool] | None = None,
) -> tuple[np.ndarray | None, int]:
    """Centroid (3,) of the visual hull inside the sphere ``|X − start| ≤ domain``, and its fine
    voxel count; ``(None, count)`` when fewer than :data:`MIN_VOXELS` fine voxels survive."""
    inside = fine_hull(cameras, masks, start, domain, step, threshold, partial)
    if len(inside) < MIN_VOXELS:
        return None, len(inside)
    return inside.mean(axis=0), len(inside)


__all__ = ["agreement", "carve", "coarse_hull", "fine_hull", "hull_centroid", "nearest_pixels"]
