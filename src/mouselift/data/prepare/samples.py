"""Turn one frame (all views) into one FaceLift sample, written atomically.

A sample is ``OUT/sample_{frame:06d}/`` holding ``images/cam_XXX.png`` (RGBA, alpha = mask),
``opencv_cameras.json`` (FaceLift's layout, ``"id"`` = the folder name) and ``sample.json`` (its
manifest record). Everything is written into a hidden temporary folder in ``OUT`` that is renamed
to the final name at the end, so a folder with a final name is complete by construction.

A frame that cannot be used (the mouse cannot be located) gets
``OUT/skipped/frame_{frame:06d}.json`` with the reason instead, so resumed runs and other
shards know it is done.

The record (one line of ``manifest.jsonl``) holds: ``sample`` (folder name), ``frame`` (source
frame index), ``split``; ``centre_mm`` (the crop centre, world mm), ``triangulated_mm`` (the
robustly triangulated mask centroids), ``centre_method`` (``"hull"`` or ``"triangulation"``),
``hull_voxels``; ``similarity`` (``scale``, ``rotation``, ``translation``: world mm → the
sample's world, ``X' = s R X + t``; ``scale`` repeated at top level), ``size``, ``num_views``,
``num_inliers``, ``flags`` (``"cam_XXX:<flag>"`` and sample-level flags); and per view in
``views``: ``camera`` (source camera name), ``file_path``, ``box`` (the crop in source pixels,
edge coordinates ``x0, y0, x1, y1``; the bounds of a slightly sheared parallelogram when the
source has skew), ``centre_px`` (projection of the centre in the source),
``source_px_per_output_px``, ``mask_area_px``, ``valid_mask``, ``reprojection_error_px`` (of the
triangulated point against this view's mask centroid), ``inlier_threshold_px``,
``triangulation_inlier``, ``hull_view``, ``mask_coverage`` (fraction of the crop with alpha >
``mask_threshold``), ``touches_border`` (mask on the crop's outermost pixels), ``clipped`` (crop
extends past the source image), ``clipped_in_source`` (mask on the source image border),
``flags`` and ``mask_shape`` (the full-frame mask's measurements,
:class:`~mouselift.data.framing.mask_shape.MaskShape`: what the one-view locator learns from,
:mod:`mouselift.data.framing.locator`).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import atomic_dir, atomic_write_text
from ...cameras import Camera
from ...cameras.facelift import default_file_path, write_opencv_cameras
from ..framing.crops import CropError, resample_view, save_png
from ..framing.locate import (
    FLAG_HULL_FALLBACK,
    FrameCameras,
    FrameLocation,
    frame_cameras,
    locate_frame,
)
from ..framing.mask_shape import mask_shape
from ..geometry import ViewMasks, frame_hull_targets, frame_rules, write_geometry
from ..layout import CAMERAS_FILE, EVAL_DIR, IMAGES_DIR, RECORD_FILE, SKIPPED_DIR, sample_name
from .config import PrepareConfig

TEMP_PREFIX = ".tmp_sample_"
TEMP_RE = re.compile(r"^\.tmp_sample_(\d{6,})_")
CROP_FAILED = "crop_failed"

#: Per-view quality flags (also in the sample's ``flags`` as ``"cam_XXX:<flag>"``).
FLAG_NO_MASK = "no_mask"  # mask too small to locate the mouse in this view
FLAG_OUTLIER = "triangulation_outlier"  # centroid disagrees with the other views
FLAG_CLIPPED_IN_SOURCE = "clipped_in_source"  # mask touches the source image border
FLAG_CLIPPED = "clipped"  # crop extends past the source image (transparent there)
FLAG_TOUCHES_BORDER = "touches_border"  # mask touches the crop border (mouse may be cut)
FLAG_MASK_DISAGREES = "mask_disagrees"  # valid mask left out of the visual hull (disagrees)


def skipped_path(out_dir: Path, frame: int) -> Path:
    return out_dir / SKIPPED_DIR / f"frame_{frame:06d}.json"


@dataclass(frozen=True)
class FrameOutcome:
    """What happened to one frame: ``status`` is ``"written"`` or ``"skipped"`` (with reason)."""

    frame: int
    status: str
    reason: str | None = None


def _round(values, digits: int = 6):
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


def _finite_or_none(value: float) -> float | None:
    return round(float(value), 4) if np.isfinite(value) else None


@dataclass(frozen=True)
class HeldOutViews:
    """Frames of held-out cameras (``RECORDING/eval/``) for the same source frame: cropped and
    normalised like the rig views into ``sample/eval/``, never used to locate the mouse."""

    images: Sequence[np.ndarray]
    masks: Sequence[np.ndarray]
    cameras: Sequence[Camera]


def process_frame(
    frame: int,
    images: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    cameras: Sequence[Camera],
    config: PrepareConfig,
    split: str,
    out_dir: str | os.PathLike,
    held_out: HeldOutViews | None = None,
) -> FrameOutcome:
    """Locate the mouse, crop, normalise and write the sample of ``frame`` (see module doc)."""
    out_dir = Path(out_dir)
    location = locate_frame(cameras, masks, config)
    stats, tri = location.stats, location.tri
    views_info = [
        {
            "camera": cam.name,
            "mask_area_px": int(s.area),
            "valid_mask": bool(tri.valid[k]),
            "reprojection_error_px": _finite_or_none(tri.errors[k]),
            "inlier_threshold_px": round(float(tri.thresholds[k]), 4),
        }
        for k, (cam, s) in enumerate(zip(cameras, stats, strict=True))
    ]
    if location.centre is None:
        return _write_skip(out_dir, frame, tri.reason or "unknown", views_info)
    try:
        framed = frame_cameras(cameras, location.centre, radius_mm=config.radius_mm,
                               size=config.image_size, target_distance=config.target_distance)
    except CropError as exc:
        return _write_skip(out_dir, frame, CROP_FAILED, views_info, detail=str(exc))
    temporary = out_dir / f"{TEMP_PREFIX}{frame:06d}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    # a concurrent run (another shard) that wrote the same sample first wins
    with atomic_dir(out_dir / sample_name(frame), keep_existing=True,
                    temporary=temporary) as tmp:
        _write_sample(tmp, _Located(frame, split, location, framed),
                      images, masks, cameras, config, views_info, held_out)
    return FrameOutcome(frame, "written")


@dataclass(frozen=True)
class _Located:
    """Where the mouse of one frame is and how each view is cropped around it."""

    frame: int
    split: str
    location: FrameLocation
    framed: FrameCameras


def _view_flags(k: int, located: _Located, touches: bool, config: PrepareConfig) -> list[str]:
    tri, geom = located.location.tri, located.framed.geometries[k]
    flags = []
    if not tri.valid[k]:
        flags.append(FLAG_NO_MASK)
    if tri.outliers[k]:
        flags.append(FLAG_OUTLIER)
    if tri.clipped_in_source[k]:
        flags.append(FLAG_CLIPPED_IN_SOURCE)
    if tri.valid[k] and config.centre_method == "hull" and not located.location.hull_views[k]:
        flags.append(FLAG_MASK_DISAGREES)
    if geom.clipped:
        flags.append(FLAG_CLIPPED)
    if touches:
        flags.append(FLAG_TOUCHES_BORDER)
    return flags


def _write_sample(tmp: Path, located: _Located, images: Sequence[np.ndarray],
                  masks: Sequence[np.ndarray], cameras: Sequence[Camera], config: PrepareConfig,
                  views_info: list[dict[str, Any]], held_out: HeldOutViews | None) -> None:
    """Render the crops, write the cameras, the held-out views and the record into ``tmp``."""
    location = located.location
    tri, centre = location.tri, location.centre
    assert centre is not None
    geometries, sim = located.framed.geometries, located.framed.similarity
    name = sample_name(located.frame)
    file_paths = [default_file_path(k) for k in range(len(cameras))]
    written = located.framed.cameras
    (tmp / IMAGES_DIR).mkdir(parents=True)

    def render(k: int) -> tuple[float, bool, np.ndarray]:
        return _render_view(geometries[k], images[k], masks[k], tmp / file_paths[k], config)

    rendered = list(_view_pool(config.threads).map(render, range(len(cameras))))
    views, flags = [], []
    for k, geom in enumerate(geometries):
        coverage, touches, _ = rendered[k]
        view_flags = _view_flags(k, located, touches, config)
        flags.extend(f"cam_{k:03d}:{f}" for f in view_flags)
        views.append(
            {
                **views_info[k],
                "file_path": file_paths[k],
                "box": _round(geom.box, 3),
                "source_size": [int(cameras[k].width), int(cameras[k].height)],
                "centre_px": _round(geom.centre_px, 4),
                "source_px_per_output_px": round(geom.scale, 5),
                "triangulation_inlier": bool(tri.inliers[k]),
                "hull_view": bool(location.hull_views[k]),
                "mask_coverage": coverage,
                "touches_border": touches,
                "clipped": geom.clipped,
                "clipped_in_source": bool(tri.clipped_in_source[k]),
                "flags": view_flags,
                "mask_shape": _shape_record(masks[k], config.mask_threshold),
            }
        )
    record: dict[str, Any] = {
        "sample": name,
        "frame": int(located.frame),
        "split": located.split,
        "centre_mm": _round(centre, 4),
        "triangulated_mm": _round(tri.point, 4),
        "centre_method": location.method,
        "hull_voxels": location.hull_voxels,
        "scale": sim.scale,
        "similarity": sim.to_dict(),
        "size": config.image_size,
        "num_views": len(cameras),
        "num_inliers": int(tri.inliers.sum()),
        "flags": location.flags + flags,
        "views": views,
    }
    write_opencv_cameras(tmp / CAMERAS_FILE, written, sample_id=name,
                         file_paths=file_paths)
    held_crops = None
    if held_out is not None:
        record["eval_views"], held_crops = _write_held_out(held_out, centre, sim, name, tmp,
                                                           config)
    if config.geometry:
        crops = _crops(written, [r[2] for r in rendered], file_paths, config.mask_threshold)
        record["geometry"] = _write_geometry(tmp, located, masks, cameras, config, crops,
                                             held_crops)
    (tmp / RECORD_FILE).write_text(json.dumps(record) + "\n")


def _shape_record(mask: np.ndarray, threshold: int) -> dict[str, Any] | None:
    shape = mask_shape(mask, threshold)
    return shape.to_dict() if shape is not None else None


def _crops(cameras: Sequence[Camera], alphas: Sequence[np.ndarray], file_paths: Sequence[str],
           threshold: float) -> ViewMasks:
    """The written crops' masks and cameras (what the geometry targets need)."""
    return ViewMasks([Path(p).stem for p in file_paths], list(cameras), list(alphas), threshold)


def _write_geometry(tmp: Path, located: _Located, masks: Sequence[np.ndarray],
                    cameras: Sequence[Camera], config: PrepareConfig, crops: ViewMasks,
                    held_crops: ViewMasks | None) -> dict[str, Any]:
    """The sample's geometry targets (``tmp/geometry/``) from the hull of the frame's full masks,
    carved by the views of the centre's hull (else the valid, consistent ones); what the record
    says about them."""
    location, tri = located.location, located.location.tri
    carving, partial = frame_rules(location.hull_views, tri.valid, tri.outliers,
                                   tri.clipped_in_source)
    assert location.centre is not None
    try:
        targets = frame_hull_targets(
            cameras, masks, centre=location.centre, carving=carving,
            partial=partial, threshold=config.mask_threshold,
            similarity=located.framed.similarity, views=crops, held_out=held_crops,
            voxel_px=config.geometry_voxel_px, voxels_across=config.geometry_voxels_across)
    except ValueError as exc:
        return {"written": False, "reason": str(exc)}
    settings = {"source": "hull", "voxel_px": config.geometry_voxel_px,
                "voxels_across": config.geometry_voxels_across}
    write_geometry(tmp, targets.depths, targets.held_out,
                   {**targets.describe(), "space": "frame (prepare)", "settings": settings})
    return {"written": True, "voxel": targets.voxel, "num_voxels": targets.num_voxels}


_POOL: tuple[int, int, ThreadPoolExecutor] | None = None


def _view_pool(threads: int) -> ThreadPoolExecutor:
    """This process's thread pool for the views (resampling and zlib release the GIL).

    Created lazily per process id and size, so forked worker processes get their own.
    """
    global _POOL
    if _POOL is None or _POOL[:2] != (os.getpid(), threads):
        _POOL = (os.getpid(), threads, ThreadPoolExecutor(threads, "mouselift-view"))
    return _POOL[2]


def _write_held_out(
    held_out: HeldOutViews, centre: np.ndarray, sim, name: str, tmp: Path, config: PrepareConfig
) -> tuple[list[dict[str, Any]], ViewMasks]:
    """Crop the held-out views around ``centre``, normalise with ``sim``, write ``tmp/eval/``;
    returns their records and the crops (alpha only)."""
    framed = frame_cameras(held_out.cameras, centre, radius_mm=config.radius_mm,
                           size=config.image_size, similarity=sim)
    geometries = framed.geometries
    file_paths = [default_file_path(k) for k in range(len(geometries))]
    (tmp / EVAL_DIR / IMAGES_DIR).mkdir(parents=True)
    info, alphas = [], []
    for k, geom in enumerate(geometries):
        coverage, touches, alpha = _render_view(
            geom, held_out.images[k], held_out.masks[k], tmp / EVAL_DIR / file_paths[k], config
        )
        alphas.append(alpha)
        info.append(
            {
                "camera": held_out.cameras[k].name,
                "file_path": f"{EVAL_DIR}/{file_paths[k]}",
                "box": _round(geom.box, 3),
                "source_size": [int(held_out.cameras[k].width), int(held_out.cameras[k].height)],
                "mask_coverage": coverage,
                "touches_border": touches,
                "clipped": geom.clipped,
            }
        )
    write_opencv_cameras(
        tmp / EVAL_DIR / CAMERAS_FILE,
        framed.cameras,
        sample_id=f"{name}/{EVAL_DIR}",
        file_paths=file_paths,
    )
    return info, _crops(framed.cameras, alphas, file_paths, config.mask_threshold)


def _render_view(
    geom, image: np.ndarray, mask: np.ndarray, path: Path, config: PrepareConfig
) -> tuple[float, bool, np.ndarray]:
    """Resample one view, write its PNG; return (mask coverage of the crop, mask touches the crop
    border, the crop's alpha uint8 (H, W))."""
    rgba = resample_view(image, mask, geom, config.image_size)
    save_png(rgba, path, config.png_compress_level)
    alpha = rgba[..., 3] > config.mask_threshold
    touches = bool(alpha[0].any() or alpha[-1].any() or alpha[:, 0].any() or alpha[:, -1].any())
    return round(float(np.count_nonzero(alpha)) / alpha.size, 5), touches, rgba[..., 3]


def _write_skip(
    out_dir: Path, frame: int, reason: str, views: list[dict], detail: str | None = None
) -> FrameOutcome:
    path = skipped_path(out_dir, frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"frame": int(frame), "reason": reason, "views": views}
    if detail:
        record["detail"] = detail
    atomic_write_text(path, json.dumps(record) + "\n")
    return FrameOutcome(frame, "skipped", reason)


__all__ = [
    "FLAG_CLIPPED",
    "FLAG_CLIPPED_IN_SOURCE",
    "FLAG_HULL_FALLBACK",
    "FLAG_MASK_DISAGREES",
    "FLAG_NO_MASK",
    "FLAG_OUTLIER",
    "FLAG_TOUCHES_BORDER",
    "FrameOutcome",
    "process_frame",
    "sample_name",
    "skipped_path",
]
