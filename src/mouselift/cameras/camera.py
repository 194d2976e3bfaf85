"""The one camera type shared by every stage.

Conventions (used everywhere in mouselift; all of them in ``docs/conventions.md``):

* **Axes**: OpenCV. Camera frame x right, y down, z forward. ``w2c`` maps world to camera,
  ``X_cam = R @ X_world + t``; ``c2w`` is its inverse.
* **Pixels**: OpenCV's. The centre of the pixel in column ``i``, row ``j`` is at
  ``(u, v) = (i, j)``; the image covers ``[-0.5, W - 0.5] × [-0.5, H - 0.5]``. Crop boxes
  are given in *edge* coordinates, ``u + 0.5``, where the full image is the box
  ``(0, 0, W, H)`` (as PIL's ``box``).
* **Intrinsics**: ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` with skew ``s``, so
  ``u = fx·x + s·y + cx``, ``v = fy·y + cy`` on distorted normalised coordinates ``(x, y)``.
* **Distortion**: OpenCV's coefficient order, see :mod:`mouselift.cameras.distortion`.
* **Units**: whatever the world uses (mm for recordings, FaceLift units after normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from . import distortion
from .transforms import Similarity, is_rotation, rigid_inverse


@dataclass(frozen=True, eq=False)
class Camera:
    """A pinhole camera with skew and optional OpenCV distortion.

    ``K`` (3×3), ``w2c`` (4×4), ``width``/``height`` in pixels, ``dist`` as 8 OpenCV coefficients
    (shorter vectors are zero-padded), ``name`` for messages. Arrays are float64 and read-only.
    """

    K: np.ndarray
    w2c: np.ndarray
    width: int
    height: int
    dist: np.ndarray = field(default_factory=lambda: np.zeros(distortion.NUM_COEFFS))
    name: str = ""

    def __post_init__(self) -> None:
        k = np.array(self.K, dtype=np.float64)
        w2c = np.array(self.w2c, dtype=np.float64)
        label = f"camera {self.name!r}" if self.name else "camera"
        if k.shape != (3, 3):
            raise ValueError(f"{label}: K must be 3×3, got shape {k.shape}")
        if w2c.shape == (3, 4):
            w2c = np.vstack([w2c, [0.0, 0.0, 0.0, 1.0]])
        if w2c.shape != (4, 4):
            raise ValueError(f"{label}: w2c must be 4×4 (or 3×4), got shape {w2c.shape}")
        if not (np.all(np.isfinite(k)) and np.all(np.isfinite(w2c))):
            raise ValueError(f"{label}: K or w2c contains NaN or Inf")
        if not np.allclose(k[2], [0.0, 0.0, 1.0], atol=1e-9) or abs(k[1, 0]) > 1e-9:
            raise ValueError(f"{label}: K must be upper triangular with last row [0, 0, 1]")
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise ValueError(
                f"{label}: focal lengths must be positive, got fx={k[0, 0]}, fy={k[1, 1]}"
            )
        if not is_rotation(w2c[:3, :3]):
            raise ValueError(f"{label}: w2c rotation is not a proper rotation matrix")
        if not np.allclose(w2c[3], [0.0, 0.0, 0.0, 1.0]):
            raise ValueError(f"{label}: w2c last row must be [0, 0, 0, 1]")
        if int(self.width) != self.width or int(self.height) != self.height:
            raise ValueError(f"{label}: width and height must be integers")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(
                f"{label}: image size must be positive, got {self.width}×{self.height}"
            )
        try:
            dist = distortion.as_coefficients(self.dist)
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None
        if not np.all(np.isfinite(dist)):
            raise ValueError(f"{label}: distortion contains NaN or Inf")
        for name, value in (("K", k), ("w2c", w2c), ("dist", dist)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "height", int(self.height))

    # ----------------------------------------------------------------------------- accessors
    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @property
    def skew(self) -> float:
        return float(self.K[0, 1])

    @property
    def R(self) -> np.ndarray:
        """World-to-camera rotation (3×3)."""
        return self.w2c[:3, :3]

    @property
    def t(self) -> np.ndarray:
        """World-to-camera translation (3,)."""
        return self.w2c[:3, 3]

    @property
    def c2w(self) -> np.ndarray:
        """Camera-to-world matrix (4×4); columns 0–2 are the camera axes in world coordinates."""
        return rigid_inverse(self.w2c)

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates (3,)."""
        return -self.R.T @ self.t

    @property
    def has_distortion(self) -> bool:
        return bool(np.any(self.dist))

    @property
    def size(self) -> tuple[int, int]:
        """Image size as ``(width, height)``."""
        return self.width, self.height

    # ----------------------------------------------------------------------------- projection
    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) to camera-frame points (..., 3)."""
        p = np.asarray(points, dtype=np.float64)
        return p @ self.R.T + self.t

    def project(self, points: np.ndarray, *, return_depth: bool = False):
        """Project world points (N, 3) to pixels (N, 2), skew and distortion included.

        Points at or behind the camera centre (z ≤ 0) project to NaN. With ``return_depth`` the
        camera-frame depth z (N,) is returned as a second value.
        """
        cam = self.world_to_camera(points)
        z = cam[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = cam[..., :2] / z[..., None]
        xy = np.where((z > 0)[..., None], xy, np.nan)
        pixels = self.normalized_to_pixels(
            distortion.distort(xy, self.dist) if self.has_distortion else xy
        )
        return (pixels, z) if return_depth else pixels

    def normalized_to_pixels(self, xy: np.ndarray) -> np.ndarray:
        """Distorted normalised coordinates (..., 2) to pixels (..., 2) through ``K`` (skew too)."""
        x, y = xy[..., 0], xy[..., 1]
        u = self.K[0, 0] * x + self.K[0, 1] * y + self.K[0, 2]
        v = self.K[1, 1] * y + self.K[1, 2]
        return np.stack([u, v], axis=-1)

    def pixels_to_normalized(self, pixels: np.ndarray, *, undistort: bool = True) -> np.ndarray:
        """Inverse of :meth:`normalized_to_pixels`, optionally removing lens distortion."""
        uv = np.asarray(pixels, dtype=np.float64)
        y = (uv[..., 1] - self.K[1, 2]) / self.K[1, 1]
        x = (uv[..., 0] - self.K[0, 2] - self.K[0, 1] * y) / self.K[0, 0]
        xy = np.stack([x, y], axis=-1)
        if undistort and self.has_distortion:
            xy = distortion.undistort(xy, self.dist)
        return xy

    def unproject(self, pixels: np.ndarray, depth: np.ndarray | float) -> np.ndarray:
        """Pixels (N, 2) at camera-frame depth z (N,) or scalar to world points (N, 3)."""
        xy = self.pixels_to_normalized(pixels)
        d = np.asarray(depth, dtype=np.float64)
        cam = np.concatenate([xy, np.ones_like(xy[..., :1])], axis=-1) * d[..., None]
        return (cam - self.t) @ self.R

    def ray_directions(self, pixels: np.ndarray) -> np.ndarray:
        """Unit world-space ray directions (N, 3) through pixels (N, 2), distortion removed."""
        xy = self.pixels_to_normalized(pixels)
        d_cam = np.concatenate([xy, np.ones_like(xy[..., :1])], axis=-1)
        d_world = d_cam @ self.R
        return d_world / np.linalg.norm(d_world, axis=-1, keepdims=True)

    def pixel_centers(self) -> np.ndarray:
        """Coordinates (H, W, 2) of every pixel centre, ``[..., 0] = u = column``."""
        u, v = np.meshgrid(
            np.arange(self.width, dtype=np.float64), np.arange(self.height, dtype=np.float64)
        )
        return np.stack([u, v], axis=-1)

    # ----------------------------------------------------------------------------- image ops
    def crop_and_resize(
        self, box: tuple[float, float, float, float], size: tuple[int, int] | None = None
    ) -> Camera:
        """The camera of the image cut to ``box`` and resampled to ``size`` = (width, height).

        ``box = (x0, y0, x1, y1)`` is in edge coordinates (the full image is ``(0, 0, W, H)``) and
        may be fractional or extend past the image. The resampling must map the box's edges onto
        the output's edges (PIL ``resize(box=...)``, ``align_corners=False``), so a pixel at
        ``u`` moves to ``(u + 0.5 − x0)·sx − 0.5`` with ``sx = width / (x1 − x0)``. fx, skew and cx
        scale with ``sx``; fy and cy with ``sy``. Distortion is unchanged (it acts on normalised
        coordinates).
        """
        x0, y0, x1, y1 = (float(b) for b in box)
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"crop box must have positive size, got {box}")
        if size is None:
            if not (float(x1 - x0).is_integer() and float(y1 - y0).is_integer()):
                raise ValueError("a crop without resize needs an integer box size")
            size = (int(x1 - x0), int(y1 - y0))
        out_w, out_h = int(size[0]), int(size[1])
        sx, sy = out_w / (x1 - x0), out_h / (y1 - y0)
        k = self.K.copy()
        k[0, 0] *= sx
        k[0, 1] *= sx
        k[0, 2] = (k[0, 2] + 0.5 - x0) * sx - 0.5
        k[1, 1] *= sy
        k[1, 2] = (k[1, 2] + 0.5 - y0) * sy - 0.5
        return replace(self, K=k, width=out_w, height=out_h)

    def crop(self, x0: int, y0: int, width: int, height: int) -> Camera:
        """The camera of the integer window with top-left pixel ``(x0, y0)`` (no resampling)."""
        return self.crop_and_resize((x0, y0, x0 + width, y0 + height))

    def resize(self, width: int, height: int) -> Camera:
        """The camera of the whole image resampled to ``width × height``."""
        return self.crop_and_resize((0, 0, self.width, self.height), (width, height))

    def transformed(self, similarity: Similarity) -> Camera:
        """The same camera in a world moved by ``similarity`` (images unchanged)."""
        return replace(self, w2c=similarity.transform_w2c(self.w2c))

    def with_w2c(self, w2c: np.ndarray) -> Camera:
        return replace(self, w2c=w2c)

    def undistorted(self) -> Camera:
        """The same camera with zero distortion (for images already undistorted)."""
        return replace(self, dist=np.zeros(distortion.NUM_COEFFS))

    # ----------------------------------------------------------------------------- misc
    def allclose(self, other: Camera, *, rtol: float = 1e-9, atol: float = 1e-9) -> bool:
        """True when both cameras describe the same imaging geometry within tolerance."""
        return (
            self.size == other.size
            and np.allclose(self.K, other.K, rtol=rtol, atol=atol)
            and np.allclose(self.w2c, other.w2c, rtol=rtol, atol=atol)
            and np.allclose(self.dist, other.dist, rtol=rtol, atol=atol)
        )

    def __repr__(self) -> str:
        c = self.center
        return (
            f"Camera(name={self.name!r}, {self.width}×{self.height}, fx={self.fx:.2f}, "
            f"fy={self.fy:.2f}, cx={self.cx:.2f}, cy={self.cy:.2f}, skew={self.skew:.3g}, "
            f"center=({c[0]:.4g}, {c[1]:.4g}, {c[2]:.4g}), distorted={self.has_distortion})"
        )
