"""Synthetic mouse recordings in the exact layout of MAMMAL's ``markerless_mouse_1_nerf``.

A procedural mouse (ellipsoids on a bending spine, fur-like texture, shading) walks over the arena
floor of the real ``markerless_mouse_1`` rig and is ray-cast analytically (independently of any
Gaussian renderer) into every camera. :func:`synthesize` writes the videos, mask videos,
``new_cam.pkl`` and ground truth (body centre, heading, surface points per frame); see
:mod:`.writer` for the layout and :mod:`.ground_truth` for the ground-truth arrays.
"""

from ...lazy import lazy_exports

_EXPORTS = {
    "BASE_SIZE": ".config",
    "GroundTruth": ".ground_truth",
    "MouseState": ".mouse",
    "Parts": ".mouse",
    "RIG_NAME": ".config",
    "RenderResult": ".render",
    "Renderer": ".render",
    "Scene": ".render",
    "SynthConfig": ".config",
    "SynthResult": ".writer",
    "Trajectory": ".motion",
    "build_parts": ".mouse",
    "eval_cameras": ".rig",
    "load_ground_truth": ".ground_truth",
    "look_at": ".rig",
    "render_frame": ".render",
    "rig_cameras": ".rig",
    "scene_for": ".writer",
    "simulate": ".motion",
    "surface_points": ".mouse",
    "synthesize": ".writer",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

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
