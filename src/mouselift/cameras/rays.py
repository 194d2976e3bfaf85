"""Per-pixel camera rays in PyTorch, and GS-LRM's 9-channel Plücker-style input.

Conventions (as :mod:`mouselift.cameras.camera`): OpenCV axes (x right, y down, z forward),
``c2w`` maps camera to world, ``K = [[fx, s, cx], [0, fy, cy], [0, 0, 1]]`` with skew ``s``,
and OpenCV pixels: the ray of pixel (column ``u``, row ``v``) passes through the image point
``(u, v)``, the pixel's centre. This is the same ray FaceLift casts through ``(u + 0.5, v + 0.5)``
with its intrinsics, whose principal point is ours + 0.5 (see :mod:`.facelift`).

Shapes: ``K`` (..., 3, 3) and ``c2w`` (..., 4, 4) broadcast against each other; rays come out as
(..., H, W, 3); directions are unit vectors in world coordinates; origins are camera centres.
"""

from __future__ import annotations

import numpy as np
import torch

from .camera import Camera


def _as_tensor(
    x: torch.Tensor | np.ndarray, dtype: torch.dtype, device: torch.device | str | None
) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.to(dtype=dtype, device=device if device is not None else x.device)
    # np.array copies: Camera's arrays are read-only, which torch warns about.
    return torch.as_tensor(np.array(x), dtype=dtype, device=device)


def _pick_dtype(*values: object, dtype: torch.dtype | None) -> torch.dtype:
    """``dtype`` if given, else the first floating tensor's dtype, else float32."""
    if dtype is not None:
        return dtype
    for v in values:
        if isinstance(v, torch.Tensor) and v.is_floating_point():
            return v.dtype
    return torch.float32


def pixel_rays(
    K: torch.Tensor | np.ndarray,
    c2w: torch.Tensor | np.ndarray,
    height: int,
    width: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and unit directions (..., H, W, 3) of the rays through every pixel centre.

    Undistorted pinhole cameras only (use :func:`camera_rays` for a distorted
    :class:`Camera`). ``dtype`` defaults to the dtype of floating tensor inputs, else float32;
    ``device`` to that of the first tensor input (else the CPU).
    """
    dtype = _pick_dtype(K, c2w, dtype=dtype)
    if device is None:
        device = next((x.device for x in (K, c2w) if isinstance(x, torch.Tensor)), None)
    k = _as_tensor(K, dtype, device)
    m = _as_tensor(c2w, dtype, k.device)
    if k.shape[-2:] != (3, 3) or m.shape[-2:] != (4, 4):
        raise ValueError(f"K must be (..., 3, 3) and c2w (..., 4, 4), got {k.shape} and {m.shape}")
    batch = torch.broadcast_shapes(k.shape[:-2], m.shape[:-2])
    k = k.expand(*batch, 3, 3)
    m = m.expand(*batch, 4, 4)

    v, u = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=k.device),
        torch.arange(width, dtype=dtype, device=k.device),
        indexing="ij",
    )  # (H, W), u = column, v = row
    fx, fy = k[..., 0, 0, None, None], k[..., 1, 1, None, None]
    cx, cy = k[..., 0, 2, None, None], k[..., 1, 2, None, None]
    skew = k[..., 0, 1, None, None]
    y = (v - cy) / fy
    x = (u - cx - skew * y) / fx
    d_cam = torch.stack([x, y, torch.ones_like(x)], dim=-1)  # (..., H, W, 3)
    rot = m[..., None, None, :3, :3]  # columns are the camera axes in world coordinates
    directions = torch.einsum("...ij,...j->...i", rot, d_cam)
    directions = directions / torch.linalg.norm(directions, dim=-1, keepdim=True)
    origins = m[..., None, None, :3, 3].expand(directions.shape)
    return origins, directions


def camera_rays(
    camera: Camera,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and unit directions (H, W, 3) of ``camera``'s pixel rays.

    Lens distortion is removed exactly (via :meth:`Camera.ray_directions`, in float64) when the
    camera has any; otherwise this is :func:`pixel_rays` of its ``K`` and ``c2w``.
    """
    if not camera.has_distortion:
        return pixel_rays(
            camera.K, camera.c2w, camera.height, camera.width, dtype=dtype, device=device
        )
    pixels = camera.pixel_centers().reshape(-1, 2)
    d = camera.ray_directions(pixels).reshape(camera.height, camera.width, 3)
    directions = torch.as_tensor(d, dtype=dtype, device=device)
    origins = torch.as_tensor(camera.center, dtype=dtype, device=device).expand(directions.shape)
    return origins, directions


def closest_points_to_origin(origins: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """The point ``o + (−o·d)·d`` of each ray closest to the world origin (unit ``d``)."""
    along = -(origins * directions).sum(dim=-1, keepdim=True)
    return origins + along * directions


def plucker_input(
    images: torch.Tensor,
    K: torch.Tensor | np.ndarray,
    c2w: torch.Tensor | np.ndarray,
) -> torch.Tensor:
    """GS-LRM's per-pixel input: (..., 3, H, W) RGB in [0, 1] → (..., 9, H, W).

    Channels: ``2·rgb − 1`` (3), the unit ray direction ``d`` (3) and ``o + (−o·d)·d``, the
    ray's point closest to the world origin (3). ``K`` (..., 3, 3) and ``c2w`` (..., 4, 4) are
    per image (leading dimensions broadcast with the image batch); rays go through pixel centres
    as in :func:`pixel_rays`. The output has the images' dtype (float32 for integer images) and
    device; rays are computed in at least float32.
    """
    if images.ndim < 3 or images.shape[-3] != 3:
        raise ValueError(f"images must be (..., 3, H, W), got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    dtype = images.dtype if images.is_floating_point() else torch.float32
    # Rays in at least float32 (bf16/fp16 would lose the geometry), then cast to the output dtype.
    ray_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    origins, directions = pixel_rays(K, c2w, height, width, dtype=ray_dtype, device=images.device)
    closest = closest_points_to_origin(origins, directions)
    rays = torch.cat([directions, closest], dim=-1).movedim(-1, -3).to(dtype)  # (..., 6, H, W)
    rgb = images.to(dtype) * 2 - 1
    batch = torch.broadcast_shapes(rgb.shape[:-3], rays.shape[:-3])
    return torch.cat(
        [rgb.expand(*batch, 3, height, width), rays.expand(*batch, 6, height, width)], dim=-3
    )


__all__ = ["camera_rays", "closest_points_to_origin", "pixel_rays", "plucker_input"]
