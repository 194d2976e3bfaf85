"""Rigs from prepared datasets, and the one place a rig is named on a command line or in a config.

:func:`rig_from_dataset` averages a prepared dataset's cameras into a :class:`~mouselift.cameras.
rig.Rig` (the mouse rig); :func:`resolve_rig` turns a spec — ``"facelift"``, ``"dataset"``, a
prepared dataset folder, a rig folder or ``rig.json``, a checkpoint folder holding ``rig/`` — into
a rig, optionally resized.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..cameras import read_opencv_cameras
from ..cameras.camera import Camera
from ..cameras.rig import (
    LOCATOR_FILE,
    MOUSE_PROMPT,
    RIG_DIR,
    RIG_FILE,
    Rig,
    RigError,
    facelift_rig,
    load_rig,
    max_angle_deg,
    mean_camera,
    rig_from_cameras,
)
from .layout import CAMERAS_FILE, TRAIN_SPLIT, is_dataset, read_split, split_list


def rig_from_dataset(dataset_dir: str | os.PathLike, *, reference_view: int = 0,
                     split: str = TRAIN_SPLIT, max_samples: int = 500,
                     prompt: str = MOUSE_PROMPT) -> Rig:
    """The mouse rig of a prepared dataset: its cameras in the normalised world, averaged over
    (up to ``max_samples`` evenly spaced) samples of ``split``, reordered so that camera
    ``reference_view`` comes first. View names are the image file stems (``cam_003``)."""
    dataset_dir = Path(dataset_dir)
    samples = read_split(dataset_dir, split)
    if not samples:
        raise RigError(f"{split_list(dataset_dir, split)}: lists no samples")
    step = max(1, len(samples) // max_samples)
    samples = samples[::step][:max_samples]
    per_view: list[list[Camera]] = []
    names: list[str] | None = None
    for sample in samples:
        meta = dataset_dir / sample / CAMERAS_FILE
        cameras = read_opencv_cameras(meta)
        these = [cam.name for cam in cameras]
        if names is None:
            names = these
            per_view = [[] for _ in cameras]
        elif these != names:
            raise RigError(f"{meta}: views {these} differ from the first sample's {names}")
        for k, cam in enumerate(cameras):
            per_view[k].append(cam)
    assert names is not None
    if not 0 <= reference_view < len(names):
        raise RigError(f"reference view {reference_view} out of range (dataset has "
                       f"{len(names)} views)")
    order = [reference_view, *[k for k in range(len(names)) if k != reference_view]]
    cameras = [mean_camera(per_view[k], names[k]) for k in order]
    spread = max(max_angle_deg([c.w2c[:3, :3] for c in per_view[k]]) for k in order)
    rig = rig_from_cameras(
        cameras, name=f"mouse:{dataset_dir.name}", names=[names[k] for k in order],
        prompt=prompt,
        description=(f"cameras of {dataset_dir.name} relative to {names[reference_view]}, "
                     f"mean over {len(samples)} samples (orientation spread ≤ {spread:.1f}°)"),
        source={"kind": "dataset", "dataset": str(dataset_dir.resolve()), "split": split,
                "samples": len(samples), "reference_view": names[reference_view],
                "max_orientation_spread_deg": round(spread, 3)},
    )
    return replace(rig, locator=dataset_locator(dataset_dir))


def dataset_locator(dataset_dir: Path) -> dict[str, Any] | None:
    """The content of the dataset's ``locator.json`` (checked), or ``None`` when it has none or
    an unusable one (a warning says why: inference then uses the plane method)."""
    from .framing.locator import LocatorError, OneViewLocator

    path = dataset_dir / LOCATOR_FILE
    if not path.is_file():
        return None
    try:
        return OneViewLocator.load(path).to_dict()
    except LocatorError as exc:
        warnings.warn(f"{exc}: the rig carries no locator", stacklevel=2)
        return None


def resolve_rig(spec: str | os.PathLike, *, dataset: str | os.PathLike | None = None,
                resolution: int | None = None, reference_view: int = 0,
                split: str = TRAIN_SPLIT) -> Rig:
    """The rig a spec names, resized to ``resolution`` (square) when given:

    * ``"facelift"``: FaceLift's six views (at ``resolution``, default 512);
    * ``"dataset"``: the cameras of ``dataset`` (:func:`rig_from_dataset`);
    * a prepared dataset folder: its cameras;
    * a rig folder, a ``rig.json``, or a folder holding ``rig/`` (a checkpoint, a pipeline)."""
    text = str(spec)
    if text == "facelift":
        rig = facelift_rig(resolution or 512)
    elif text == "dataset":
        if dataset is None:
            raise RigError("rig 'dataset' needs a dataset folder")
        rig = rig_from_dataset(dataset, reference_view=reference_view, split=split)
    else:
        path = Path(spec)
        if is_dataset(path, split):
            rig = rig_from_dataset(path, reference_view=reference_view, split=split)
        elif path.is_file() or (path / RIG_FILE).is_file():
            rig = load_rig(path)
        elif (path / RIG_DIR / RIG_FILE).is_file():
            rig = load_rig(path / RIG_DIR)
        else:
            raise RigError(f"{spec}: not 'facelift', a prepared dataset, or a rig folder/file")
    if resolution is not None and (rig.width, rig.height) != (resolution, resolution):
        rig = rig.resized(resolution)
    return rig


__all__ = ["resolve_rig", "rig_from_dataset"]
