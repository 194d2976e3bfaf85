"""Look-at poses, field-of-view intrinsics and turntable orbits.

OpenCV camera axes (x right, y down, z forward) and pixels (centre of pixel i at i). An orbit
is measured in a right-handed frame ``(e1, e2, up)`` around ``target``: ``e1`` is the world +x
axis made perpendicular to ``up`` (+y when ``up`` is along x), ``e2 = up × e1``. Azimuth turns
counter-clockwise about +up starting at ``e1`` (for ``up="z"``: from +x towards +y); elevation
is the angle above the plane perpendicular to ``up`` (positive = looking down at the target).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .camera import Camera
from .transforms import rigid_inverse

_AXES = {
    "x": (1.0, 0.0, 0.0),
    "y": (0.0, 1.0, 0.0),
    "z": (0.0, 0.0, 1.0),
}


def up_vector(up: str | Sequence[float] | np.ndarray) -> np.ndarray:
    """Unit up vector from ``"x"``, ``"y"``, ``"z"`` (optionally signed, ``"-y"``) or a 3-vector."""
    if isinstance(up, str):
        name = up.strip().lower()
        sign = -1.0 if name.startswith("-") else 1.0
        axis = _AXES.get(name.lstrip("+-"))
        if axis is None:
            raise ValueError(f"up must be 'x', 'y', 'z' (maybe signed) or a vector, got {up!r}")
        return sign * np.array(axis)
    v = np.asarray(up, dtype=np.float64).reshape(-1)
    norm = float(np.linalg.norm(v)) if v.size == 3 else 0.0
    if v.size != 3 or not np.isfinite(norm) or norm == 0:
        raise ValueError(f"up must be a non-zero 3-vector, got {up!r}")
    return v / norm


def look_at(
    eye: Sequence[float] | np.ndarray,
    target: Sequence[float] | np.ndarray,
    up: str | Sequence[float] | np.ndarray = (0.0, 0.0, 1.0),
) -> np.ndarray:
    """World-to-camera matrix (4×4) of a camera at ``eye`` looking at ``target``.

    OpenCV axes: the camera's z points from ``eye`` to ``target``, its x to the right of the view
    (``forward × up``) and its y down (``y·up < 0``), so ``up`` appears upwards in the image.
    """
    eye_ = np.asarray(eye, dtype=np.float64).reshape(3)
    forward = np.asarray(target, dtype=np.float64).reshape(3) - eye_
    dist = float(np.linalg.norm(forward))
    if not dist > 0:
        raise ValueError("look_at: eye and target coincide")
    forward /= dist
    right = np.cross(forward, up_vector(up))
    norm = float(np.linalg.norm(right))
    if norm < 1e-9:
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    right /= norm
    down = np.cross(forward, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, forward, eye_
    return rigid_inverse(c2w)


def intrinsics_from_fov(fov_deg: float, width: int, height: int) -> np.ndarray:
    """K (3×3) with a full horizontal field of view ``fov_deg`` across the image's edges.

    Square pixels (fy = fx = W / (2·tan(fov/2))), no skew, principal point at the image centre
    ``((W − 1)/2, (H − 1)/2)`` in OpenCV pixels.
    """
    if not 0 < fov_deg < 180:
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    f = width / (2.0 * np.tan(np.radians(fov_deg) / 2.0))
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def orbit_basis(up: str | Sequence[float] | np.ndarray = "z") -> np.ndarray:
    """Rows ``(e1, e2, up)`` of the right-handed orbit frame (see the module docstring)."""
    u = up_vector(up)
    e1 = np.array([1.0, 0.0, 0.0]) - u[0] * u
    if np.linalg.norm(e1) < 1e-6:
        e1 = np.array([0.0, 1.0, 0.0]) - u[1] * u
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(u, e1), u])


def orbit_position(
    azimuth_deg: float,
    elevation_deg: float,
    radius: float,
    target: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
    up: str | Sequence[float] | np.ndarray = "z",
) -> np.ndarray:
    """World position (3,) at ``radius`` from ``target`` at the given azimuth and elevation."""
    e1, e2, u = orbit_basis(up)
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    direction = np.cos(el) * (np.cos(az) * e1 + np.sin(az) * e2) + np.sin(el) * u
    return np.asarray(target, dtype=np.float64).reshape(3) + radius * direction


def orbit_camera(
    azimuth_deg: float,
    *,
    radius: float,
    elevation_deg: float,
    K: np.ndarray,
    width: int,
    height: int,
    target: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
    up: str | Sequence[float] | np.ndarray = "z",
    name: str = "",
) -> Camera:
    """One camera on the orbit, looking at ``target`` with ``up`` upwards in its image."""
    if not radius > 0:
        raise ValueError(f"orbit radius must be positive, got {radius}")
    if not -90 < elevation_deg < 90:
        raise ValueError(f"orbit elevation must be in (-90, 90) degrees, got {elevation_deg}")
    eye = orbit_position(azimuth_deg, elevation_deg, radius, target, up)
    return Camera(
        K=K, w2c=look_at(eye, target, up_vector(up)), width=width, height=height, name=name
    )


def orbit_cameras(
    num: int,
    *,
    radius: float,
    elevation_deg: float,
    target: Sequence[float] | np.ndarray = (0.0, 0.0, 0.0),
    up: str | Sequence[float] | np.ndarray = "z",
    width: int,
    height: int,
    fov_deg: float | None = None,
    K: np.ndarray | None = None,
    start_azimuth_deg: float = 0.0,
) -> list[Camera]:
    """``num`` cameras evenly spaced in azimuth (a turntable path) around ``target``.

    Camera i sits at azimuth ``start_azimuth_deg + 360·i/num`` (counter-clockwise about +up),
    at ``elevation_deg`` and distance ``radius``, and looks at ``target``. Intrinsics come from
    exactly one of ``fov_deg`` (full horizontal FOV, :func:`intrinsics_from_fov`) and ``K``.
    Cameras are named ``"orbit_000"``, ``"orbit_001"``, ….
    """
    if num < 1:
        raise ValueError(f"an orbit needs at least one camera, got {num}")
    if (fov_deg is None) == (K is None):
        raise ValueError("give exactly one of fov_deg and K")
    k = intrinsics_from_fov(fov_deg, width, height) if fov_deg is not None else np.asarray(K)
    return [
        orbit_camera(
            start_azimuth_deg + 360.0 * i / num,
            radius=radius,
            elevation_deg=elevation_deg,
            K=k,
            width=width,
            height=height,
            target=target,
            up=up,
            name=f"orbit_{i:03d}",
        )
        for i in range(num)
    ]


__all__ = [
    "intrinsics_from_fov",
    "look_at",
    "orbit_basis",
    "orbit_camera",
    "orbit_cameras",
    "orbit_position",
    "up_vector",
]
