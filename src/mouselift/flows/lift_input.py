"""The input of a lift: one image framed like the training data, and the cameras to use.

:func:`frame_input` turns an image and its mask into the crop Stage 1 gets, with the same
functions ``mouselift prepare`` uses (:mod:`mouselift.data.framing.crops`,
:mod:`mouselift.data.framing.locate`):

* **a calibrated camera** (a recording frame, or an image with a calibration file): the mouse is
  located in 3D from that one view — by the training dataset's one-view locator
  (:mod:`mouselift.data.framing.locator`, learned per camera from the dataset's all-view
  centres) when it has one for this camera of this calibration, else by the plane method (the
  ray through the mask centroid meets the plane at the body centre's usual height,
  :class:`~mouselift.data.framing.training.TrainingFraming`) — or,
  with ``centre="all-views"`` on a recording frame, from every view's mask as ``prepare`` does.
  The crop is ``prepare``'s: centred on the centre's projection, sized so a sphere of
  ``radius_mm`` just fits. When the rig's views are cameras of that calibration (a mouse rig:
  view names ``cam_XXX`` = the calibration's camera XXX, as ``prepare`` numbers them) and the
  image comes from the rig's input camera (view 0), the **frame's cameras** are the rig's
  cameras cropped about that centre and normalised by the frame's similarity — exactly the
  cameras ``prepare`` would write for this frame. Otherwise the rig's average cameras are used
  and the report says why.
* **an unknown camera** (an RGBA image, or RGB with a mask): a square centred on the mask
  centroid, sized so the mask covers the fraction of the crop it covers in the training data's
  view-0 crops (median ``mask_coverage``; :data:`DEFAULT_COVERAGE` without a dataset); the rig's
  average cameras.
* ``crop="none"``: the image is already a crop in the training framing (e.g. a prepared sample's
  ``cam_000.png``): only resized; the rig's average cameras.

**Too small to lift**: an image with a side under :data:`MIN_IMAGE_SIDE` pixels, or a mask of
fewer than :data:`MIN_MASK_PIXELS` mouse pixels, is refused (:func:`check_input_size`): the crop
would be a few pixels blown up to the rig's resolution, not a mouse.

The crop is RGBA uint8 ``(S, S, 4)`` at the rig's resolution ``S``, alpha = the mask (pixels
outside the source image are transparent). World units: mm for the recording's world, FaceLift's
units (mean camera distance ``target_distance``) for the cameras returned.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from ..cameras import Camera
from ..cameras.rig import Rig
from ..data.framing.crops import (
    CropError,
    CropGeometry,
    coverage_half_size,
    crop_geometry,
    nominal_camera,
    resample_view,
    square_crop_geometry,
)
from ..data.framing.locate import (
    FrameLocation,
    LocateError,
    OneViewLocation,
    frame_cameras,
    locate_frame,
    locate_from_one_view,
)
from ..data.framing.locator import LocatorError
from ..data.framing.mask_shape import mask_shape
from ..data.framing.training import TrainingFraming
from ..data.framing.triangulate import mask_stats
from ..errors import ConfigError

#: Mask coverage of the input crop when no training dataset says (≈ prepare's default framing of
#: a mouse: radius 60 mm; the synthetic mouse covers 0.09 of its view-0 crops).
DEFAULT_COVERAGE = 0.1
#: How a rig view names the calibration camera it was prepared from (``images/cam_003.png``).
RIG_CAMERA_NAME = re.compile(r"^cam_(\d+)$")
CROPS = ("auto", "none")
#: The smallest image side (px) a mouse crop is made from (module docstring).
MIN_IMAGE_SIDE = 32
#: The fewest mask pixels (above the mask threshold) a mouse crop is made from: an 8×8 patch.
MIN_MASK_PIXELS = 64
CENTRES = ("one-view", "all-views")
FRAME, RIG_AVERAGE = "frame", "rig average"
#: How the one-view centre was found: the dataset's learned locator, or the plane method.
LOCATOR, PLANE = "locator", "plane"


@dataclass(frozen=True)
class LiftInput:
    """``rgba`` the crop (module docstring); ``cameras`` the frame's cameras in rig order (named
    after the rig's views), or ``None`` for the rig's average; ``report`` what was done (crop,
    localisation, cameras and why) for ``report.json``."""

    rgba: np.ndarray
    cameras: list[Camera] | None
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def camera_source(self) -> str:
        return FRAME if self.cameras is not None else RIG_AVERAGE


def rig_camera_indices(rig: Rig) -> list[int] | None:
    """The calibration camera of each rig view (``cam_003`` → 3), or ``None`` when a view is not
    named so (e.g. FaceLift's rig)."""
    indices = []
    for name in rig.names:
        match = RIG_CAMERA_NAME.match(name)
        if match is None:
            return None
        indices.append(int(match.group(1)))
    return indices


def _round(values: Any, digits: int = 3) -> list[float]:
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


def _square_size(rig: Rig) -> int:
    if rig.width != rig.height:
        raise ConfigError(f"{rig.summary()}: inference crops square views; this rig's are not")
    return rig.width


def _crop_report(method: str, geometry: CropGeometry | None, **extra: Any) -> dict[str, Any]:
    report: dict[str, Any] = {"method": method, **extra}
    if geometry is not None:
        report.update(centre_px=_round(geometry.centre_px), box=_round(geometry.box),
                      source_px_per_output_px=round(geometry.scale, 4),
                      clipped=geometry.clipped)
    return report


def check_input_size(image: np.ndarray, mask: np.ndarray | None, threshold: int = 127) -> None:
    """Refuse (one-line :class:`~mouselift.errors.ConfigError`) an image too small to hold a
    mouse crop or a mask with too few pixels (``> threshold``) to be one (module docstring)."""
    height, width = image.shape[:2]
    if min(width, height) < MIN_IMAGE_SIDE:
        raise ConfigError(f"the image is {width}×{height} pixels: too small to hold a mouse "
                          f"(each side needs at least {MIN_IMAGE_SIDE} pixels)")
    if mask is None:
        return
    area = int(np.count_nonzero(np.asarray(mask) > threshold))
    if area == 0:
        raise ConfigError("the mask is empty: no mouse to crop")
    if area < MIN_MASK_PIXELS:
        raise ConfigError(f"the mask covers {area} pixels: too few for a mouse crop (at least "
                          f"{MIN_MASK_PIXELS})")


def as_is_input(image: np.ndarray, mask: np.ndarray | None, rig: Rig) -> LiftInput:
    """``crop="none"``: the image (with its mask as alpha, opaque without one) resized to the
    rig's resolution; it must be square like the rig's views."""
    check_input_size(image, mask)
    size = _square_size(rig)
    height, width = image.shape[:2]
    if width != height:
        raise ConfigError(f"--crop none needs an image already cropped square like the training "
                          f"views; this one is {width}×{height}")
    alpha = mask if mask is not None else np.full((height, width), 255, np.uint8)
    rgba = np.dstack([image, alpha])
    if (width, height) != (size, size):
        rgba = cv2.resize(rgba, (size, size), interpolation=cv2.INTER_AREA
                          if width > size else cv2.INTER_LINEAR)
    return LiftInput(np.ascontiguousarray(rgba), None, {
        "crop": _crop_report("none (used as given)", None),
        "cameras": RIG_AVERAGE, "cameras_reason": "--crop none: the image's camera is unknown"})


def frame_input(image: np.ndarray, mask: np.ndarray, *, rig: Rig, framing: TrainingFraming,
                calibration: Sequence[Camera] | None = None, camera: int | None = None,
                all_masks: Sequence[np.ndarray] | None = None, centre: str = "one-view",
                require_locator: bool = False) -> LiftInput:
    """The crop and cameras of ``image`` (uint8 ``(H, W, 3)``) with ``mask`` (uint8 ``(H, W)``,
    white = mouse) — module docstring. ``calibration`` and ``camera``: the image is camera
    ``calibration[camera]``'s (undistorted, full frame); ``all_masks``: every calibration
    camera's mask of the same frame (a recording), to locate from all views (``centre``
    ``"all-views"``) or to compare with the one-view centre. ``require_locator``: a locator
    that cannot serve this camera (another calibration) is an error, not a fallback."""
    if centre not in CENTRES:
        raise ConfigError(f"centre {centre!r}: use one of {', '.join(CENTRES)}")
    check_input_size(image, mask, framing.config.mask_threshold)
    if calibration is None:
        if centre == "all-views":
            raise ConfigError("--centre all-views needs a recording frame (every camera's mask)")
        return _uncalibrated(image, mask, rig, framing, "the image's camera is unknown")
    if camera is None or not 0 <= camera < len(calibration):
        raise ConfigError(f"camera {camera}: the calibration has cameras 0..{len(calibration) - 1}")
    cam = calibration[camera]
    if cam.has_distortion:
        raise ConfigError(f"camera {camera} has lens distortion: give the undistorted image and "
                          "its zero-distortion calibration (e.g. MAMMAL's new_cam.pkl)")
    if (image.shape[1], image.shape[0]) != cam.size:
        raise ConfigError(f"the image is {image.shape[1]}×{image.shape[0]} but camera {camera} of "
                          f"the calibration is {cam.width}×{cam.height} (give the full frame)")
    config = framing.config
    localisation: dict[str, Any] = {"method": centre}
    location: FrameLocation | None = None
    if all_masks is not None:
        location = locate_frame(calibration, all_masks, config)
        localisation.update(_all_views_report(location))
    if centre == "all-views":
        if location is None or location.centre is None:
            reason = location.tri.reason if location is not None else "no masks"
            raise ConfigError(f"the mouse cannot be located from all views ({reason}); try "
                              "--centre one-view")
        point = location.centre
    else:
        try:
            point = _one_view_centre(cam, camera, mask, framing, localisation,
                                     require_locator=require_locator)
        except LocateError as exc:
            return _uncalibrated(image, mask, rig, framing, str(exc), localisation)
        if location is not None and location.centre is not None:
            localisation["one_view_vs_all_views_mm"] = round(
                float(np.linalg.norm(point - location.centre)), 3)
            localisation["one_view_vs_triangulated_mm"] = round(
                float(np.linalg.norm(point - location.tri.point)), 3)
            plane = localisation.get("plane_mm")
            if plane is not None and localisation["one_view_method"] == LOCATOR:
                localisation["plane_vs_all_views_mm"] = round(
                    float(np.linalg.norm(np.asarray(plane) - location.centre)), 3)
    size = _square_size(rig)
    try:
        geometry = crop_geometry(cam, point, config.radius_mm, size)
    except CropError as exc:
        return _uncalibrated(image, mask, rig, framing, str(exc), localisation)
    rgba = resample_view(image, mask, geometry, size)
    cameras, reason = _frame_cameras(calibration, camera, point, rig, framing, size)
    report = {"crop": _crop_report("3d sphere (prepare's)", geometry,
                                   radius_mm=config.radius_mm),
              "localisation": localisation, "cameras": FRAME if cameras else RIG_AVERAGE}
    if reason:
        report["cameras_reason"] = reason
    return LiftInput(rgba, cameras, report)


def _one_view_centre(cam: Camera, camera: int, mask: np.ndarray, framing: TrainingFraming,
                     localisation: dict[str, Any], *, require_locator: bool) -> np.ndarray:
    """The mouse centre (world mm) from the one view ``cam`` (calibration index ``camera``): the
    framing's locator when it has one for this camera, else the plane method; what was done goes
    into ``localisation``. Raises :class:`LocateError` when neither can place the mouse, and
    :class:`~mouselift.errors.ConfigError` when ``require_locator`` and the locator is refused."""
    locator, refused = framing.locator, None
    if locator is not None:
        shape = mask_shape(mask, locator.threshold)
        try:
            if shape is None:
                raise LocatorError("the mask is empty")
            estimate = locator.locate(camera, cam, shape)
        except LocatorError as exc:
            if require_locator:
                raise ConfigError(str(exc)) from None
            refused = str(exc)
        else:
            localisation.update(one_view_method=LOCATOR, one_view_mm=_round(estimate.centre),
                                centre_px=_round(estimate.pixel),
                                mask_centroid_px=_round(shape.centroid),
                                uncertainty_mm=estimate.uncertainty,
                                locator_from=framing.locator_from)
            if estimate.touches_border:
                localisation["border_warning"] = _border_warning(
                    estimate.border_sides, locator.cameras[camera].error_mm.get("val_border"))
            if framing.centre_height_mm is not None:  # for comparison
                with contextlib.suppress(LocateError):
                    localisation["plane_mm"] = _round(_plane(cam, mask, framing).centre)
            return estimate.centre
    reason = refused or ("no locator (prepare fits one: `mouselift locator DATASET`)"
                         if locator is None else None)
    if framing.centre_height_mm is None:
        raise LocateError("the body centre's usual height is unknown (no training dataset: "
                          "give --dataset)" + (f"; the locator was refused: {refused}"
                                               if refused else ""))
    one = _plane(cam, mask, framing)
    localisation.update(one_view_method=PLANE, one_view_mm=_round(one.centre),
                        height_mm=round(one.height_mm, 3), mask_centroid_px=_round(one.pixel),
                        ray_length_mm=round(one.distance_mm, 2), locator_unused=reason)
    return one.centre


def _plane(cam: Camera, mask: np.ndarray, framing: TrainingFraming) -> OneViewLocation:
    """The plane method's centre (:func:`locate_from_one_view`; raises :class:`LocateError`)."""
    assert framing.centre_height_mm is not None
    return locate_from_one_view(cam, mask, framing.centre_height_mm,
                                threshold=framing.config.mask_threshold,
                                min_mask_fraction=framing.config.min_mask_fraction)


def _border_warning(sides: list[str], border_error: dict[str, Any] | None) -> str:
    known = (f"; this camera's locator errs by {border_error['mean']:.1f} mm on average "
             f"(p95 {border_error['p95']:.1f} mm) on such val frames" if border_error
             else "")
    return (f"the mask touches the image's {', '.join(sides)} edge: the mouse may be cut and "
            f"the one-view centre less certain{known}")


def one_view_line(localisation: dict[str, Any]) -> str:
    """One line for the terminal: how the one-view centre was found (``localisation`` of a
    report)."""
    if localisation.get("one_view_method") == LOCATOR:
        known = localisation.get("uncertainty_mm")
        line = "mouse centre from one view: the dataset's locator" + (
            f" (known error {known['mean']:.1f} mm mean, {known['p95']:.1f} mm p95, "
            f"{known['from']})" if known else "")
        if localisation.get("border_warning"):
            line += f"; warning: {localisation['border_warning']}"
        return line
    return (f"mouse centre from one view: the plane method "
            f"({localisation.get('locator_unused') or 'no locator'})")


def _all_views_report(location: FrameLocation) -> dict[str, Any]:
    if location.centre is None:
        return {"all_views": None, "all_views_reason": location.tri.reason}
    assert location.tri.point is not None
    return {"all_views_mm": _round(location.centre), "all_views_method": location.method,
            "triangulated_mm": _round(location.tri.point),
            "triangulation_inliers": int(location.tri.inliers.sum())}


def _frame_cameras(calibration: Sequence[Camera], camera: int, centre: np.ndarray, rig: Rig,
                   framing: TrainingFraming, size: int) -> tuple[list[Camera] | None, str]:
    """The rig's cameras of this frame (module docstring), or ``None`` and why not."""
    indices = rig_camera_indices(rig)
    if indices is None:
        return None, (f"the rig's views ({', '.join(rig.names)}) are not cameras of the "
                      "calibration (not a rig prepared from it)")
    if max(indices) >= len(calibration):
        return None, (f"the rig needs calibration cameras {indices}; the calibration has "
                      f"{len(calibration)}")
    if camera != indices[0]:
        return None, (f"camera {camera} is not the rig's input camera {indices[0]} "
                      f"({rig.names[0]}): the model reads the image as that view")
    try:
        framed = frame_cameras(calibration, centre, radius_mm=framing.config.radius_mm,
                               size=size, target_distance=framing.config.target_distance)
    except CropError as exc:
        return None, str(exc)
    return [replace(framed.cameras[i], name=name)
            for i, name in zip(indices, rig.names, strict=True)], ""


def _uncalibrated(image: np.ndarray, mask: np.ndarray, rig: Rig, framing: TrainingFraming,
                  reason: str, localisation: dict[str, Any] | None = None) -> LiftInput:
    """The 2D crop (module docstring) with the rig's average cameras."""
    size = _square_size(rig)
    stats = mask_stats(mask, framing.config.mask_threshold)
    coverage = framing.coverage.get(rig.names[0])
    source = "training data" if coverage is not None else "default"
    coverage = coverage if coverage is not None else DEFAULT_COVERAGE
    half = coverage_half_size(stats.area, coverage)
    geometry = square_crop_geometry(nominal_camera(image.shape[1], image.shape[0]),
                                    stats.centroid, half, size)
    rgba = resample_view(image, mask, geometry, size)
    report: dict[str, Any] = {
        "crop": _crop_report("2d mask coverage", geometry, coverage=round(coverage, 5),
                             coverage_from=source),
        "cameras": RIG_AVERAGE, "cameras_reason": reason}
    if localisation is not None:
        report["localisation"] = localisation
    return LiftInput(rgba, None, report)


__all__ = ["CENTRES", "CROPS", "DEFAULT_COVERAGE", "FRAME", "LOCATOR", "MIN_IMAGE_SIDE",
           "MIN_MASK_PIXELS", "PLANE", "RIG_AVERAGE", "LiftInput", "as_is_input",
           "check_input_size", "frame_input", "one_view_line", "rig_camera_indices"]
