"""Our Gaussians and cameras in the terms of viser's scene API (NumPy only, no server).

* **Splats** (:func:`splat_arrays`): viser's ``add_gaussian_splats`` takes activated values —
  centres ``(N, 3)``, world covariances ``Σ = R S Sᵀ Rᵀ`` ``(N, 3, 3)``
  (:meth:`mouselift.splat.Gaussians.covariances`), RGB in [0, 1] ``(N, 3)`` and opacities
  ``(N, 1)``. It has no spherical harmonics: the colour is the view-independent DC colour
  ``0.5 + C0·sh[:, 0]`` (:attr:`Gaussians.rgb_dc`), clipped to [0, 1]; higher SH bands are not
  shown.
* **Frustums** (:func:`frustum_pose`): viser's cameras use OpenCV axes (x right, y down, z
  forward), as ours do, so a frustum's pose is our ``c2w`` as it is: ``wxyz`` is the quaternion
  of ``c2w[:3, :3]`` (w first, unit length, w ≥ 0) and ``position`` the camera centre. ``fov`` is
  the **vertical** field of view ``2·atan(H / (2 fy))`` in radians and ``aspect`` is ``W / H``;
  viser draws a centred pinhole, so the principal point offset and the skew are not drawn.
  viser's client normalises a frustum's volume before applying ``scale`` (its depth is
  ``scale / cbrt(tan(fov/2)² · aspect / 3)``), so narrow cameras would be drawn long:
  :meth:`FrustumPose.scale_for_depth` gives the ``scale`` of a frustum of a chosen depth.
* **Opening view** (:func:`opening_view`): where the browser's camera starts — looking at the
  opaque Gaussians' median from the front (−Y, FaceLift's front camera), 30° to the side and 20°
  above (Z up), far enough for their extent to fill about half of a 50° field of view, and
  outside the cameras shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..cameras import Camera
from ..splat import Gaussians

#: Vertical field of view of the opening view, degrees.
OPENING_FOV_DEG = 50.0


@dataclass(frozen=True)
class SplatArrays:
    """The arrays of ``add_gaussian_splats``: ``centers (N, 3)``, ``covariances (N, 3, 3)``,
    ``rgbs (N, 3)`` and ``opacities (N, 1)``, float32."""

    centers: np.ndarray
    covariances: np.ndarray
    rgbs: np.ndarray
    opacities: np.ndarray

    def __len__(self) -> int:
        return int(self.centers.shape[0])


@dataclass(frozen=True)
class FrustumPose:
    """A frustum in viser's terms: ``fov`` (vertical, radians), ``aspect`` (W / H), ``wxyz``
    (world-from-camera rotation, OpenCV camera axes) and ``position`` (camera centre)."""

    fov: float
    aspect: float
    wxyz: np.ndarray
    position: np.ndarray

    def scale_for_depth(self, depth: float) -> float:
        """viser's ``scale`` that draws this frustum ``depth`` deep (image plane at ``depth``
        in front of the camera; module docstring)."""
        half = math.tan(self.fov / 2.0)
        return depth * (half * half * self.aspect / 3.0) ** (1.0 / 3.0)


@dataclass(frozen=True)
class OpeningView:
    """The opening camera: ``position``, ``look_at``, ``up`` (world) and ``fov`` (radians)."""

    position: np.ndarray
    look_at: np.ndarray
    up: np.ndarray
    fov: float


def splat_arrays(gaussians: Gaussians) -> SplatArrays:
    """The viser arrays of ``gaussians`` (conventions: module docstring)."""
    g = gaussians.detach().to("cpu", torch.float32)
    with torch.no_grad():
        return SplatArrays(
            centers=g.means.numpy().astype(np.float32, copy=True),
            covariances=g.covariances().numpy().astype(np.float32, copy=False),
            rgbs=g.rgb_dc.clamp(0.0, 1.0).numpy().astype(np.float32, copy=False),
            opacities=g.opacities[:, None].numpy().astype(np.float32, copy=False),
        )


def matrix_to_wxyz(rotation: np.ndarray) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` with ``w ≥ 0`` of a 3×3 rotation matrix (the inverse of
    :func:`mouselift.splat.quaternion_to_matrix`; SciPy's conversion)."""
    q = Rotation.from_matrix(np.asarray(rotation, dtype=np.float64)).as_quat(scalar_first=True)
    return -q if q[0] < 0 else q


def frustum_pose(camera: Camera) -> FrustumPose:
    """The viser frustum of ``camera`` (conventions: module docstring)."""
    c2w = camera.c2w
    return FrustumPose(
        fov=2.0 * math.atan(camera.height / (2.0 * camera.fy)),
        aspect=camera.width / camera.height,
        wxyz=matrix_to_wxyz(c2w[:3, :3]),
        position=np.array(c2w[:3, 3], dtype=np.float64),
    )


def opening_view(gaussians: Gaussians, camera_centres: np.ndarray | None = None, *,
                 fov_deg: float = OPENING_FOV_DEG) -> OpeningView:
    """The opening camera for ``gaussians`` (conventions: module docstring). The centre is the
    median of the Gaussians with opacity above 0.1 (all of them if none is), the extent the 90th
    percentile of their distance to it; an empty set looks at the origin from 2.7 away. With
    ``camera_centres (C, 3)`` (the frustums shown), the view backs off to 1.5× their median
    distance from the centre when that is farther, so the rig is in the picture too."""
    means = gaussians.means.detach().to("cpu", torch.float64)
    opaque = means[gaussians.opacities.detach().cpu() > 0.1]
    points = (opaque if len(opaque) else means).numpy()
    if len(points):
        centre = np.median(points, axis=0)
        extent = float(np.quantile(np.linalg.norm(points - centre, axis=1), 0.9))
    else:
        centre, extent = np.zeros(3), 0.0
    half_fov = math.radians(fov_deg) / 2.0
    distance = extent / math.tan(half_fov) * 2.0 if extent > 0 else 2.7
    if camera_centres is not None and len(camera_centres):
        rig = float(np.median(np.linalg.norm(np.asarray(camera_centres) - centre, axis=1)))
        distance = max(distance, 1.5 * rig)
    azimuth, elevation = math.radians(30.0), math.radians(20.0)
    direction = np.array([-math.sin(azimuth) * math.cos(elevation),
                          -math.cos(azimuth) * math.cos(elevation),
                          math.sin(elevation)])
    return OpeningView(position=centre + distance * direction, look_at=centre,
                       up=np.array([0.0, 0.0, 1.0]), fov=math.radians(fov_deg))


__all__ = [
    "OPENING_FOV_DEG",
    "FrustumPose",
    "OpeningView",
    "SplatArrays",
    "frustum_pose",
    "matrix_to_wxyz",
    "opening_view",
    "splat_arrays",
]
