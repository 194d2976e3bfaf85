"""Where the mouse is in 3D, and the cameras of a frame cropped and normalised around it.

Shared by ``mouselift prepare`` (every frame of a recording) and ``mouselift infer`` (one image),
so an input to the models is framed exactly like the training data.

* :func:`locate_frame` — all views: robust triangulation of the mask centroids
  (:mod:`.triangulate`), refined to the centroid of the masks' visual hull (:mod:`.hull`), as
  ``prepare`` crops around it.
* :func:`locate_from_one_view` — one calibrated view: the ray through the mask's centroid meets
  the horizontal plane ``z = height`` (world mm, Z up, floor at z ≈ 0), where ``height`` is the
  body centre's usual height above the floor (the median ``centre_mm`` z of a prepared dataset,
  :class:`~.training.TrainingFraming`). On the synthetic recording of the
  tests this lands 3–15 mm from the true body centre depending on the camera, 8.7 mm on average
  for camera 0 (the crop sphere's radius is 60 mm). The learned one-view locator
  (:mod:`.locator`) does better where a dataset has fitted one; this is its fallback.
* :func:`frame_cameras` — the crops of the given cameras about a centre (one 3D radius,
  :func:`~.crops.crop_geometry`) and the frame's similarity (centre to the
  origin, mean camera distance ``target_distance``, :func:`~.normalize.frame_similarity`): the
  cameras ``prepare`` writes to a sample's ``opencv_cameras.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...cameras import Camera, Similarity
from ..prepare.config import PrepareConfig
from .crops import CropGeometry, crop_geometry
from .hull import agreement, coarse_hull, hull_centroid
from .normalize import frame_similarity
from .triangulate import MaskStats, Triangulation, mask_stats, triangulate_robust

#: Radius of the visual hull's domain, as a fraction of ``radius_mm`` (see :mod:`.hull`).
HULL_DOMAIN = 0.75
#: Smallest fraction of the base hull that a further view's mask must hold to carve (see .hull).
HULL_AGREEMENT = 0.35
#: Sample-level flag: the visual hull was unusable, the triangulated point was used instead.
FLAG_HULL_FALLBACK = "hull_fallback"


@dataclass(frozen=True)
class FrameLocation:
    """The mouse of one frame located from all its views (:func:`locate_frame`).

    ``stats``: each view's mask measurements; ``tri``: the robust triangulation (``tri.ok`` false
    → ``centre`` is ``None``, ``tri.reason`` says why); ``centre`` (3,) world mm, the point the
    crops are centred on (the hull centroid, or ``tri.point`` with ``config.centre_method ==
    "triangulation"`` or when the hull is not trusted); ``flags`` sample-level flags;
    ``hull_voxels``; ``hull_views`` which views carved the hull."""

    stats: list[MaskStats]
    tri: Triangulation
    centre: np.ndarray | None
    flags: list[str]
    hull_voxels: int | None
    hull_views: np.ndarray

    @property
    def method(self) -> str:
        """``"hull"`` or ``"triangulation"`` (what ``centre`` is)."""
        return "triangulation" if self.flags or self.hull_voxels is None else "hull"


def locate_frame(cameras: Sequence[Camera], masks: Sequence[np.ndarray],
                 config: PrepareConfig) -> FrameLocation:
    """Locate the mouse from every view's mask (uint8 ``(H, W)``, soft 0..255) as ``prepare``
    does (module docstring)."""
    stats = [mask_stats(m, config.mask_threshold) for m in masks]
    tri = triangulate_robust(
        cameras,
        stats,
        min_mask_fraction=config.min_mask_fraction,
        inlier_px=config.inlier_px,
        inlier_relative=config.inlier_relative,
        min_views=config.min_views,
    )
    if not tri.ok:
        return FrameLocation(stats, tri, None, [], None, np.zeros(len(cameras), dtype=bool))
    centre, flags, voxels, views = refine_centre(tri, cameras, masks, config)
    return FrameLocation(stats, tri, centre, flags, voxels, views)


def refine_centre(
    tri: Triangulation, cameras: Sequence[Camera], masks: Sequence[np.ndarray],
    config: PrepareConfig
) -> tuple[np.ndarray, list[str], int | None, np.ndarray]:
    """The centre to crop around, sample-level flags, the hull's voxel count and which views
    carved the hull (see :mod:`.hull` for the rules).

    The hull lives in a sphere of ``HULL_DOMAIN · radius_mm`` about the triangulated point. A hull
    that is empty, or whose centroid is more than half the crop radius from the triangulated
    point, is not trusted: the triangulated point is used (flag ``hull_fallback``).
    """
    assert tri.point is not None
    n = len(cameras)
    if config.centre_method == "triangulation":
        return tri.point, [], None, np.zeros(n, dtype=bool)
    domain = HULL_DOMAIN * config.radius_mm
    base = tri.valid & ~tri.outliers & ~tri.clipped_in_source
    if base.sum() < 2:
        base = tri.valid & ~tri.outliers
    use = base.copy()
    if base.sum() >= 2:
        idx = np.flatnonzero(base)
        coarse = coarse_hull(
            [cameras[i] for i in idx], [masks[i] for i in idx], tri.point, domain,
            config.hull_step_mm, config.mask_threshold, tri.clipped_in_source[idx],
        )
        for k in np.flatnonzero(tri.valid & ~base):
            score = agreement(coarse, cameras[k], masks[k], config.mask_threshold)
            use[k] = bool(score >= HULL_AGREEMENT)
    idx = np.flatnonzero(use)
    centre, voxels = (None, 0)
    if len(idx) >= 2:
        centre, voxels = hull_centroid(
            [cameras[i] for i in idx], [masks[i] for i in idx], tri.point, domain,
            config.hull_step_mm, config.mask_threshold, tri.clipped_in_source[idx],
        )
    if centre is None or np.linalg.norm(centre - tri.point) > 0.5 * config.radius_mm:
        return tri.point, [FLAG_HULL_FALLBACK], voxels, use
    return centre, [], voxels, use


class LocateError(ValueError):
    """The mouse cannot be located from this one view (no mask, or the ray misses the plane)."""


@dataclass(frozen=True)
class OneViewLocation:
    """The mouse located from one calibrated view (:func:`locate_from_one_view`).

    ``centre`` (3,) world mm on the plane ``z = height_mm``; ``pixel`` (2,) the mask centroid it
    was cast through (OpenCV pixels); ``distance_mm`` from the camera centre; ``stats`` the
    mask's measurements."""

    centre: np.ndarray
    pixel: np.ndarray
    height_mm: float
    distance_mm: float
    stats: MaskStats


def locate_from_one_view(camera: Camera, mask: np.ndarray, height_mm: float, *,
                         threshold: int = 127, min_mask_fraction: float = 0.0005
                         ) -> OneViewLocation:
    """Cast the ray through the centroid of ``mask > threshold`` (uint8 ``(H, W)``) of
    ``camera`` (world mm, Z up) and intersect it with the plane ``z = height_mm``.

    Raises :class:`LocateError` when the mask is (nearly) empty or the ray does not meet the
    plane in front of the camera."""
    stats = mask_stats(mask, threshold)
    if stats.area == 0 or stats.fraction < min_mask_fraction:
        raise LocateError(f"camera {camera.name!r}: the mask is empty or too small "
                          f"({stats.area} px) to locate the mouse")
    hit = ray_plane_point(camera, stats.centroid, height_mm)
    if hit is None:
        raise LocateError(f"camera {camera.name!r}: the ray through the mask centre does not "
                          f"meet z = {height_mm:.1f} mm in front of the camera")
    return OneViewLocation(hit[0], stats.centroid.copy(), float(height_mm), hit[1], stats)


def ray_plane_point(camera: Camera, pixel: np.ndarray, height_mm: float
                    ) -> tuple[np.ndarray, float] | None:
    """Where the ray of ``camera`` through ``pixel`` (OpenCV pixels) meets the plane
    ``z = height_mm`` (world mm), and how far along the ray (mm); ``None`` when it is parallel
    to the plane or meets it behind the camera."""
    origin = camera.center
    direction = camera.ray_directions(np.asarray(pixel, dtype=np.float64)[None])[0]
    if abs(direction[2]) < 1e-9:
        return None
    distance = (height_mm - origin[2]) / direction[2]
    if not distance > 0:
        return None
    return origin + distance * direction, float(distance)


@dataclass(frozen=True)
class FrameCameras:
    """Cameras cropped about a centre and normalised (:func:`frame_cameras`).

    ``geometries``: one crop per camera (un-normalised camera, pixel map); ``similarity``: world
    mm → the sample's world; ``cameras``: the cropped cameras in the sample's world — what a
    sample's ``opencv_cameras.json`` holds."""

    geometries: list[CropGeometry]
    similarity: Similarity
    cameras: list[Camera]


def frame_cameras(cameras: Sequence[Camera], centre: np.ndarray, *, radius_mm: float,
                  size: int, target_distance: float = 2.7,
                  similarity: Similarity | None = None) -> FrameCameras:
    """Crop every camera about ``centre`` (world mm) so the sphere of ``radius_mm`` just fits a
    ``size``² image, and move the world by the frame's similarity (``similarity``, default
    :func:`~.normalize.frame_similarity` of these cameras). Raises
    :class:`~.crops.CropError` when a camera cannot crop the sphere."""
    geometries = [crop_geometry(cam, centre, radius_mm, size) for cam in cameras]
    sim = similarity if similarity is not None else frame_similarity(cameras, centre,
                                                                     target_distance)
    return FrameCameras(geometries, sim, [g.camera.transformed(sim) for g in geometries])


__all__ = [
    "FLAG_HULL_FALLBACK",
    "FrameCameras",
    "FrameLocation",
    "LocateError",
    "OneViewLocation",
    "frame_cameras",
    "locate_frame",
    "locate_from_one_view",
    "ray_plane_point",
    "refine_centre",
]
