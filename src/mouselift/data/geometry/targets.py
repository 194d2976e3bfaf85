"""Geometry targets of a prepared sample: per view, the depth of the mouse's first surface.

``hull`` (:func:`hull_targets`): the visual hull carved from the masks of the sample's rig views
(the one carver, :func:`mouselift.data.framing.hull.fine_hull`, with prepare's rules: only the
views prepare's hull used — its record's ``hull_view`` —, a view whose mask touches its crop
border or the source image border carves only inside its image, a view whose crop runs past the
source image *and* whose mask reaches the source border is left out: its crop is unknown there),
voxels of ``voxel_px`` pixels of the views at the mouse centre, inside
the sphere each crop just holds (at most ``voxels_across`` voxels across it); then each view's
depth map (:func:`.depth.voxel_depth`) at the
pixels of its mask. The held-out ``eval/`` views get depth maps of the same hull (their masks are
never carved with, so they stay held out).

:func:`frame_hull_targets` carves the same hull from the frame's full masks in world mm (what
``prepare`` does while it has them): exact where a crop runs past its source image.

A depth map: float32 ``(H, W)`` camera-frame ``z`` in the sample's world units (FaceLift's
cameras sit 2.7 from the mouse), 0 where invalid (outside the mask, or no hull there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...cameras import Camera, Similarity
from ...images import MOUSE_ALPHA_THRESHOLD
from ..framing.crops import crop_sphere_radius
from ..framing.hull import fine_hull
from ..sample import SampleViews
from .depth import surface_voxels, voxel_depth

__all__ = ["HullTargets", "ViewMasks", "frame_hull_targets", "frame_rules", "hull_targets",
           "view_depths", "voxel_side"]

#: Default voxel side, in pixels of the sample's views at the mouse centre.
DEFAULT_VOXEL_PX = 2.0
#: Default cap: at most this many voxels across the crop sphere's diameter.
DEFAULT_VOXELS_ACROSS = 96


@dataclass(frozen=True)
class ViewMasks:
    """What depth targets need of views: image stems (``"cam_000"``), pinhole cameras of the
    sample's world, and masks ``(H, W)`` (alpha in [0, 1], or uint8 0..255 with
    ``threshold``)."""

    names: list[str]
    cameras: list[Camera]
    masks: list[np.ndarray]
    threshold: float = MOUSE_ALPHA_THRESHOLD

    @classmethod
    def of(cls, views: SampleViews) -> ViewMasks:
        return cls(views.view_names, list(views.cameras),
                   [views.rgba[k, ..., 3].numpy() for k in range(len(views))])


@dataclass
class HullTargets:
    """Depth maps by view name (the image stem, ``"cam_000"``) of the rig views (``depths``) and
    of the held-out views (``held_out``; their names may repeat the rig's), and how they were
    made: ``voxel`` (side, world units), ``num_voxels``, the views that carved, those that carved
    only inside their image (``partial``), and the share of each view's mask pixels that got a
    depth (``coverage``; held-out views as ``"eval/<name>"``)."""

    depths: dict[str, np.ndarray]
    held_out: dict[str, np.ndarray]
    voxel: float
    num_voxels: int
    carving: list[str]
    partial: list[str]
    coverage: dict[str, float] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"source": "hull", "voxel": self.voxel, "num_voxels": self.num_voxels,
                "carving_views": self.carving, "partial_views": self.partial,
                "coverage": {k: round(v, 4) for k, v in self.coverage.items()}}


def _view_rules(record: dict[str, Any] | None, names: list[str]) -> tuple[list[bool], list[bool]]:
    """Per view: whether it carves, and whether only inside its image (prepare's rules, in crop
    space: a crop that runs past the source image is transparent there, which is background
    when the mask does not reach the source border, and unknown when it does)."""
    if record is None:
        return [True] * len(names), [False] * len(names)
    by_name = {str(v.get("file_path", "")).split("/")[-1].rsplit(".", 1)[0]: v
               for v in record.get("views", [])}
    carves, partial = [], []
    for name in names:
        info = by_name.get(name, {})
        cut_in_source = bool(info.get("clipped_in_source", False))
        unknown_inside = bool(info.get("clipped", False)) and cut_in_source
        carves.append(bool(info.get("hull_view", True)) and not unknown_inside)
        partial.append(bool(info.get("touches_border", False)) or cut_in_source)
    return carves, partial


def frame_rules(hull_view: Sequence[bool], valid: Sequence[bool], outlier: Sequence[bool],
                cut_in_source: Sequence[bool]) -> tuple[list[bool], list[bool]]:
    """Per camera of a frame: whether it carves the geometry hull — the views of prepare's
    centre hull, or, when the centre came from the triangulation, the valid views that agree
    with it — and whether only inside its image (its mask touches the source border)."""
    carving = [bool(h) for h in hull_view]
    if not any(carving):
        carving = [bool(v) and not bool(o) for v, o in zip(valid, outlier, strict=True)]
    return carving, [bool(c) for c in cut_in_source]


def view_depths(views: ViewMasks, held_out: ViewMasks | None,
                depth_of: Callable[[Camera], np.ndarray]
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, float]]:
    """Each view's depth map ``depth_of(camera)`` inside its mask: ``(rig depths, held-out
    depths, coverage)`` by view name; coverage is the share of the mask that got a depth
    (held-out views as ``"eval/<name>"``)."""
    depths: dict[str, np.ndarray] = {}
    held: dict[str, np.ndarray] = {}
    coverage: dict[str, float] = {}
    for group, out, prefix in ((views, depths, ""), (held_out, held, "eval/")):
        if group is None:
            continue
        for name, cam, alpha in zip(group.names, group.cameras, group.masks, strict=True):
            mask = np.asarray(alpha) > group.threshold
            depth = (depth_of(cam) * mask).astype(np.float32)
            out[name] = depth
            coverage[prefix + name] = float((depth > 0).sum() / max(1, mask.sum()))
    return depths, held, coverage


def voxel_side(cameras: Sequence[Camera], voxel_px: float = DEFAULT_VOXEL_PX,
               voxels_across: int = DEFAULT_VOXELS_ACROSS) -> float:
    """Voxel side (the cameras' world units): ``voxel_px`` pixels of the views at the mouse
    centre (the origin), but at most ``voxels_across`` voxels across the crop sphere."""
    focal = float(np.mean([max(c.K[0, 0], c.K[1, 1]) for c in cameras]))
    distance = float(np.mean([np.linalg.norm(c.center) for c in cameras]))
    return max(voxel_px * distance / focal, 2.0 * crop_sphere_radius(cameras) / voxels_across)


def _view_depths(voxels: np.ndarray, step: float, views: ViewMasks,
                 held_out: ViewMasks | None, targets: HullTargets) -> HullTargets:
    """Each view's depth map of ``voxels`` inside its mask, into ``targets``."""
    shell = surface_voxels(voxels, step)
    targets.depths, targets.held_out, targets.coverage = view_depths(
        views, held_out, lambda cam: voxel_depth(shell, step, cam, surface=True))
    return targets


def hull_targets(views: SampleViews, *, record: dict[str, Any] | None = None,
                 held_out: SampleViews | None = None, voxel_px: float = DEFAULT_VOXEL_PX,
                 voxels_across: int = DEFAULT_VOXELS_ACROSS) -> HullTargets:
    """Depth maps of ``views`` (and ``held_out``) from the visual hull of ``views``' masks
    carved in crop space (module docstring). ``record``: the sample's ``sample.json`` (which
    views carve and how; None: all, fully)."""
    rig = ViewMasks.of(views)
    carves, partial = _view_rules(record, rig.names)
    if not any(carves):
        raise ValueError("no view may carve the visual hull (every view left out by prepare)")
    idx = [k for k, keep in enumerate(carves) if keep]
    step = voxel_side(rig.cameras, voxel_px, voxels_across)
    voxels = fine_hull([rig.cameras[k] for k in idx], [rig.masks[k] for k in idx], np.zeros(3),
                       1.05 * crop_sphere_radius(rig.cameras), step, rig.threshold,
                       [partial[k] for k in idx])
    targets = HullTargets({}, {}, step, len(voxels), [rig.names[k] for k in idx],
                          [rig.names[k] for k in idx if partial[k]])
    return _view_depths(voxels, step, rig, None if held_out is None else ViewMasks.of(held_out),
                        targets)


def frame_hull_targets(cameras: Sequence[Camera], masks: Sequence[np.ndarray], *,
                       centre: np.ndarray, carving: Sequence[bool], partial: Sequence[bool],
                       threshold: float, similarity: Similarity, views: ViewMasks,
                       held_out: ViewMasks | None = None,
                       voxel_px: float = DEFAULT_VOXEL_PX,
                       voxels_across: int = DEFAULT_VOXELS_ACROSS) -> HullTargets:
    """Depth maps of a sample's crops (``views``, ``held_out``; the sample's world) from the
    visual hull of the **full** frame (``cameras`` in world mm, distortion allowed, and their
    ``masks``, mouse where ``> threshold``), carved by the views in ``carving``, those in
    ``partial`` only inside their image, about ``centre`` (mm) inside the crop sphere — what
    ``prepare`` writes: exact where a crop runs past its source image. ``similarity``: world
    mm → the sample's world. NumPy only (it runs in forked ``prepare`` workers)."""
    idx = [k for k, keep in enumerate(carving) if keep]
    if not idx:
        raise ValueError("no view may carve the visual hull")
    step = voxel_side(views.cameras, voxel_px, voxels_across)
    radius_mm = 1.05 * crop_sphere_radius(views.cameras) / similarity.scale
    voxels_mm = fine_hull([cameras[k] for k in idx], [masks[k] for k in idx],
                          np.asarray(centre, dtype=np.float64), radius_mm,
                          step / similarity.scale, threshold, [bool(partial[k]) for k in idx])
    targets = HullTargets({}, {}, step, len(voxels_mm), [cameras[k].name for k in idx],
                          [cameras[k].name for k in idx if partial[k]])
    return _view_depths(similarity.apply(voxels_mm), step, views, held_out, targets)
