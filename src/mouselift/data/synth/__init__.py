"""Synthetic mouse recordings in the exact layout of MAMMAL's ``markerless_mouse_1_nerf``.

A procedural mouse (ellipsoids on a bending spine, fur-like texture, shading) walks over the arena
floor of the real ``markerless_mouse_1`` rig and is ray-cast analytically (independently of any
Gaussian renderer) into every camera. :func:`synthesize` writes the videos, mask videos,
``new_cam.pkl`` and ground truth (body centre, heading, surface points per frame); see
:mod:`.writer` for the layout and :mod:`.ground_truth` for the ground-truth arrays.
"""

from .config import BASE_SIZE, RIG_NAME, SynthConfig
from .ground_truth import GroundTruth, load_ground_truth
from .motion import Trajectory, simulate
from .mouse import MouseState, Parts, build_parts, surface_points
from .render import Renderer, RenderResult, Scene, render_frame
from .rig import eval_cameras, look_at, rig_cameras
from .writer import SynthResult, scene_for, synthesize

__all__ = [
    "BASE_SIZE",
    "RIG_NAME",
    "GroundTruth",
    "MouseState",
    "Parts",
    "RenderResult",
    "Renderer",
    "Scene",
    "SynthConfig",
    "SynthResult",
    "Trajectory",
    "build_parts",
    "eval_cameras",
    "load_ground_truth",
    "look_at",
    "render_frame",
    "rig_cameras",
    "scene_for",
    "simulate",
    "surface_points",
    "synthesize",
]
