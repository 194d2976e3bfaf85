"""Geometry targets of a prepared sample: per view, the depth of the mouse's first surface.

``hull`` (:func:`hull_targets`): the visual hull carved from the masks of the sample's rig views
(the one carver, :func:`mouselift.data.framing.hull.fine_hull`, with prepare's rules: only the
views prepare's hull used — its record's ``hull_view`` —, a view whose mask touches its crop
border or the source image border carves only inside its image, a view whose crop runs past the
source image *and* whose mask reaches the source border is left out: its crop is unknown there),
voxels of ``voxel_px`` pixels of the views at the mouse centre, inside
the sphere each crop just holds; then each view's depth map (:func:`.depth.voxel_depth`) at the
pixels of its mask. The held-out ``eval/`` views get depth maps of the same hull (their masks are
never carved with, so they stay held out).

A depth map: float32 ``(H, W)`` camera-frame ``z`` in the sample's world units (FaceLift's
cameras sit 2.7 from the mouse), 0 where invalid (outside the mask, or no hull there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...images import MOUSE_ALPHA_THRESHOLD
from ..framing.hull import fine_hull
from ..sample import SampleViews
from .depth import voxel_depth

__all__ = ["HullTargets", "crop_sphere_radius", "hull_targets"]

#: Default voxel side, in pixels of the sample's views at the mouse centre.
DEFAULT_VOXEL_PX = 2.0


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


def crop_sphere_radius(views: SampleViews) -> float:
    """Radius (world units) of the sphere about the origin (the mouse centre) that the views'
    crops just hold: ``d · sin(atan(half side / f))`` for a camera at distance ``d``; the
    largest over the views."""
    radii = []
    for cam in views.cameras:
        distance = float(np.linalg.norm(cam.center))
        half = 0.5 * min(cam.size) / float(max(cam.K[0, 0], cam.K[1, 1]))
        radii.append(distance * math.sin(math.atan(half)))
    return max(radii)


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


def hull_targets(views: SampleViews, *, record: dict[str, Any] | None = None,
                 held_out: SampleViews | None = None,
                 voxel_px: float = DEFAULT_VOXEL_PX) -> HullTargets:
    """Depth maps of ``views`` (and ``held_out``) from the visual hull of ``views``' masks
    (module docstring). ``record``: the sample's ``sample.json`` (which views carve and how;
    None: all, fully)."""
    names = views.view_names
    carves, partial = _view_rules(record, names)
    if not any(carves):
        raise ValueError("no view may carve the visual hull (every view left out by prepare)")
    cams = [c for c, keep in zip(views.cameras, carves, strict=True) if keep]
    masks = [views.rgba[k, ..., 3].numpy() for k in range(len(views)) if carves[k]]
    cut = [p for p, keep in zip(partial, carves, strict=True) if keep]
    focal = float(np.mean([max(c.K[0, 0], c.K[1, 1]) for c in views.cameras]))
    distance = float(np.mean([np.linalg.norm(c.center) for c in views.cameras]))
    step = voxel_px * distance / focal
    voxels = fine_hull(cams, masks, np.zeros(3), 1.05 * crop_sphere_radius(views), step,
                       MOUSE_ALPHA_THRESHOLD, cut)
    targets = HullTargets({}, {}, step, len(voxels),
                          [n for n, keep in zip(names, carves, strict=True) if keep],
                          [n for n, keep, p in zip(names, carves, partial, strict=True)
                           if keep and p])
    for group, out, prefix in ((views, targets.depths, ""),
                               (held_out, targets.held_out, "eval/")):
        if group is None:
            continue
        for k, (name, cam) in enumerate(zip(group.view_names, group.cameras, strict=True)):
            mask = group.rgba[k, ..., 3].numpy() > MOUSE_ALPHA_THRESHOLD
            depth = voxel_depth(voxels, step, cam) * mask
            out[name] = depth.astype(np.float32)
            targets.coverage[prefix + name] = float((depth > 0).sum() / max(1, mask.sum()))
    return targets
