"""A one-view locator learned from the rig: one calibrated view's mask → the all-view mouse centre.

Casting the ray through a mask's centroid to a plane at the usual centre height
(:func:`~.locate.locate_from_one_view`) errs by the silhouette's centroid not being the
projection of the body centre (tail, pose, perspective) and by the centre's height. A prepared
multi-camera dataset knows, for every frame, the all-view centre ``prepare`` cropped around; the
locator learns from it, camera by camera, three cues of that centre from one view's
:class:`~.mask_shape.MaskShape`:

1. **where it projects**: its pixel, as an offset from the mask centroid along the mask's
   principal axes (``e1`` the major axis, pointing to the side the mask is skewed towards;
   ``e2`` a quarter turn from it; offsets in units of the mask's standard deviation along each);
2. **its depth**: ``log`` of its camera-frame z;
3. **its height**: world z (mm, Z up, floor at 0).

Each cue is a ridge regression on the same :data:`FEATURES` (standardised on the training
frames; the penalty picked from :data:`PENALTIES` by cross-validation). The centre is the point
that best agrees with the three, each weighted by its cross-validated error (a 3-unknown linear
least squares: two rows for the pixel, in mm at the point's depth, one for the depth, one for
the height) — a camera looking down trusts its height cue, a camera looking across its depth cue.

Fitted on **train** frames where the view's mask is wholly inside its image and the all-view
centre is well constrained (at least :data:`MIN_REFERENCE_VIEWS` views of the frame hold the
whole mouse: with fewer, a visual hull is a long cone and its centroid errs by up to ~10 mm).
A camera with fewer than :data:`MIN_FRAMES` such frames gets no locator (the plane method is
used there). The error a locator reports for itself (its **uncertainty**) is its error on the
dataset's val frames (the same kind of frames), else its cross-validated error on train.

A locator belongs to a calibration: each camera keeps the fingerprint of the camera it was fitted
for (:func:`camera_fingerprint`), and :meth:`OneViewLocator.check` refuses another in one line.
Saved as ``locator.json`` (:data:`LOCATOR_FILE`, format ``mouselift-locator``, versioned) in the
dataset folder and beside ``rig.json`` in both stages' checkpoints.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import atomic_write_text
from ...cameras import Camera
from ...cameras.rig import LOCATOR_FILE
from ...errors import MouseliftError
from ...jsonfile import read_json
from .locate import ray_plane_point
from .mask_shape import MaskShape

LOCATOR_FORMAT = "mouselift-locator"
LOCATOR_VERSION = 1
#: Fewest training frames a camera's locator is fitted from.
MIN_FRAMES = 20
#: A frame's all-view centre is a training target when at least this many views hold the mouse.
MIN_REFERENCE_VIEWS = 3
#: Ridge penalties tried (on standardised features), the one with the smallest CV error is used.
PENALTIES = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
#: Cross-validation folds: contiguous runs of the training frames (neighbours look alike).
FOLDS = 5
#: Smallest error (mm) a cue is trusted to, so that no cue ever gets an infinite weight.
MIN_SIGMA_MM = 0.1

_POINTS = ("core", "core2", "peak")
#: Names of the features, in order (the docstring of :func:`shape_features` defines them).
FEATURES = (
    "u", "v", "u2", "v2", "uv", "log_size", "log_elongation", "skew_major", "skew_cross",
    "box_major", "box_cross", "axis_x", "axis_y", "axis_cos2", "axis_sin2", "log_plane_depth",
    "xx", "yy", "xy", "box_x", "box_y", "box_width", "box_height",
    *(f"{p}_{c}" for p in _POINTS for c in ("major", "cross", "x", "y")),
    "log_core_radius", "core_radius",
)


class LocatorError(MouseliftError):
    """A locator file is malformed, or belongs to another calibration (one-line message)."""


def camera_fingerprint(camera: Camera) -> str:
    """Short hash of what a locator's pixels depend on: the camera's size, intrinsics and pose
    (world mm), to 1e-6."""
    parts = [camera.width, camera.height,
             [round(float(x), 6) + 0.0 for x in np.asarray(camera.K).ravel()],
             [round(float(x), 6) + 0.0 for x in np.asarray(camera.w2c)[:3].ravel()]]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


# --- features ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShapeFrame:
    """A mask's principal frame: unit axes ``e1`` (major, towards the skewed side), ``e2``; the
    standard deviations ``l1``, ``l2`` (px) along them."""

    e1: np.ndarray
    e2: np.ndarray
    l1: float
    l2: float

    def to_pixels(self, offset: np.ndarray) -> np.ndarray:
        """``(a, b)`` in axis units → a pixel offset."""
        return offset[0] * self.l1 * self.e1 + offset[1] * self.l2 * self.e2

    def from_pixels(self, delta: np.ndarray) -> np.ndarray:
        return np.array([delta @ self.e1 / self.l1, delta @ self.e2 / self.l2])


def shape_frame(shape: MaskShape) -> ShapeFrame:
    """The principal frame of ``shape`` (its second moments; the sign of ``e1`` from the third
    moment along it, so the frame turns with the mouse)."""
    xx, yy, xy = shape.second
    theta = 0.5 * math.atan2(2 * xy, xx - yy)
    c, s = math.cos(theta), math.sin(theta)
    if third_moment(shape.third, (c, s), (c, s)) < 0:
        c, s = -c, -s
    var1 = c * c * xx + 2 * c * s * xy + s * s * yy
    var2 = s * s * xx - 2 * c * s * xy + c * c * yy
    return ShapeFrame(np.array([c, s]), np.array([-s, c]), math.sqrt(max(var1, 1e-6)),
                      math.sqrt(max(var2, 1e-6)))


def third_moment(third: tuple[float, float, float, float], a: Any, b: Any) -> float:
    """``E[(x·a)²(x·b)]`` of a mask from its central third moments ``(xxx, yyy, xxy, xyy)``
    (:class:`MaskShape`), for directions ``a``, ``b`` (2,)."""
    m30, m03, m21, m12 = third
    a1, a2 = float(a[0]), float(a[1])
    b1, b2 = float(b[0]), float(b[1])
    return (a1 * a1 * b1 * m30 + (a1 * a1 * b2 + 2 * a1 * a2 * b1) * m21
            + (a2 * a2 * b1 + 2 * a1 * a2 * b2) * m12 + a2 * a2 * b2 * m03)


def plane_depth(camera: Camera, pixel: np.ndarray, height_mm: float) -> float | None:
    """Camera-frame z (mm) where the ray through ``pixel`` meets ``z = height_mm``, or ``None``
    when it does not in front of the camera."""
    hit = ray_plane_point(camera, pixel, height_mm)
    return None if hit is None else float(camera.w2c[2, :3] @ hit[0] + camera.w2c[2, 3])


def shape_features(shape: MaskShape, camera: Camera, height_mm: float
                   ) -> tuple[np.ndarray, ShapeFrame] | None:
    """The :data:`FEATURES` of one view's shape, and its principal frame; ``None`` when the
    centroid's ray misses the plane at ``height_mm``.

    With ``s`` = sqrt(area), ``f`` = sqrt(fx·fy), ``(e1, e2, l1, l2)`` the principal frame and
    the centroid ``c``: ``u``, ``v`` the centroid in [-1, 1] across the image, and their squares
    and product; ``log_size`` log(s/f); ``log_elongation`` log(l1/l2); ``skew_major`` E[(x·e1)³]/l1³
    and ``skew_cross`` E[(x·e1)²(x·e2)]/(l1²·l2); ``box_*`` the box centre's offset from ``c``
    along the axes (/l) and in x, y (/s), and the box size (/s); the axis direction and its
    double angle; ``log_plane_depth`` log of the camera z where the centroid's ray meets
    ``z = height_mm``; the second moments (/s²); for the core, core2 and peak points their offset
    from ``c`` along the axes (/l) and in x, y (/s); the core radius as log(r/f) and r/s.
    """
    u, v = shape.centroid
    focal = math.sqrt(camera.K[0, 0] * camera.K[1, 1])
    s = math.sqrt(shape.area)
    frame = shape_frame(shape)
    depth = plane_depth(camera, np.array([u, v]), height_mm)
    if depth is None:
        return None
    e1, e2, l1, l2 = frame.e1, frame.e2, frame.l1, frame.l2
    c1, s1 = float(e1[0]), float(e1[1])
    skew_major = third_moment(shape.third, e1, e1)
    skew_cross = third_moment(shape.third, e1, e2)
    x0, y0, x1, y1 = shape.box
    box = np.array([(x0 + x1) / 2 - u, (y0 + y1) / 2 - v])
    nu, nv = 2 * u / shape.width - 1, 2 * v / shape.height - 1
    xx, yy, xy = shape.second
    values = [nu, nv, nu * nu, nv * nv, nu * nv, math.log(s / focal), math.log(l1 / l2),
              skew_major / l1 ** 3, skew_cross / (l1 * l1 * l2), box @ e1 / l1, box @ e2 / l2,
              c1, s1, c1 * c1 - s1 * s1, 2 * c1 * s1, math.log(depth),
              xx / s ** 2, yy / s ** 2, xy / s ** 2, box[0] / s, box[1] / s, (x1 - x0) / s,
              (y1 - y0) / s]
    for name in _POINTS:
        delta = np.asarray(getattr(shape, name)) - (u, v)
        values += [delta @ e1 / l1, delta @ e2 / l2, delta[0] / s, delta[1] / s]
    radius = max(shape.core_radius, 0.5)
    values += [math.log(radius / focal), radius / s]
    return np.asarray(values, dtype=np.float64), frame


# --- one camera's model -----------------------------------------------------------------------
@dataclass(frozen=True)
class Ridge:
    """``y = [1, (x - mean) / scale] @ weights``: a ridge regression on standardised features
    (``weights`` ``(F + 1, T)``)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, penalty: float) -> Ridge:
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < 1e-9] = 1.0
        design = np.c_[np.ones(len(x)), (x - mean) / scale]
        ridge = penalty * np.eye(design.shape[1])
        ridge[0, 0] = 0.0  # the intercept is not penalised
        weights = np.linalg.solve(design.T @ design + ridge, design.T @ y)
        return cls(mean, scale, weights)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.c_[np.ones(len(x)), (x - self.mean) / self.scale] @ self.weights

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "weights": self.weights.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ridge:
        return cls(np.asarray(data["mean"], float), np.asarray(data["scale"], float),
                   np.asarray(data["weights"], float))


@dataclass(frozen=True)
class Cues:
    """What one view predicts of the centre: its ``pixel`` (2,), camera ``depth`` (mm) and
    world ``height`` (mm)."""

    pixel: np.ndarray
    depth: float
    height: float


@dataclass(frozen=True)
class CameraLocator:
    """The locator of one calibration camera (module docstring). ``sigma_mm``: the
    cross-validated error of each cue (``lateral`` per image axis, ``depth``, ``height``);
    ``error_mm``: the locator's own error (``cv`` on train, ``val`` on the dataset's val frames,
    ``val_border`` on val frames whose mask touches the image border; each ``mean``, ``p95``,
    ``max``, ``n``)."""

    camera: int
    name: str
    fingerprint: str
    frames: int
    penalty: float
    offset: Ridge
    log_depth: Ridge
    height: Ridge
    sigma_mm: dict[str, float]
    error_mm: dict[str, dict[str, float]] = field(default_factory=dict)

    def cues(self, features: np.ndarray, frame: ShapeFrame, shape: MaskShape) -> Cues:
        return predict_cues(self.offset, self.log_depth, self.height, features, frame, shape)

    def fuse(self, camera: Camera, cues: Cues) -> np.ndarray:
        """The point (world mm) that best agrees with ``cues`` (module docstring)."""
        return fuse_cues(camera, cues, self.sigma_mm)

    @property
    def uncertainty(self) -> dict[str, float] | None:
        """The error this camera's locator is known to make: on val frames when measured, else
        cross-validated on train."""
        if "val" in self.error_mm:
            return {**self.error_mm["val"], "from": "val"}  # type: ignore[dict-item]
        if "cv" in self.error_mm:
            return {**self.error_mm["cv"], "from": "cross-validation"}  # type: ignore[dict-item]
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"camera": self.camera, "name": self.name, "fingerprint": self.fingerprint,
                "frames": self.frames, "penalty": self.penalty,
                "offset": self.offset.to_dict(), "log_depth": self.log_depth.to_dict(),
                "height": self.height.to_dict(), "sigma_mm": self.sigma_mm,
                "error_mm": self.error_mm}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraLocator:
        return cls(int(data["camera"]), str(data["name"]), str(data["fingerprint"]),
                   int(data["frames"]), float(data["penalty"]), Ridge.from_dict(data["offset"]),
                   Ridge.from_dict(data["log_depth"]), Ridge.from_dict(data["height"]),
                   {k: float(v) for k, v in data["sigma_mm"].items()},
                   dict(data.get("error_mm") or {}))


def predict_cues(offset: Ridge, log_depth: Ridge, height: Ridge, features: np.ndarray,
                 frame: ShapeFrame, shape: MaskShape) -> Cues:
    """The three cues of one view (module docstring) from its :data:`FEATURES` and frame."""
    pixel = np.asarray(shape.centroid) + frame.to_pixels(offset(features[None])[0])
    return Cues(pixel, float(np.exp(log_depth(features[None])[0, 0])),
                float(height(features[None])[0, 0]))


def fuse_cues(camera: Camera, cues: Cues, sigma_mm: dict[str, float]) -> np.ndarray:
    """Weighted least squares for the point X (world mm): ``(û·P₃ − P₁)·X̃ / f`` and
    ``(v̂·P₃ − P₂)·X̃ / f`` (the pixel miss in mm at X's depth) over ``sigma_mm["lateral"]``,
    ``z_cam(X) − depth`` over ``sigma_mm["depth"]``, ``X_z − height`` over
    ``sigma_mm["height"]``."""
    projection = camera.K @ camera.w2c[:3]
    focal = math.sqrt(camera.K[0, 0] * camera.K[1, 1])
    rows, rhs = [], []
    lateral = max(sigma_mm["lateral"], MIN_SIGMA_MM)
    for axis in (0, 1):
        row = (cues.pixel[axis] * projection[2] - projection[axis]) / (focal * lateral)
        rows.append(row[:3])
        rhs.append(-row[3])
    depth = max(sigma_mm["depth"], MIN_SIGMA_MM)
    rows.append(camera.w2c[2, :3] / depth)
    rhs.append((cues.depth - camera.w2c[2, 3]) / depth)
    height = max(sigma_mm["height"], MIN_SIGMA_MM)
    rows.append(np.array([0.0, 0.0, 1.0 / height]))
    rhs.append(cues.height / height)
    return np.linalg.lstsq(np.asarray(rows), np.asarray(rhs), rcond=None)[0]


# --- the locator of a calibration -------------------------------------------------------------
@dataclass(frozen=True)
class LocatorEstimate:
    """One view's estimate of the mouse centre: ``centre`` (3,) world mm, the ``pixel`` it
    projects to, the ``cues``, whether the mask ``touches_border`` (which sides), and the
    camera locator's ``uncertainty`` (its known error, mm)."""

    centre: np.ndarray
    pixel: np.ndarray
    cues: Cues
    touches_border: bool
    border_sides: list[str]
    uncertainty: dict[str, Any] | None


@dataclass(frozen=True)
class OneViewLocator:
    """Per-camera locators of one calibration (module docstring). ``centre_height_mm`` the
    training frames' median centre height (the plane method's height and the features' plane);
    ``threshold`` the mask threshold the shapes were measured at; ``calibration`` the cameras it
    was fitted for (world mm); ``cameras`` the fitted models by calibration index;
    ``unavailable`` why the others have none; ``source`` where it was fitted (dataset,
    frames)."""

    centre_height_mm: float
    threshold: int
    calibration: list[Camera]
    cameras: dict[int, CameraLocator]
    unavailable: dict[int, str] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    def check(self, camera_index: int, camera: Camera) -> CameraLocator:
        """The locator of calibration camera ``camera_index``; one-line :class:`LocatorError`
        when the locator was fitted for another calibration or this camera has none."""
        if not 0 <= camera_index < len(self.calibration):
            raise LocatorError(f"the locator was fitted for a calibration of "
                               f"{len(self.calibration)} cameras; camera {camera_index} is not "
                               "one of them (another rig?)")
        own, fitted_for = camera_fingerprint(camera), self.fingerprints[camera_index]
        if own != fitted_for:
            fitted = self.source.get("dataset", "an unknown dataset")
            raise LocatorError(f"the locator was fitted for another calibration: camera "
                               f"{camera_index} is {own}, the locator's is "
                               f"{fitted_for} (fitted on {fitted})")
        if camera_index not in self.cameras:
            raise LocatorError(f"the locator has no model for camera {camera_index} "
                               f"({self.unavailable.get(camera_index, 'not fitted')})")
        return self.cameras[camera_index]

    @functools.cached_property
    def fingerprints(self) -> list[str]:
        """The calibration cameras' fingerprints (computed once: every locate checks one)."""
        return [camera_fingerprint(c) for c in self.calibration]

    def locate(self, camera_index: int, camera: Camera, shape: MaskShape) -> LocatorEstimate:
        """The centre from one view's mask shape (raises :class:`LocatorError` as :meth:`check`
        does, or when the view's ray misses the floor plane)."""
        model = self.check(camera_index, camera)
        got = shape_features(shape, camera, self.centre_height_mm)
        if got is None:
            raise LocatorError(f"camera {camera_index}: the ray through the mask centre does not "
                               "meet the floor in front of the camera")
        cues = model.cues(got[0], got[1], shape)
        centre = model.fuse(camera, cues)
        return LocatorEstimate(centre, camera.project(centre[None])[0], cues,
                               shape.touches_border, shape.border_sides, model.uncertainty)

    # --- files ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"format": LOCATOR_FORMAT, "version": LOCATOR_VERSION,
                "method": "ridge cues (pixel offset, log depth, height) fused by their "
                          "cross-validated errors",
                "features": list(FEATURES), "centre_height_mm": self.centre_height_mm,
                "threshold": self.threshold,
                "calibration": [{"name": c.name, "fingerprint": camera_fingerprint(c),
                                 "width": c.width, "height": c.height,
                                 "K": np.asarray(c.K).tolist(),
                                 "w2c": np.asarray(c.w2c).tolist()} for c in self.calibration],
                "source": self.source,
                "cameras": [self.cameras[k].to_dict() for k in sorted(self.cameras)],
                "unavailable": {str(k): v for k, v in sorted(self.unavailable.items())}}

    @classmethod
    def from_dict(cls, data: Any, source: str = "locator") -> OneViewLocator:
        if not isinstance(data, dict) or data.get("format") != LOCATOR_FORMAT:
            raise LocatorError(f"{source}: not a mouselift locator (format != "
                               f"{LOCATOR_FORMAT!r})")
        if data.get("version") != LOCATOR_VERSION:
            raise LocatorError(f"{source}: unsupported locator version {data.get('version')!r} "
                               f"(this mouselift reads {LOCATOR_VERSION}; refit it with "
                               "`mouselift locator DATASET`)")
        if list(data.get("features") or []) != list(FEATURES):
            raise LocatorError(f"{source}: made with other features; refit it with "
                               "`mouselift locator DATASET`")
        try:
            cameras = [CameraLocator.from_dict(c) for c in data["cameras"]]
            return cls(float(data["centre_height_mm"]), int(data["threshold"]),
                       [_camera(c) for c in data["calibration"]], {c.camera: c for c in cameras},
                       {int(k): str(v) for k, v in (data.get("unavailable") or {}).items()},
                       dict(data.get("source") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise LocatorError(f"{source}: malformed locator ({exc.__class__.__name__})"
                               ) from None

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> OneViewLocator:
        """Read a ``locator.json`` (a path to it, or to the folder holding it)."""
        path = Path(path)
        if path.is_dir():
            path = path / LOCATOR_FILE
        return cls.from_dict(read_json(path, LocatorError, "locator file"), str(path))

    def summary(self) -> str:
        fitted = ", ".join(str(k) for k in sorted(self.cameras)) or "none"
        return (f"one-view locator ({len(self.calibration)} cameras, fitted for {fitted}; "
                f"{self.source.get('dataset', 'dataset unknown')})")


def carried_instead(own: OneViewLocator | None, carried: dict[str, Any] | None
                    ) -> OneViewLocator | None:
    """The locator checkpoints carry (``Rig.locator``'s content) when it should serve instead of
    ``own`` (a dataset's): ``own`` is missing, or has no camera model (a recording too short to
    fit one) while the carried one has. ``None`` otherwise; a malformed carried locator is
    set aside with a warning."""
    if carried is None or (own is not None and own.cameras):
        return None
    try:
        theirs = OneViewLocator.from_dict(carried, "the checkpoints' locator")
    except LocatorError as exc:
        warnings.warn(f"{exc}: set aside", stacklevel=2)
        return None
    return theirs if own is None or theirs.cameras else None


def _camera(data: dict[str, Any]) -> Camera:
    camera = Camera(K=np.asarray(data["K"], dtype=np.float64),
                    w2c=np.asarray(data["w2c"], dtype=np.float64), width=int(data["width"]),
                    height=int(data["height"]), name=str(data["name"]))
    if camera_fingerprint(camera) != data["fingerprint"]:
        raise ValueError(f"camera {camera.name!r} does not match its fingerprint")
    return camera


def locator_line(locator: OneViewLocator) -> str:
    """One line: which cameras have a locator and their known error (mean / p95, mm)."""
    if not locator.cameras:
        why = next(iter(locator.unavailable.values()), "not fitted")
        return (f"{LOCATOR_FILE}: no camera has a model ({why}); the plane method serves "
                "one-view inference")
    parts = []
    for index in range(len(locator.calibration)):
        if index in locator.cameras:
            known = locator.cameras[index].uncertainty
            parts.append(f"{index}: {known['mean']:.1f}/{known['p95']:.1f}" if known
                         else f"{index}: fitted")
        else:
            parts.append(f"{index}: none")
    which = {"val": "val", "cross-validation": "cv"}
    sources = {which[c.uncertainty["from"]] for c in locator.cameras.values() if c.uncertainty}
    return (f"{LOCATOR_FILE}, {len(locator.cameras)} of {len(locator.calibration)} cameras "
            f"(error mean/p95 mm on {'+'.join(sorted(sources)) or '–'}: {', '.join(parts)})")


# --- fitting ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """One view of one frame for fitting or scoring: the calibration ``camera`` index, the
    ``frame``, its mask ``shape`` and the frame's all-view ``centre`` (world mm);
    ``reference_views`` how many of the frame's views hold the whole mouse."""

    camera: int
    frame: int
    shape: MaskShape
    centre: np.ndarray
    reference_views: int


def usable_for_fit(observation: Observation) -> bool:
    """Whole mouse in this view and a well-constrained all-view centre (module docstring)."""
    return (not observation.shape.touches_border
            and observation.reference_views >= MIN_REFERENCE_VIEWS)


def _targets(camera: Camera, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cam = (camera.w2c[:3, :3] @ centres.T + camera.w2c[:3, 3:4]).T
    pixels = (camera.K @ cam.T).T
    return pixels[:, :2] / pixels[:, 2:3], cam[:, 2]


def _design(observations: Sequence[Observation], camera: Camera, height: float):
    rows, frames, kept = [], [], []
    for i, obs in enumerate(observations):
        got = shape_features(obs.shape, camera, height)
        if got is not None:
            rows.append(got[0])
            frames.append(got[1])
            kept.append(i)
    return np.asarray(rows), frames, kept


def _fit_cues(x: np.ndarray, frames: Sequence[ShapeFrame], shapes: Sequence[MaskShape],
              pixels: np.ndarray, depths: np.ndarray, heights: np.ndarray, penalty: float
              ) -> tuple[Ridge, Ridge, Ridge]:
    offsets = np.stack([frame.from_pixels(p - np.asarray(s.centroid))
                        for frame, s, p in zip(frames, shapes, pixels, strict=True)])
    return (Ridge.fit(x, offsets, penalty), Ridge.fit(x, np.log(depths)[:, None], penalty),
            Ridge.fit(x, heights[:, None], penalty))


def _rms(values: Any) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def _errors(values: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(np.mean(values)), 3),
            "p95": round(float(np.percentile(values, 95)), 3),
            "max": round(float(np.max(values)), 3), "n": len(values)}


def fit_camera(index: int, camera: Camera, observations: Sequence[Observation],
               height: float) -> CameraLocator | str:
    """The locator of one camera from its training ``observations`` (those
    :func:`usable_for_fit`), or why there is none."""
    usable = sorted((o for o in observations if usable_for_fit(o)), key=lambda o: o.frame)
    x, frames, kept = _design(usable, camera, height)
    usable = [usable[i] for i in kept]
    if len(usable) < MIN_FRAMES:
        return (f"{len(usable)} training frames with the whole mouse in view and a "
                f"well-constrained centre (needs {MIN_FRAMES})")
    shapes = [o.shape for o in usable]
    centres = np.stack([o.centre for o in usable])
    pixels, depths = _targets(camera, centres)
    heights = centres[:, 2]
    folds = np.minimum(np.arange(len(usable)) * FOLDS // len(usable), FOLDS - 1)
    focal = math.sqrt(camera.K[0, 0] * camera.K[1, 1])
    best: tuple[float, float, dict[str, float], np.ndarray] | None = None
    for penalty in PENALTIES:
        cues: list[Cues] = []  # in frame order: the folds are contiguous runs of it
        for fold in range(FOLDS):
            train, test = folds != fold, folds == fold
            models = _fit_cues(x[train], [f for f, t in zip(frames, train, strict=True) if t],
                               [s for s, t in zip(shapes, train, strict=True) if t],
                               pixels[train], depths[train], heights[train], penalty)
            cues += [predict_cues(*models, x[i], frames[i], shapes[i])
                     for i in np.flatnonzero(test)]
        lateral = np.array([np.linalg.norm(c.pixel - p) * d / focal / math.sqrt(2)
                            for c, p, d in zip(cues, pixels, depths, strict=True)])
        sigma = {"lateral": _rms(lateral), "depth": _rms([c.depth for c in cues] - depths),
                 "height": _rms([c.height for c in cues] - heights)}
        errors = np.array([np.linalg.norm(fuse_cues(camera, c, sigma) - centre)
                           for c, centre in zip(cues, centres, strict=True)])
        if best is None or errors.mean() < best[0]:
            best = (float(errors.mean()), penalty, sigma, errors)
    assert best is not None
    _, penalty, sigma, errors = best
    models = _fit_cues(x, frames, shapes, pixels, depths, heights, penalty)
    return CameraLocator(index, camera.name, camera_fingerprint(camera), len(usable), penalty,
                         *models, sigma_mm={k: round(v, 4) for k, v in sigma.items()},
                         error_mm={"cv": _errors(errors)})


def fit_locator(cameras: Sequence[Camera], train: Sequence[Observation], *,
                threshold: int, val: Sequence[Observation] = (),
                source: dict[str, Any] | None = None) -> OneViewLocator:
    """Fit every camera's locator on ``train`` and measure it on ``val`` (module docstring)."""
    centres = {o.frame: o.centre[2] for o in train}
    if not centres:
        raise LocatorError("no training frames to fit a locator on")
    height = float(np.median(list(centres.values())))
    fitted: dict[int, CameraLocator] = {}
    unavailable: dict[int, str] = {}
    for index, camera in enumerate(cameras):
        got = fit_camera(index, camera, [o for o in train if o.camera == index], height)
        if isinstance(got, str):
            unavailable[index] = got
        else:
            fitted[index] = got
    locator = OneViewLocator(round(height, 4), threshold, list(cameras), fitted, unavailable,
                             dict(source or {}))
    if val:
        locator = with_validation(locator, cameras, val)
    return locator


def with_validation(locator: OneViewLocator, cameras: Sequence[Camera],
                    val: Sequence[Observation]) -> OneViewLocator:
    """``locator`` with each camera's error on ``val`` (``val``: frames usable for fitting;
    ``val_border``: the mask touches the image border) in ``error_mm``."""
    updated = dict(locator.cameras)
    for index, model in locator.cameras.items():
        whole, border = [], []
        for obs in val:
            if obs.camera != index or obs.reference_views < MIN_REFERENCE_VIEWS:
                continue
            try:
                estimate = locator.locate(index, cameras[index], obs.shape)
            except LocatorError:
                continue
            (border if obs.shape.touches_border else whole).append(
                float(np.linalg.norm(estimate.centre - obs.centre)))
        errors = dict(model.error_mm)
        if whole:
            errors["val"] = _errors(np.array(whole))
        if border:
            errors["val_border"] = _errors(np.array(border))
        updated[index] = CameraLocator(**{**model.__dict__, "error_mm": errors})
    return OneViewLocator(locator.centre_height_mm, locator.threshold, locator.calibration,
                          updated, locator.unavailable, locator.source)


# --- scoring ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OneViewScore:
    """One view's one-view centres against the frame's all-view centre (mm): the plane method's
    (``plane``; ``None`` when its ray misses the plane) and the locator's (``locator``; ``None``
    without a locator for the camera); whether the mask ``touches_border``; whether the all-view
    centre is well constrained (``reference``)."""

    camera: int
    frame: int
    plane: float | None
    locator: float | None
    touches_border: bool
    reference: bool

    def to_dict(self) -> dict[str, Any]:
        return {"camera": self.camera, "plane_mm": _round_or_none(self.plane),
                "locator_mm": _round_or_none(self.locator),
                "touches_border": self.touches_border, "reference": self.reference}


def _round_or_none(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def score_one_view(locator: OneViewLocator, cameras: Sequence[Camera],
                   observations: Sequence[Observation]) -> list[OneViewScore]:
    """Both one-view methods on each observation (the plane at the locator's height)."""
    scores = []
    for obs in observations:
        camera = cameras[obs.camera]
        hit = ray_plane_point(camera, np.asarray(obs.shape.centroid), locator.centre_height_mm)
        plane = None if hit is None else float(np.linalg.norm(hit[0] - obs.centre))
        try:
            estimate = locator.locate(obs.camera, camera, obs.shape)
            learned: float | None = float(np.linalg.norm(estimate.centre - obs.centre))
        except LocatorError:
            learned = None
        scores.append(OneViewScore(obs.camera, obs.frame, plane, learned,
                                   obs.shape.touches_border,
                                   obs.reference_views >= MIN_REFERENCE_VIEWS))
    return scores


#: Groups of :func:`summarize_scores`: the mouse wholly in view with a well-constrained all-view
#: centre; the mask on the image border; the mouse in view but the all-view centre itself
#: uncertain (fewer than MIN_REFERENCE_VIEWS views hold the whole mouse).
SCORE_GROUPS = ("whole", "border", "weak_reference")


def summarize_scores(scores: Sequence[OneViewScore], num_cameras: int
                     ) -> dict[int, dict[str, dict[str, Any]]]:
    """Per camera and group (:data:`SCORE_GROUPS`): ``n`` and each method's mean / p95 (mm)."""
    out: dict[int, dict[str, dict[str, Any]]] = {}
    for camera in range(num_cameras):
        mine = [s for s in scores if s.camera == camera]
        groups = {"whole": [s for s in mine if s.reference and not s.touches_border],
                  "border": [s for s in mine if s.touches_border],
                  "weak_reference": [s for s in mine if not s.reference and not s.touches_border]}
        out[camera] = {}
        for group, members in groups.items():
            entry: dict[str, Any] = {"n": len(members)}
            for method in ("plane", "locator"):
                values = [getattr(s, method) for s in members if getattr(s, method) is not None]
                entry[method] = (None if not values else
                                 {"mean": round(float(np.mean(values)), 3),
                                  "p95": round(float(np.percentile(values, 95)), 3)})
            out[camera][group] = entry
    return out


def format_scores(summary: dict[int, dict[str, dict[str, Any]]]) -> list[str]:
    """A table: per camera, plane vs locator (mean / p95 mm) on whole-mouse frames, then on
    border frames."""
    def cell(entry: dict[str, Any], method: str) -> str:
        value = entry.get(method)
        return "–" if value is None else f"{value['mean']:.1f} / {value['p95']:.1f}"

    rows = [("camera", "n", "plane mean/p95", "locator mean/p95", "border n", "plane",
             "locator")]
    for camera, groups in summary.items():
        whole, border = groups["whole"], groups["border"]
        rows.append((str(camera), str(whole["n"]), cell(whole, "plane"), cell(whole, "locator"),
                     str(border["n"]), cell(border, "plane"), cell(border, "locator")))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    return ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]


__all__ = [
    "FEATURES",
    "LOCATOR_FILE",
    "LOCATOR_FORMAT",
    "LOCATOR_VERSION",
    "MIN_FRAMES",
    "MIN_REFERENCE_VIEWS",
    "SCORE_GROUPS",
    "CameraLocator",
    "Cues",
    "LocatorError",
    "LocatorEstimate",
    "Observation",
    "OneViewLocator",
    "OneViewScore",
    "camera_fingerprint",
    "carried_instead",
    "fit_camera",
    "fit_locator",
    "format_scores",
    "fuse_cues",
    "locator_line",
    "plane_depth",
    "score_one_view",
    "shape_features",
    "summarize_scores",
    "usable_for_fit",
    "with_validation",
]
