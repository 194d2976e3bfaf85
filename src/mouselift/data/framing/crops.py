"""Crop every view around the mouse: exact intrinsics and one affine resampling per view.

Geometry (OpenCV pixels: the centre of pixel column i is u = i; boxes in edge coordinates).

* The crop of a view is centred exactly (sub-pixel) on the projection of the 3D mouse centre
  ``c``: in the output image of side ``S`` that projection lands on ``((S−1)/2, (S−1)/2)``.
* Its size follows from one 3D radius ``r``: the sphere of radius ``r`` about ``c`` just fits the
  square crop in every view. Concretely, with ``(x_c, y_c)`` the normalised image coordinates of
  ``c`` and the sphere's tangent cone meeting the normalised image plane in a conic, the half-size
  ``ρ`` is the largest ``max(|x − x_c|, |y − y_c|)`` over that conic. On the optical axis this is
  ``ρ = r / sqrt(d² − r²)`` (``d`` = camera-to-centre distance), i.e. the crop half-size in pixels
  is ``f·r/sqrt(d² − r²)``; off the axis the conic is stretched outwards and ``ρ`` grows with it,
  so the sphere still just fits (scale stays consistent in views that see the mouse off-axis).
* The written camera keeps the source rotation and position and gets
  ``K_out = [[f, 0, (S−1)/2 − f·x_c], [0, f, (S−1)/2 − f·y_c], [0, 0, 1]]`` with ``f = S/(2ρ)``:
  zero skew, square pixels. Since both cameras share the pose, output pixel ``p_out`` shows the
  source point ``p_in = K_in · K_out⁻¹ · p_out`` — an affine map, applied in one
  resampling (OpenCV ``warpAffine``, bilinear), which also removes the source skew. When the
  crop shrinks by more than 1.5× the source region is first box-reduced by an integer factor
  (``cv2.resize`` with ``INTER_AREA``, exactly accounted for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ...cameras import Camera
from ..png import write_png

#: Shrink factor (source px per output px) above which the source is box-reduced first.
REDUCE_ABOVE = 1.5
#: Alpha values below / above these become 0 / 255 after resampling (codec noise of soft masks).
ALPHA_FLOOR, ALPHA_CEIL = 10, 245
_ALPHA_CLEANUP = np.clip(
    np.where(
        np.arange(256) < ALPHA_FLOOR, 0, np.where(np.arange(256) > ALPHA_CEIL, 255, np.arange(256))
    ),
    0,
    255,
).astype(np.uint8)
#: Extra source pixels around the crop so bilinear interpolation has its neighbours.
MARGIN = 2
# prepare parallelises over views (threads) and frames (processes); OpenCV's own thread pool
# would only oversubscribe the cores, and is not fork-safe once started.
cv2.setNumThreads(1)

_ANGLES = np.linspace(0.0, 2.0 * np.pi, 721)[:-1]


class CropError(ValueError):
    """The sphere around the mouse cannot be cropped in this view (camera inside or beside it)."""


def tangent_cone_half_size(camera: Camera, centre: np.ndarray, radius: float) -> float:
    """Half-size ρ (normalised image units) of the square about the projection of ``centre``
    that just contains the image of the sphere of ``radius`` about ``centre`` (see module doc)."""
    x_cam = camera.world_to_camera(np.asarray(centre, dtype=np.float64).reshape(3))
    d = float(np.linalg.norm(x_cam))
    if not d > radius:
        raise CropError(f"camera {camera.name!r} is inside the crop sphere (distance {d:.1f})")
    w = x_cam / d
    sin_a = radius / d
    cos_a = np.sqrt(1.0 - sin_a**2)
    # The cone stays in front of the camera if its widest ray makes < 90° with the optical axis.
    if w[2] * cos_a - np.sqrt(max(0.0, 1.0 - w[2] ** 2)) * sin_a <= 1e-6:
        raise CropError(f"camera {camera.name!r} does not see the whole crop sphere")
    e1 = np.cross(w, [0.0, 0.0, 1.0] if abs(w[2]) < 0.9 else [1.0, 0.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(w, e1)
    xc, yc = x_cam[0] / x_cam[2], x_cam[1] / x_cam[2]

    def extent(angles: np.ndarray) -> np.ndarray:
        rays = cos_a * w + sin_a * (np.cos(angles)[:, None] * e1 + np.sin(angles)[:, None] * e2)
        x, y = rays[:, 0] / rays[:, 2], rays[:, 1] / rays[:, 2]
        return np.maximum(np.abs(x - xc), np.abs(y - yc))

    coarse = extent(_ANGLES)
    best = _ANGLES[int(np.argmax(coarse))]
    step = _ANGLES[1]
    fine = extent(best + np.linspace(-step, step, 201))
    return float(max(coarse.max(), fine.max()))


@dataclass(frozen=True)
class CropGeometry:
    """One view's crop: the written (un-normalised) camera and the pixel map.

    ``camera``: source pose, ``K_out``, size S×S. ``affine`` (2×3): OpenCV source pixel of an
    OpenCV output pixel, ``p_in = A p_out + b``. ``box``: axis-aligned bounds of the crop in the
    source, edge coordinates ``(x0, y0, x1, y1)``. ``scale``: source pixels per output pixel
    (sqrt |det A|). ``centre_px``: the projection of the centre in the source. ``clipped``: the
    crop extends past the source image (those output pixels are transparent).
    """

    camera: Camera
    affine: np.ndarray
    box: tuple[float, float, float, float]
    scale: float
    centre_px: np.ndarray
    clipped: bool


def crop_sphere_radius(cameras: Sequence[Camera]) -> float:
    """Radius of the largest sphere about the origin (a sample's mouse centre) that every view
    sees whole — the sphere prepare's crops are made to just hold.

    A view at distance ``d`` whose image half-size subtends ``θ = atan(min(W/2fx, H/2fy))`` sees
    a centred sphere of radius ``d·sin θ`` whole; the minimum over the views is returned.
    """
    if not cameras:
        raise ValueError("crop_sphere_radius needs at least one camera")
    radii = []
    for cam in cameras:
        d = float(np.linalg.norm(cam.center))
        half = min(cam.width / (2 * cam.fx), cam.height / (2 * cam.fy))
        radii.append(d * np.sin(np.arctan(half)))
    return float(min(radii))


def crop_geometry(camera: Camera, centre: np.ndarray, radius: float, size: int) -> CropGeometry:
    """The crop of ``camera``'s image around ``centre`` (world units) for output side ``size``."""
    if camera.has_distortion:
        raise ValueError(
            f"camera {camera.name!r} has lens distortion; crops need undistorted views"
        )
    rho = tangent_cone_half_size(camera, centre, radius)
    x_cam = camera.world_to_camera(np.asarray(centre, dtype=np.float64).reshape(3))
    xc, yc = x_cam[0] / x_cam[2], x_cam[1] / x_cam[2]
    f = size / (2.0 * rho)
    mid = (size - 1) / 2.0
    k_out = np.array([[f, 0.0, mid - f * xc], [0.0, f, mid - f * yc], [0.0, 0.0, 1.0]])
    centre_px = camera.project(np.asarray(centre, dtype=np.float64).reshape(1, 3))[0]
    return _geometry(camera, k_out, size, centre_px)


def square_crop_geometry(camera: Camera, centre_px: np.ndarray, half_px: float,
                         size: int) -> CropGeometry:
    """The crop of the square of half-side ``half_px`` (source pixels) centred on ``centre_px``
    (OpenCV pixels) of ``camera``'s image, resampled to ``size``²: the 2D crop of an image whose
    camera is unknown (``camera`` then only gives the image size, e.g. :func:`nominal_camera`).
    ``centre_px`` lands on ``((S−1)/2, (S−1)/2)`` as in :func:`crop_geometry`."""
    if not half_px > 0:
        raise CropError(f"crop half-size must be positive, got {half_px}")
    a = 2.0 * float(half_px) / size
    mid = (size - 1) / 2.0
    cx, cy = (float(v) for v in np.asarray(centre_px, dtype=np.float64).reshape(2))
    source_of_output = np.array([[a, 0.0, cx - a * mid], [0.0, a, cy - a * mid], [0.0, 0.0, 1.0]])
    k_out = np.linalg.inv(source_of_output) @ camera.K
    return _geometry(camera, k_out, size, np.array([cx, cy]))


def nominal_camera(width: int, height: int) -> Camera:
    """A stand-in pinhole camera for an image from an unknown camera: identity pose, principal
    point at the image centre, focal length ``max(width, height)`` (a ~53° field of view).
    Only its image size matters to :func:`square_crop_geometry`."""
    f = float(max(width, height))
    K = np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])
    return Camera(K=K, w2c=np.eye(4), width=width, height=height, name="unknown")


def coverage_half_size(mask_area_px: float, coverage: float) -> float:
    """Half-side (px) of the square crop in which a mask of ``mask_area_px`` pixels covers the
    fraction ``coverage`` of the crop (prepare's ``mask_coverage``)."""
    if not (mask_area_px > 0 and 0 < coverage <= 1):
        raise CropError(f"cannot size a crop from mask area {mask_area_px} and coverage "
                        f"{coverage}")
    return 0.5 * float(np.sqrt(mask_area_px / coverage))


def _geometry(camera: Camera, k_out: np.ndarray, size: int, centre_px: np.ndarray
              ) -> CropGeometry:
    """The :class:`CropGeometry` of the output camera ``k_out`` (same pose as ``camera``)."""
    m = camera.K @ np.linalg.inv(k_out)
    affine = m[:2, :]
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5] * 2])
    mapped = corners @ affine[:, :2].T + affine[:, 2] + 0.5  # edge coordinates
    x0, y0 = mapped.min(axis=0)
    x1, y1 = mapped.max(axis=0)
    clipped = bool(x0 < 0 or y0 < 0 or x1 > camera.width or y1 > camera.height)
    return CropGeometry(
        camera=replace(camera, K=k_out, width=size, height=size),
        affine=affine,
        box=(float(x0), float(y0), float(x1), float(y1)),
        scale=float(np.sqrt(abs(np.linalg.det(affine[:, :2])))),
        centre_px=np.asarray(centre_px, dtype=np.float64),
        clipped=clipped,
    )


def resample_view(
    image: np.ndarray, mask: np.ndarray, geometry: CropGeometry, size: int
) -> np.ndarray:
    """Resample ``image`` (H, W, 3) uint8 and soft ``mask`` (H, W) uint8 through ``geometry``.

    Returns RGBA (size, size, 4) uint8: A = the resampled soft mask (cleaned: < 10 → 0,
    > 245 → 255), RGB = the source pixels where A > 0 and 0 where the view is fully transparent
    (background and regions outside the source image), which keeps the PNGs small. Only the source
    region under the crop is copied. OpenCV's ``warpAffine`` (bilinear, sub-pixel positions
    quantised to 1/32 px) uses our pixel convention, so ``p_in = A p_out + b`` is used as is.
    """
    if image.dtype != np.uint8 or mask.dtype != np.uint8 or image.shape[:2] != mask.shape:
        raise ValueError(
            f"expected uint8 image (H, W, 3) and mask (H, W), got {image.dtype} {image.shape} "
            f"and {mask.dtype} {mask.shape}"
        )
    height, width = mask.shape
    x0, y0, x1, y1 = geometry.box
    rx0, ry0 = max(0, int(np.floor(x0)) - MARGIN), max(0, int(np.floor(y0)) - MARGIN)
    rx1, ry1 = min(width, int(np.ceil(x1)) + MARGIN), min(height, int(np.ceil(y1)) + MARGIN)
    if rx1 <= rx0 or ry1 <= ry0:
        return np.zeros((size, size, 4), dtype=np.uint8)
    factor = round(geometry.scale) if geometry.scale > REDUCE_ABOVE else 1
    if factor > 1:
        rx0, rx1 = _fit_multiple(rx0, rx1, factor, width)
        ry0, ry1 = _fit_multiple(ry0, ry1, factor, height)
    rgb = image[ry0:ry1, rx0:rx1]  # views of the frame: OpenCV reads them in place
    alpha = mask[ry0:ry1, rx0:rx1]
    if factor > 1:
        # An integer box reduction maps edge coordinates e ↦ e / factor, i.e. u ↦ (u + ½)/f − ½.
        shape = ((rx1 - rx0) // factor, (ry1 - ry0) // factor)
        rgb = cv2.resize(rgb, shape, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, shape, interpolation=cv2.INTER_AREA)
    a, b = geometry.affine[:, :2], geometry.affine[:, 2]
    offset = (b - np.array([rx0, ry0]) + 0.5) / factor - 0.5
    matrix = np.hstack([a / factor, offset[:, None]])
    warp = {
        "dsize": (size, size),
        "flags": cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        "borderMode": cv2.BORDER_CONSTANT,
        "borderValue": 0,
    }
    alpha = cv2.LUT(cv2.warpAffine(alpha, matrix, **warp), _ALPHA_CLEANUP)
    rgb = cv2.warpAffine(rgb, matrix, **warp)
    rgb = cv2.bitwise_and(rgb, rgb, mask=alpha)  # zero where fully transparent
    return cv2.merge([rgb, alpha])


def _fit_multiple(lo: int, hi: int, factor: int, limit: int) -> tuple[int, int]:
    """Grow ``[lo, hi)`` within ``[0, limit)`` to a length divisible by ``factor`` (shrink only
    when the whole axis is too short)."""
    missing = -(hi - lo) % factor
    grow_lo = min(missing, lo)
    lo -= grow_lo
    hi = min(limit, hi + missing - grow_lo)
    hi = lo + (hi - lo) // factor * factor
    return lo, hi


def save_png(rgba: np.ndarray, path, compress_level: int = 1) -> None:
    """Write an RGBA uint8 (H, W, 4) array as PNG with zlib level ``compress_level``."""
    write_png(path, rgba, compress_level)


__all__ = [
    "CropError",
    "CropGeometry",
    "coverage_half_size",
    "crop_geometry",
    "crop_sphere_radius",
    "nominal_camera",
    "resample_view",
    "save_png",
    "square_crop_geometry",
    "tangent_cone_half_size",
]
