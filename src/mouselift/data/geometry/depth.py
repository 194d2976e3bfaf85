"""Depth maps of a voxel set seen by a camera: the first surface along each pixel's ray.

:func:`voxel_depth` z-buffers voxels (cubes of side ``step`` centred on the given points) into a
pinhole camera: each voxel covers the pixels whose centres fall inside the projection of its
bounding sphere (radius ``step·√3/2``), at the depth of its front (camera-frame ``z`` of the
centre minus ``step / 2``); a pixel keeps the nearest. Depth is the camera-frame ``z`` (OpenCV
axes: the renderer's expected-depth convention), 0 where no voxel covers the pixel. Only surface
voxels (one of their 6 neighbours missing) can be nearest, so the others are skipped. NumPy only:
it runs in forked ``prepare`` workers.

Accuracy: within about one voxel of the voxel set's true first surface (the footprint is the
bounding sphere's, so silhouettes grow by up to half a voxel; the caller masks them).
"""

from __future__ import annotations

import numpy as np

from ...cameras import Camera

__all__ = ["surface_voxels", "voxel_depth"]

#: Voxel-pixel candidates handled at once by :func:`voxel_depth`.
_CANDIDATES = 2_000_000


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


def voxel_depth(centres: np.ndarray, step: float, camera: Camera, *,
                surface: bool = False) -> np.ndarray:
    """``(H, W)`` float32 depth (camera-frame z) of the voxels' first surface per pixel, 0 where
    none (see the module docstring). ``camera``: a pinhole camera (no distortion). ``surface``:
    the voxels are already :func:`surface_voxels` (depth maps of many views of one set).

    Where a voxel spans more than 4 pixels the z-buffer is drawn at a size where it spans about
    2 (the depth has no finer detail than its voxels) and enlarged by nearest neighbour: the
    cost follows the number of voxels, not of pixels."""
    if camera.has_distortion:
        raise ValueError(f"camera {camera.name!r} has lens distortion; depth maps are of "
                         "undistorted pinhole views")
    width, height = camera.size
    pts = np.asarray(centres, dtype=np.float64).reshape(-1, 3) if surface else \
        surface_voxels(centres, step)
    if not len(pts):
        return np.zeros((height, width), dtype=np.float32)
    w2c = np.asarray(camera.w2c, dtype=np.float64)
    z = pts @ w2c[2, :3] + w2c[2, 3]
    pts, z = pts[z > step], z[z > step]
    if not len(pts):
        return np.zeros((height, width), dtype=np.float32)
    focal = float(max(camera.K[0, 0], camera.K[1, 1]))
    factor = max(1, int(step * focal / float(np.median(z)) // 2))
    if factor == 1:
        return _zbuffer(pts, z, step, camera)
    small = camera.resize(max(1, width // factor), max(1, height // factor))
    coarse = _zbuffer(pts, z, step, small)
    ws, hs = small.size
    # the small pixel whose area holds each pixel centre (edges map to edges)
    cols = np.clip(np.floor((np.arange(width) + 0.5) * ws / width).astype(np.int64), 0, ws - 1)
    rows = np.clip(np.floor((np.arange(height) + 0.5) * hs / height).astype(np.int64), 0,
                   hs - 1)
    return coarse[np.ix_(rows, cols)]


def _zbuffer(pts: np.ndarray, z: np.ndarray, step: float, camera: Camera) -> np.ndarray:
    """The z-buffer of voxels ``pts`` (camera-frame depths ``z``) in ``camera``."""
    width, height = camera.size
    uv = camera.project(pts)
    focal = float(max(camera.K[0, 0], camera.K[1, 1]))
    reach = 0.5 * np.sqrt(3.0) * step * focal / z  # the bounding sphere's radius in pixels
    span = int(np.ceil(reach.max()))
    base = np.rint(uv).astype(np.int64)
    offsets = np.arange(-span, span + 1)
    du, dv = (d.reshape(-1) for d in np.meshgrid(offsets, offsets, indexing="xy"))
    pixels, depths = [], []
    chunk = max(1, _CANDIDATES // len(du))  # voxels per pass: bounded temporary memory
    for start in range(0, len(pts), chunk):
        part = slice(start, start + chunk)
        u = base[part, None, 0] + du[None]  # candidate pixels per voxel
        v = base[part, None, 1] + dv[None]
        near = ((u - uv[part, None, 0]) ** 2 + (v - uv[part, None, 1]) ** 2
                <= reach[part, None] ** 2)
        keep = near & (u >= 0) & (u < width) & (v >= 0) & (v < height)
        pixels.append((v * width + u)[keep])
        depths.append(np.broadcast_to((z[part] - 0.5 * step)[:, None], keep.shape)[keep])
    pixel, value = np.concatenate(pixels), np.concatenate(depths)
    out = np.zeros(height * width)
    if len(pixel):
        order = np.lexsort((value, pixel))  # by pixel, nearest first
        pixel, value = pixel[order], value[order]
        first = np.r_[True, pixel[1:] != pixel[:-1]]
        out[pixel[first]] = value[first]
    return out.reshape(height, width).astype(np.float32)
