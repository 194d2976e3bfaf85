"""Calibrations shipped with mouselift (see each JSON file's ``source``/``license`` fields).

``markerless_mouse_1``: the six cameras of the DANNCE/MAMMAL ``markerless_mouse_1`` rig
(MIT, © 2020 Timothy Dunn), 1152×1024 px, world in mm, Z up — the rig of synthetic recordings.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np

from ...cameras import Camera, w2c_from_rt


def list_builtin_calibrations() -> list[str]:
    """Names of the calibrations shipped in this package."""
    folder = resources.files(__name__)
    return sorted(
        p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json")
    )


def builtin_calibration(
    name: str = "markerless_mouse_1", *, undistorted: bool = True
) -> list[Camera]:
    """Cameras of a shipped calibration, in rig order (zero distortion when ``undistorted``)."""
    if name not in list_builtin_calibrations():
        raise ValueError(
            f"unknown built-in calibration {name!r} (known: {list_builtin_calibrations()})"
        )
    doc = json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())
    return [
        Camera(
            K=np.array(c["K"]),
            w2c=w2c_from_rt(np.array(c["R"]), np.array(c["t"])),
            width=c["width"],
            height=c["height"],
            dist=None if undistorted else np.array(c["dist"]),
            name=c["name"],
        )
        for c in doc["cameras"]
    ]
