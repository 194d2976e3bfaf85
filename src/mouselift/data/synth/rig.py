"""Cameras of a synthetic recording: the real rig, scaled, plus optional held-out cameras.

The rig is the built-in ``markerless_mouse_1`` calibration (6 undistorted cameras, 1152×1024,
mm, Z up), resized to :meth:`SynthConfig.image_size`. Held-out evaluation cameras look at the
point ``(arena centre, EVAL_TARGET_Z_MM)`` from random azimuths (uniform) and elevations (uniform
in ``eval_elevation_deg``), at a distance drawn from the range of the rig cameras' distances to
that point; each copies the intrinsics of a randomly chosen rig camera (skew included). Their
image x axis is horizontal (no roll).
"""

from __future__ import annotations

import math

import numpy as np

from ...cameras import Camera, w2c_from_rt
from ..calibrations import builtin_calibration
from .config import RIG_NAME, SynthConfig

#: Height (mm) of the point held-out cameras look at: about the mouse's body centre.
EVAL_TARGET_Z_MM = 20.0


def rig_cameras(config: SynthConfig) -> list[Camera]:
    """The recording rig at the configured resolution, in rig order, named ``"0"``…``"5"``."""
    width, height = config.image_size()
    return [cam.resize(width, height) for cam in builtin_calibration(RIG_NAME)]


def look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World-to-camera (4×4, OpenCV axes) of a camera at ``centre`` looking at ``target`` with
    world +Z pointing up in the image (image x horizontal). ``centre`` must not be straight above
    or below ``target``."""
    forward = np.asarray(target, dtype=np.float64) - np.asarray(centre, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    norm = np.linalg.norm(right)
    if norm < 1e-9:
        raise ValueError("look_at: the camera looks straight up or down; its roll is undefined")
    right /= norm
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    return w2c_from_rt(rotation, -rotation @ np.asarray(centre, dtype=np.float64))


def eval_cameras(config: SynthConfig) -> list[Camera]:
    """The ``config.eval_cameras`` held-out cameras (seeded), named ``"0"``, ``"1"``, …"""
    if config.eval_cameras == 0:
        return []
    rng = np.random.default_rng([config.seed, 1])
    rig = rig_cameras(config)
    target = np.array([*config.arena_center_mm, EVAL_TARGET_Z_MM])
    distances = [float(np.linalg.norm(c.center - target)) for c in rig]
    lo_el, hi_el = (math.radians(e) for e in config.eval_elevation_deg)
    cameras = []
    for i in range(config.eval_cameras):
        azimuth = rng.uniform(-math.pi, math.pi)
        elevation = rng.uniform(lo_el, hi_el)
        distance = rng.uniform(min(distances), max(distances))
        template = rig[int(rng.integers(len(rig)))]
        direction = np.array(
            [
                math.cos(elevation) * math.cos(azimuth),
                math.cos(elevation) * math.sin(azimuth),
                math.sin(elevation),
            ]
        )
        cameras.append(
            Camera(
                K=template.K,
                w2c=look_at(target + distance * direction, target),
                width=template.width,
                height=template.height,
                name=str(i),
            )
        )
    return cameras
