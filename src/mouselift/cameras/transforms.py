"""Rigid and similarity transforms of the world, shared by every stage.

Conventions: a world-to-camera matrix ``w2c`` (4×4) maps homogeneous world points to the OpenCV
camera frame (x right, y down, z forward): ``X_cam = R @ X_world + t``. ``c2w`` is its inverse;
its last column is the camera centre in world units.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def rigid_inverse(matrix: np.ndarray) -> np.ndarray:
    """Invert rigid transforms ``[R t; 0 1]`` (..., 4, 4) exactly as ``[Rᵀ −Rᵀt; 0 1]``."""
    m = np.asarray(matrix, dtype=np.float64)
    rot_t = np.swapaxes(m[..., :3, :3], -1, -2)
    out = np.zeros_like(m)
    out[..., :3, :3] = rot_t
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", rot_t, m[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out


def w2c_from_rt(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Build a 4×4 world-to-camera matrix from ``R`` (3×3) and ``t`` (3,) with ``X_c = R X + t``."""
    out = np.eye(4)
    out[:3, :3] = np.asarray(rotation, dtype=np.float64)
    out[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    return out


def is_rotation(matrix: np.ndarray, atol: float = 1e-4) -> bool:
    """True when ``matrix`` is a proper rotation (orthonormal, determinant +1) within ``atol``."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        return False
    return bool(np.allclose(m @ m.T, np.eye(3), atol=atol) and abs(np.linalg.det(m) - 1.0) < atol)


def nearest_rotation(matrix: np.ndarray) -> np.ndarray:
    """Project a near-rotation onto SO(3) (polar decomposition via SVD)."""
    u, _, vt = np.linalg.svd(np.asarray(matrix, dtype=np.float64))
    r = u @ vt
    if np.linalg.det(r) < 0:
        u[:, -1] *= -1
        r = u @ vt
    return r


def rodrigues_to_matrix(rvec: np.ndarray) -> np.ndarray:
    """Axis-angle vector (radians, OpenCV ``Rodrigues`` convention) to a 3×3 rotation matrix."""
    v = np.asarray(rvec, dtype=np.float64).reshape(3)
    theta = float(np.linalg.norm(v))
    if theta < 1e-12:
        return np.eye(3)
    k = v / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * kx + (1 - np.cos(theta)) * (kx @ kx)


def matrix_to_rodrigues(matrix: np.ndarray) -> np.ndarray:
    """Rotation matrix (3×3) to axis-angle (radians); inverts :func:`rodrigues_to_matrix`."""
    # Accurate to ~1e-15 for every angle: θ = atan2(sin, cos) is well conditioned everywhere
    # (arccos of the trace is not near 0 and 180°), and the axis comes from the antisymmetric
    # part (2 sinθ k) below 90° but from the symmetric part ((1 − cosθ) kkᵀ) above it.
    r = nearest_rotation(matrix)
    v = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])  # 2 sinθ k
    sin2 = float(np.linalg.norm(v))  # 2 sinθ ≥ 0
    cos_theta = (np.trace(r) - 1) / 2
    theta = float(np.arctan2(sin2 / 2, cos_theta))
    if cos_theta >= 0:
        # θ/sinθ → 1 as θ → 0, so small rotations need no special case beyond sin2 = 0.
        return v / 2 if sin2 < 1e-300 else v * (theta / sin2)
    b = (r + r.T) / 2 - cos_theta * np.eye(3)  # (1 − cosθ) kkᵀ, 1 − cosθ ≥ 1
    i = int(np.argmax(np.diag(b)))
    k = b[:, i] / np.sqrt(b[i, i] * (1 - cos_theta))
    if k @ v < 0:  # kkᵀ fixes k up to sign; the antisymmetric part picks it (any sign at 180°)
        k = -k
    return k * theta


@dataclass(frozen=True)
class Similarity:
    """A similarity transform of world coordinates: ``X' = scale · rotation @ X + translation``.

    Applied to a whole rig (:meth:`mouselift.cameras.Camera.transformed`) it keeps every image
    unchanged: each camera's pose moves with the world and the rig stays rigid.
    """

    scale: float = 1.0
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self) -> None:
        object.__setattr__(self, "rotation", np.asarray(self.rotation, dtype=np.float64))
        object.__setattr__(
            self, "translation", np.asarray(self.translation, dtype=np.float64).reshape(3)
        )
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"similarity scale must be positive and finite, got {self.scale}")
        if not is_rotation(self.rotation, atol=1e-6):
            raise ValueError("similarity rotation is not a proper rotation matrix")

    @classmethod
    def centre_and_scale(cls, centre: np.ndarray, scale: float) -> Similarity:
        """Move ``centre`` to the origin, then scale about it; axes (and so Z-up) are kept."""
        c = np.asarray(centre, dtype=np.float64).reshape(3)
        return cls(scale=float(scale), translation=-float(scale) * c)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Similarity:
        """From ``{"scale", "rotation" (3×3 nested lists), "translation" (3)}`` (the form a
        prepared sample's ``sample.json`` stores); raises ``ValueError``/``KeyError``/``TypeError``
        for a malformed one."""
        return cls(scale=float(data["scale"]),
                   rotation=np.asarray(data["rotation"], dtype=np.float64).reshape(3, 3),
                   translation=np.asarray(data["translation"], dtype=np.float64).reshape(3))

    def to_dict(self) -> dict[str, Any]:
        """``{"scale", "rotation", "translation"}`` as JSON-ready floats and lists."""
        return {"scale": float(self.scale), "rotation": self.rotation.tolist(),
                "translation": self.translation.tolist()}

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform world points of shape (..., 3)."""
        p = np.asarray(points, dtype=np.float64)
        return self.scale * p @ self.rotation.T + self.translation

    def inverse(self) -> Similarity:
        rot_t = self.rotation.T
        return Similarity(
            scale=1.0 / self.scale,
            rotation=rot_t,
            translation=-(rot_t @ self.translation) / self.scale,
        )

    def compose(self, first: Similarity) -> Similarity:
        """The transform ``self ∘ first`` (apply ``first``, then ``self``)."""
        return Similarity(
            scale=self.scale * first.scale,
            rotation=self.rotation @ first.rotation,
            translation=self.scale * self.rotation @ first.translation + self.translation,
        )

    def transform_w2c(self, w2c: np.ndarray) -> np.ndarray:
        """The world-to-camera matrix that sees transformed points exactly where ``w2c`` saw them.

        With ``X = Rᵀ(X' − t)/s``: ``R_c X + t_c ∝ (R_c Rᵀ) X' + (s t_c − R_c Rᵀ t)``, and the
        positive factor ``1/s`` leaves the projection unchanged.
        """
        w2c = np.asarray(w2c, dtype=np.float64)
        r_new = w2c[:3, :3] @ self.rotation.T
        t_new = self.scale * w2c[:3, 3] - r_new @ self.translation
        return w2c_from_rt(r_new, t_new)
