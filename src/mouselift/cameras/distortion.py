"""OpenCV lens distortion on normalised image coordinates.

Coefficients follow OpenCV's order ``(k1, k2, p1, p2[, k3[, k4, k5, k6]])``: radial terms k1, k2,
k3, tangential terms p1, p2 and the rational denominator k4..k6. Normalised coordinates are
``(x, y) = (X_c / Z_c, Y_c / Z_c)`` in the camera frame (OpenCV axes: x right, y down, z forward).
Skew is *not* part of the distortion model; it lives in the intrinsic matrix.
"""

from __future__ import annotations

import numpy as np

#: Number of coefficients stored on a :class:`~mouselift.cameras.Camera`.
NUM_COEFFS = 8


def as_coefficients(dist: object | None) -> np.ndarray:
    """Normalise a distortion vector of length 0, 4, 5 or 8 to a float64 array of length 8."""
    if dist is None:
        return np.zeros(NUM_COEFFS)
    d = np.asarray(dist, dtype=np.float64).ravel()
    if d.size not in (0, 4, 5, 8):
        raise ValueError(
            f"distortion must have 0, 4, 5 or 8 coefficients (k1 k2 p1 p2 [k3 [k4 k5 k6]]), "
            f"got {d.size}"
        )
    out = np.zeros(NUM_COEFFS)
    out[: d.size] = d
    return out


def distort(xy: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """Apply distortion to normalised coordinates ``xy`` of shape (..., 2)."""
    k1, k2, p1, p2, k3, k4, k5, k6 = coeffs
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], axis=-1)


def undistort(xy_distorted: np.ndarray, coeffs: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Invert :func:`distort` by Newton iterations (exact to ~1e-12 inside the valid field).

    Starts from the distorted point and solves ``distort(xy) = xy_distorted`` with the 2×2
    Jacobian of the model, which converges in a handful of steps even for the strong radial terms
    of real lenses, where OpenCV's fixed-point scheme can stall.
    """
    target = np.asarray(xy_distorted, dtype=np.float64)
    if not np.any(coeffs):
        return target.copy()
    xy = target.copy()
    eps = 1e-7
    for _ in range(iterations):
        residual = distort(xy, coeffs) - target
        if np.nanmax(np.abs(residual), initial=0.0) < 1e-14:
            break
        ex, ey = np.array([eps, 0.0]), np.array([0.0, eps])
        dx = (distort(xy + ex, coeffs) - distort(xy - ex, coeffs)) / (2 * eps)
        dy = (distort(xy + ey, coeffs) - distort(xy - ey, coeffs)) / (2 * eps)
        a, c = dx[..., 0], dx[..., 1]
        b, d = dy[..., 0], dy[..., 1]
        det = a * d - b * c
        step_x = (d * residual[..., 0] - b * residual[..., 1]) / det
        step_y = (-c * residual[..., 0] + a * residual[..., 1]) / det
        xy = xy - np.stack([step_x, step_y], axis=-1)
    return xy
