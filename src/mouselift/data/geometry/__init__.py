"""Geometry targets of prepared samples: depth maps of the mouse from the rig (no ground truth
needed) — :mod:`.targets` (the visual hull), :mod:`.depth` (z-buffered voxels), :mod:`.io` (the
``SAMPLE/geometry/`` files)."""

from .depth import surface_voxels, voxel_depth
from .io import DEPTH_UNIT, has_geometry, read_depth, read_geometry_info, write_geometry
from .targets import (
    HullTargets,
    ViewMasks,
    frame_hull_targets,
    frame_rules,
    hull_targets,
    view_depths,
    voxel_side,
)

__all__ = [
    "DEPTH_UNIT",
    "HullTargets",
    "ViewMasks",
    "frame_hull_targets",
    "frame_rules",
    "has_geometry",
    "hull_targets",
    "read_depth",
    "read_geometry_info",
    "surface_voxels",
    "view_depths",
    "voxel_depth",
    "voxel_side",
    "write_geometry",
]
