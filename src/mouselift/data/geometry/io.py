"""A sample's geometry targets on disk: ``SAMPLE/geometry/``, written atomically.

::

    SAMPLE/geometry/cam_000.png … cam_{C-1}.png   depth of each rig view, 16-bit grayscale PNG
    SAMPLE/geometry/eval/cam_XXX.png              depth of each held-out view (if any)
    SAMPLE/geometry/geometry.json                 format, units, source and how it was made

A pixel's value ``n`` is the camera-frame depth ``z = n · depth_unit`` (OpenCV axes, the sample's
world units, ``depth_unit`` = 1e-4: 0.1 mm-scale steps where the cameras sit 2.7 from the mouse);
``0`` = invalid (outside the mask, or no depth there). Lossless, and any image tool opens it.
The folder is built beside the sample and renamed into place whole, so a sample either has
complete targets or none.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ... import __version__
from ...atomic import atomic_dir, atomic_write_json
from ..layout import EVAL_DIR, GEOMETRY_DIR, GEOMETRY_FILE
from ..sample import SampleError

__all__ = ["DEPTH_UNIT", "FORMAT", "has_geometry", "read_depth", "read_geometry_info",
           "write_geometry"]

FORMAT = "mouselift-geometry"
VERSION = 1
#: World units per count of the 16-bit depth PNGs.
DEPTH_UNIT = 1e-4
_MAX_COUNT = 2**16 - 1


def _encode(depth: np.ndarray) -> np.ndarray:
    counts = np.rint(np.asarray(depth, dtype=np.float64) / DEPTH_UNIT)
    if counts.max(initial=0) > _MAX_COUNT:
        raise ValueError(f"depth {float(np.max(depth)):.3f} exceeds the 16-bit range "
                         f"({_MAX_COUNT * DEPTH_UNIT:.3f} world units)")
    counts[~np.isfinite(counts) | (counts < 0)] = 0
    return counts.astype(np.uint16)


def write_geometry(sample_dir: str | os.PathLike, depths: dict[str, np.ndarray],
                   held_out: dict[str, np.ndarray], info: dict[str, Any], *,
                   replace: bool = False) -> Path:
    """Write ``depths`` (rig view name → float32 ``(H, W)``), ``held_out`` (held-out view name →
    depth, into ``eval/``) and ``geometry.json`` (``info`` plus format, units and version) as
    ``SAMPLE/geometry/``, atomically; ``replace`` an existing one. Returns the folder."""
    target = Path(sample_dir) / GEOMETRY_DIR
    with atomic_dir(target, replace=replace) as tmp:
        for folder, group in ((tmp, depths), (tmp / EVAL_DIR, held_out)):
            if group:
                folder.mkdir(exist_ok=True)
            for name, depth in group.items():
                Image.fromarray(_encode(depth)).save(folder / f"{name}.png", format="PNG",
                                                     compress_level=1)
        atomic_write_json(tmp / GEOMETRY_FILE, {
            "format": FORMAT, "version": VERSION, "mouselift": __version__,
            "depth": "camera-frame z (OpenCV axes) of the first surface, in the sample's world "
                     "units: value × depth_unit; 0 = invalid",
            "depth_unit": DEPTH_UNIT, "views": sorted(depths),
            "held_out_views": sorted(held_out), **info})
    return target


def has_geometry(sample_dir: str | os.PathLike) -> bool:
    """Whether the sample has geometry targets (``geometry/geometry.json``)."""
    return (Path(sample_dir) / GEOMETRY_DIR / GEOMETRY_FILE).is_file()


def read_geometry_info(sample_dir: str | os.PathLike) -> dict[str, Any]:
    """``geometry.json`` of the sample; a one-line :class:`SampleError` if absent or foreign."""
    import json

    path = Path(sample_dir) / GEOMETRY_DIR / GEOMETRY_FILE
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        raise SampleError(f"{path}: no geometry targets (run `mouselift geometry DATASET`)") \
            from None
    except ValueError as exc:
        raise SampleError(f"{path}: not JSON ({exc})") from None
    if info.get("format") != FORMAT:
        raise SampleError(f"{path}: not a mouselift geometry file")
    return info


def read_depth(sample_dir: str | os.PathLike, view: str, *, held_out: bool = False
               ) -> np.ndarray | None:
    """Depth map float32 ``(H, W)`` of ``view`` (image stem), 0 = invalid; None when the
    sample has no depth for that view."""
    folder = Path(sample_dir) / GEOMETRY_DIR
    path = folder / (f"{EVAL_DIR}/{view}.png" if held_out else f"{view}.png")
    if not path.is_file():
        return None
    with Image.open(path) as image:
        counts = np.asarray(image, dtype=np.uint16)
    return (counts.astype(np.float64) * DEPTH_UNIT).astype(np.float32)
