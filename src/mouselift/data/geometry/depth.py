"""Depth maps of a voxel set seen by a camera: the first surface along each pixel's ray.

:func:`voxel_depth` z-buffers voxels (cubes of side ``step`` centred on the given points) into a
pinhole camera: each voxel covers the pixels whose centres fall inside the projection of its
bounding sphere (radius ``step·√3/2``), at the depth of its front (camera-frame ``z`` of the
centre minus ``step / 2``); a pixel keeps the nearest. Depth is the camera-frame ``z`` (OpenCV
axes: the renderer's expected-depth convention), 0 where no voxel covers the pixel. Only surface
voxels (one of their 6 neighbours missing) can be nearest, so the others are skipped.

Accuracy: within about one voxel of the voxel set's true first surface (the footprint is the
bounding sphere's, so silhouettes grow by up to half a voxel; the caller masks them).
"""

from __future__ import annotations

import numpy as np

from ...cameras import Camera

__all__ = ["surface_voxels", "voxel_depth"]


def surface_voxels(centres: np.ndarray, step: float) -> np.ndarray:
    """The voxels ``(M, 3)`` of a set on a grid of spacing ``step`` (centres ``(N, 3)``) with at
    least one of their 6 face neighbours missing: the only ones a camera outside can see."""
    pts = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0:
        return pts
    ijk = np.rint((pts - pts.min(axis=0)) / step).astype(np.int64) + 1
    grid = np.zeros(tuple(ijk.max(axis=0) + 2), dtype=bool)
    grid[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
    exposed = np.zeros(len(pts), dtype=bool)
    for axis in range(3):
        for sign in (-1, 1):
            n = ijk.copy()
            n[:, axis] += sign
            exposed |= ~grid[n[:, 0], n[:, 1], n[:, 2]]
    return pts[exposed]


def voxel_depth(centres: np.ndarray, step: float, camera: Camera) -> np.ndarray:
    """``(H, W)`` float32 depth (camera-frame z) of the voxels' first surface per pixel, 0 where
    none (see the module docstring). ``camera``: a pinhole camera (no distortion)."""
    if camera.has_distortion:
        raise ValueError(f"camera {camera.name!r} has lens distortion; depth maps are of "
                         "undistorted pinhole views")
    width, height = camera.size
    depth = np.full(height * width, np.inf)
    pts = surface_voxels(centres, step)
    if len(pts):
        w2c = np.asarray(camera.w2c, dtype=np.float64)
        z = pts @ w2c[2, :3] + w2c[2, 3]
        front = z > step
        pts, z = pts[front], z[front]
        uv = camera.project(pts)
        focal = float(max(camera.K[0, 0], camera.K[1, 1]))
        reach = 0.5 * np.sqrt(3.0) * step * focal / z  # the bounding sphere's radius in pixels
        zfront = z - 0.5 * step
        span = int(np.ceil(reach.max())) if len(reach) else 0
        base_u, base_v = np.rint(uv[:, 0]).astype(np.int64), np.rint(uv[:, 1]).astype(np.int64)
        for dv in range(-span, span + 1):
            for du in range(-span, span + 1):
                u, v = base_u + du, base_v + dv
                near = (u - uv[:, 0]) ** 2 + (v - uv[:, 1]) ** 2 <= reach**2
                inside = near & (u >= 0) & (u < width) & (v >= 0) & (v < height)
                np.minimum.at(depth, v[inside] * width + u[inside], zfront[inside])
    depth[~np.isfinite(depth)] = 0.0
    return depth.reshape(height, width).astype(np.float32)
