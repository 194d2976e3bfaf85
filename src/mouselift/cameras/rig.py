"""A rig: the ordered target views both stages agree on.

A :class:`Rig` is ``V`` views, each a camera (intrinsics, resolution, pose) and the text prompt
that names the view for the diffusion model. **View 0 is the input view**: the single image a
user gives is taken from view 0's camera, and the diffusion model generates all ``V`` views
(view 0 included). The cameras live in the rig's normalised world: the object at the origin, Z
up, OpenCV camera axes, FaceLift's units (cameras about 2.7 from the origin). What both stages
really share is each view's pose *relative to the input view* (:meth:`Rig.relative_poses`);
the world frame only fixes where the object is.

The rig is saved with every checkpoint of either stage (``rig/rig.json``, plus the prompt
embeddings of the diffusion stage in ``rig/prompt_embeds.safetensors``); inference refuses to
combine checkpoints whose rigs differ (:func:`require_same_rig`).

Built-in rigs: :func:`facelift_rig` (FaceLift's 6 views) and
:func:`mouselift.data.dataset_rig.rig_from_dataset` (the real cameras of a prepared dataset,
relative to its reference camera).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write_text
from ..errors import MouseliftError
from ..jsonfile import read_json
from .camera import Camera
from .orbits import orbit_camera
from .transforms import nearest_rotation, rigid_inverse

RIG_DIR = "rig"
RIG_FILE = "rig.json"
#: The one-view locator of the calibration the rig's dataset was prepared from, saved beside
#: ``rig.json`` (see :mod:`mouselift.data.framing.locator`; opaque to this module).
LOCATOR_FILE = "locator.json"
EMBEDS_FILE = "prompt_embeds.safetensors"
RIG_FORMAT = "mouselift-rig"
RIG_VERSION = 1

#: FaceLift's view prompt; ``{view}`` is the view's name.
FACELIFT_PROMPT = "a rendering image of 3D models, {view} view, color map."
#: FaceLift's views in its order: (name, azimuth in degrees **clockwise seen from above**, from
#: the front view). The subject faces the front camera, so "right" is the subject's right.
FACELIFT_VIEWS = (
    ("front", 0.0),
    ("front_right", 45.0),
    ("right", 90.0),
    ("back", 180.0),
    ("left", 270.0),
    ("front_left", 315.0),
)
#: Where FaceLift's front camera sits, as a counter-clockwise azimuth about +Z from +X: on −Y.
FACELIFT_FRONT_AZIMUTH_DEG = -90.0
FACELIFT_RADIUS = 2.7
FACELIFT_FOV_DEG = 50.0
#: fx = fy of FaceLift's 512×512 cameras as stored in its ``opencv_cameras.json`` (the float32 of
#: 256 / tan 25°, i.e. a 50° field of view).
FACELIFT_FOCAL_512 = 548.9937744140625
#: Prompt of the mouse rig; ``{view}`` is a description such as "front right, 22 degrees above".
MOUSE_PROMPT = "a rendering image of 3D models, {view} view, color map."
_DIRECTION_NAMES = ("front", "front right", "right", "back right", "back", "back left", "left",
                    "front left")


class RigError(MouseliftError):
    """A rig file is malformed, or two rigs that must agree do not (one-line message)."""


def relative_poses(cameras: Sequence[Camera], reference: int = 0) -> np.ndarray:
    """``(V, 4, 4)``: ``w2c_v @ c2w_ref`` — each camera's pose in the frame of
    ``cameras[reference]`` (it maps the reference camera's coordinates to camera v's)."""
    c2w_ref = rigid_inverse(cameras[reference].w2c)
    return np.stack([np.asarray(cam.w2c) @ c2w_ref for cam in cameras])


@dataclass(frozen=True)
class RigView:
    """One target view: its ``camera`` in the rig's world and the ``prompt`` that names it."""

    name: str
    prompt: str
    camera: Camera


@dataclass(frozen=True)
class Rig:
    """Ordered target views (view 0 = the input view), all of one resolution. ``locator``: the
    one-view locator of the rig's dataset (``locator.json``'s content, or ``None``); it travels
    with the rig (saved beside ``rig.json``) but is not part of its identity."""

    name: str
    views: tuple[RigView, ...]
    description: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    locator: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.views:
            raise RigError(f"rig {self.name!r} has no views")
        object.__setattr__(self, "views", tuple(self.views))
        sizes = {(v.camera.width, v.camera.height) for v in self.views}
        if len(sizes) != 1:
            raise RigError(f"rig {self.name!r}: all views must have one resolution, got {sizes}")
        for what in ("name", "prompt"):
            values = [getattr(v, what) for v in self.views]
            if len(set(values)) != len(values):
                dup = next(x for x in values if values.count(x) > 1)
                raise RigError(f"rig {self.name!r}: two views share the {what} {dup!r}")
        for view in self.views:
            if view.camera.has_distortion:
                raise RigError(f"rig {self.name!r}: view {view.name!r} has lens distortion")

    # --- views ----------------------------------------------------------------------------
    @property
    def num_views(self) -> int:
        return len(self.views)

    @property
    def width(self) -> int:
        return self.views[0].camera.width

    @property
    def height(self) -> int:
        return self.views[0].camera.height

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.views]

    @property
    def prompts(self) -> list[str]:
        return [v.prompt for v in self.views]

    @property
    def cameras(self) -> list[Camera]:
        return [v.camera for v in self.views]

    def relative_poses(self) -> np.ndarray:
        """``(V, 4, 4)``: ``w2c_v @ c2w_0``, each view's pose relative to the input view."""
        return relative_poses(self.cameras)

    def resized(self, width: int, height: int | None = None) -> Rig:
        """The same rig rendered at another resolution (intrinsics scaled about the image edge,
        so every 3D point keeps its place in the image)."""
        height = width if height is None else height
        views = tuple(
            RigView(v.name, v.prompt, v.camera.crop_and_resize((0, 0, v.camera.width,
                                                                 v.camera.height),
                                                                (width, height)))
            for v in self.views
        )
        return Rig(self.name, views, self.description, dict(self.source), self.locator)

    # --- identity -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": RIG_FORMAT,
            "version": RIG_VERSION,
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "views": [
                {
                    "name": v.name,
                    "prompt": v.prompt,
                    "width": v.camera.width,
                    "height": v.camera.height,
                    "K": np.asarray(v.camera.K).tolist(),
                    "w2c": np.asarray(v.camera.w2c).tolist(),
                }
                for v in self.views
            ],
        }

    def fingerprint(self) -> str:
        """Short hash of what the stages must agree on: order, names, prompts, resolution,
        intrinsics and relative poses (to 1e-6). Name, description and source do not count."""
        rel = self.relative_poses()
        parts = [
            [v.name, v.prompt, v.camera.width, v.camera.height,
             [round(float(x), 6) + 0.0 for x in np.asarray(v.camera.K).ravel()],
             [round(float(x), 6) + 0.0 for x in rel[i].ravel()]]
            for i, v in enumerate(self.views)
        ]
        blob = json.dumps(parts, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    def summary(self) -> str:
        return (f"rig {self.name!r} ({self.num_views} views, {self.width}×{self.height}, "
                f"fingerprint {self.fingerprint()})")

    @classmethod
    def from_dict(cls, data: Any, source: str = "rig") -> Rig:
        if not isinstance(data, dict) or data.get("format") != RIG_FORMAT:
            raise RigError(f"{source}: not a mouselift rig file (format != {RIG_FORMAT!r})")
        if data.get("version") != RIG_VERSION:
            raise RigError(f"{source}: unsupported rig version {data.get('version')!r}")
        views = []
        try:
            for item in data["views"]:
                camera = Camera(K=np.array(item["K"], dtype=np.float64),
                                w2c=np.array(item["w2c"], dtype=np.float64),
                                width=int(item["width"]), height=int(item["height"]),
                                name=str(item["name"]))
                views.append(RigView(str(item["name"]), str(item["prompt"]), camera))
        except (KeyError, TypeError, ValueError) as exc:
            raise RigError(f"{source}: malformed view {len(views)} ({exc})") from None
        rig = cls(str(data.get("name", "rig")), tuple(views), str(data.get("description", "")),
                  dict(data.get("source") or {}))
        _check_facelift_claim(rig, source)
        return rig

    # --- files ----------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, prompt_embeds: Any | None = None) -> Path:
        """Write ``folder/rig.json`` (and ``prompt_embeds.safetensors`` when given, a
        ``(V, 77, D)`` tensor in view order). Returns ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if prompt_embeds is not None:
            save_prompt_embeds(folder / EMBEDS_FILE, prompt_embeds, self)
        atomic_write_text(folder / RIG_FILE, json.dumps(self.to_dict(), indent=1) + "\n")
        if self.locator is not None:
            atomic_write_text(folder / LOCATOR_FILE, json.dumps(self.locator, indent=1) + "\n")
        else:
            (folder / LOCATOR_FILE).unlink(missing_ok=True)
        return folder


def save_prompt_embeds(path: Path, prompt_embeds: Any, rig: Rig) -> None:
    """Write ``(V, L, D)`` prompt embeddings with the rig's fingerprint in the metadata."""
    import torch
    from safetensors.torch import save_file

    from ..atomic import atomic_write_path

    tensor = torch.as_tensor(prompt_embeds).detach().to("cpu", torch.float32).contiguous()
    if tensor.ndim != 3 or tensor.shape[0] != rig.num_views:
        raise RigError(f"prompt embeddings must be ({rig.num_views}, L, D) for "
                       f"{rig.summary()}, got {tuple(tensor.shape)}")
    metadata = {"rig_fingerprint": rig.fingerprint(), "views": json.dumps(rig.names)}
    atomic_write_path(path, lambda tmp: save_file({"prompt_embeds": tensor}, str(tmp),
                                                  metadata=metadata))


def load_rig(folder_or_file: str | os.PathLike) -> Rig:
    """Read ``rig.json`` (a path to it, or to the folder holding it), with the ``locator.json``
    beside it when there is one."""
    path = Path(folder_or_file)
    if path.is_dir():
        path = path / RIG_FILE
    rig = Rig.from_dict(read_json(path, RigError, "rig file"), str(path))
    beside = path.parent / LOCATOR_FILE
    if beside.is_file():
        rig = replace(rig, locator=read_json(beside, RigError))
    return rig


def load_prompt_embeds(folder: str | os.PathLike, rig: Rig) -> Any | None:
    """The ``(V, L, D)`` float32 prompt embeddings saved with ``rig`` in ``folder``, or ``None``
    when there are none. Embeddings made for another rig are an error."""
    from safetensors import safe_open

    path = Path(folder) / EMBEDS_FILE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensor = f.get_tensor("prompt_embeds")
    except Exception as exc:
        raise RigError(f"{path}: cannot read prompt embeddings ({exc.__class__.__name__})"
                       ) from None
    if metadata.get("rig_fingerprint") != rig.fingerprint():
        raise RigError(f"{path}: these prompt embeddings were made for another rig "
                       f"(fingerprint {metadata.get('rig_fingerprint')}, {rig.summary()})")
    return tensor


def require_same_rig(a: Rig, a_source: str, b: Rig, b_source: str) -> None:
    """Raise :class:`RigError` naming both sources when ``a`` and ``b`` differ."""
    if a.fingerprint() == b.fingerprint():
        return
    detail = ""
    if a.num_views != b.num_views:
        detail = f"{a.num_views} vs {b.num_views} views"
    elif (a.width, a.height) != (b.width, b.height):
        detail = f"{a.width}×{a.height} vs {b.width}×{b.height}"
    elif a.prompts != b.prompts:
        k = next(i for i in range(a.num_views) if a.prompts[i] != b.prompts[i])
        detail = f"view {k} prompt {a.prompts[k]!r} vs {b.prompts[k]!r}"
    else:
        detail = "camera poses or intrinsics differ"
    raise RigError(f"rigs differ: {a_source} uses {a.summary()}, {b_source} uses "
                   f"{b.summary()} ({detail})")


# --- built-in rigs --------------------------------------------------------------------------
def facelift_rig(resolution: int = 512) -> Rig:
    """FaceLift's 6 views, exactly its cameras: the frames of its ``opencv_cameras.json`` in the
    order its inference takes them (front, front_right, right, back, left, front_left).

    FaceLift's world: Z up, every camera at elevation 0 and distance 2.7 looking at the origin;
    the front camera sits on −Y, and the views turn **clockwise seen from above** (front_right
    is at (−1.909, −1.909, 0), right at (−2.7, 0, 0): the subject's right is world −X). These
    absolute poses matter, not only the relative ones: FaceLift's GS-LRM was trained in this
    world frame. Intrinsics: FaceLift's fx = fy (50° field of view) scaled to ``resolution``,
    principal point at the image centre. See ``docs/conventions.md``."""
    focal = FACELIFT_FOCAL_512 * resolution / 512.0
    centre = (resolution - 1) / 2.0
    K = np.array([[focal, 0.0, centre], [0.0, focal, centre], [0.0, 0.0, 1.0]])
    views = tuple(
        RigView(name, FACELIFT_PROMPT.format(view=name),
                orbit_camera(FACELIFT_FRONT_AZIMUTH_DEG - clockwise, radius=FACELIFT_RADIUS,
                             elevation_deg=0.0, K=K, width=resolution, height=resolution,
                             name=name))
        for name, clockwise in FACELIFT_VIEWS
    )
    return Rig("facelift", views, "FaceLift's six views (elevation 0, FOV 50°, distance 2.7)",
               {"kind": "facelift"})


def _check_facelift_claim(rig: Rig, source: str) -> None:
    """A rig file that calls itself FaceLift's must hold FaceLift's cameras (absolute poses,
    intrinsics, prompts). mouselift 0.1 saved a mirrored FaceLift rig; refuse it by name."""
    if (rig.source or {}).get("kind") != "facelift":
        return
    expected = facelift_rig(rig.width) if rig.width == rig.height else None
    same = (expected is not None and rig.num_views == expected.num_views
            and rig.prompts == expected.prompts
            and all(np.allclose(a.w2c, b.w2c, atol=1e-6) and np.allclose(a.K, b.K, atol=1e-6)
                    for a, b in zip(rig.cameras, expected.cameras, strict=True)))
    if not same:
        raise RigError(f"{source}: says it is FaceLift's rig but its cameras are not FaceLift's "
                       "(mouselift 0.1 saved FaceLift's views mirrored); re-create the rig and "
                       "its prompt embeddings with `mouselift embeds --rig facelift`")


def view_direction(camera: Camera, reference: Camera) -> tuple[float, float]:
    """``(azimuth, elevation)`` in degrees of ``camera``'s centre seen from the origin.

    Azimuth turns **clockwise seen from above** (about −Z) from ``reference``'s centre, in
    [0, 360): FaceLift's sense, in which the subject faces the reference camera and 90° is its
    right. Elevation is the angle above the XY plane (Z up)."""
    centre = camera.center
    ref = reference.center
    azimuth = math.degrees(math.atan2(ref[1], ref[0]) - math.atan2(centre[1], centre[0]))
    elevation = math.degrees(math.atan2(centre[2], math.hypot(centre[0], centre[1])))
    return azimuth % 360.0, elevation


def describe_direction(azimuth: float, elevation: float) -> str:
    """Words for a view direction (:func:`view_direction`'s clockwise azimuth), e.g.
    ``"front right, 22 degrees above"`` for azimuth 45°: FaceLift's naming."""
    sector = _DIRECTION_NAMES[round(azimuth / 45.0) % 8]
    if abs(elevation) < 5:
        return sector
    return f"{sector}, {abs(elevation):.0f} degrees {'above' if elevation > 0 else 'below'}"


def rig_from_cameras(cameras: Sequence[Camera], *, name: str, names: Sequence[str] | None = None,
                     prompt: str = MOUSE_PROMPT, prompts: Sequence[str] | None = None,
                     description: str = "", source: dict[str, Any] | None = None) -> Rig:
    """A rig from cameras in a normalised world (object at the origin, Z up); ``cameras[0]`` is
    the input view. Prompts default to ``prompt`` with the direction of each view relative to the
    input view (made unique with the azimuth when two views fall in one direction sector)."""
    cameras = list(cameras)
    names = list(names) if names is not None else [c.name or f"view_{i}"
                                                   for i, c in enumerate(cameras)]
    if prompts is None:
        words = [describe_direction(*view_direction(c, cameras[0])) for c in cameras]
        for i, text in enumerate(words):
            if words.count(text) > 1:
                az, _ = view_direction(cameras[i], cameras[0])
                words[i] = f"{text}, azimuth {az:.0f} degrees"
        prompts = [prompt.format(view=w) for w in words]
    views = tuple(RigView(n, p, c) for n, p, c in zip(names, prompts, cameras, strict=True))
    return Rig(name, views, description, dict(source or {}))


def mean_camera(cameras: Sequence[Camera], name: str = "") -> Camera:
    """The average of cameras of one view over many frames: chordal mean rotation, mean centre,
    mean intrinsics."""
    rotation = nearest_rotation(np.mean([c.w2c[:3, :3] for c in cameras], axis=0))
    centre = np.mean([c.center for c in cameras], axis=0)
    w2c = np.eye(4)
    w2c[:3, :3] = rotation
    w2c[:3, 3] = -rotation @ centre
    K = np.mean([c.K for c in cameras], axis=0)
    return Camera(K=K, w2c=w2c, width=cameras[0].width, height=cameras[0].height, name=name)


def max_angle_deg(rotations: Sequence[np.ndarray]) -> float:
    """Largest angle (degrees) between any of ``rotations`` and their chordal mean."""
    mean = nearest_rotation(np.mean(rotations, axis=0))
    worst = 0.0
    for r in rotations:
        cos = np.clip((np.trace(mean.T @ r) - 1.0) / 2.0, -1.0, 1.0)
        worst = max(worst, math.degrees(math.acos(cos)))
    return worst
