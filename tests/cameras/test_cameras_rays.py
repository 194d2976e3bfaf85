"""Pixel rays (torch) and GS-LRM's 9-channel input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mouselift.cameras import (
    Camera,
    camera_rays,
    closest_points_to_origin,
    look_at,
    pixel_rays,
    plucker_input,
)


def _rays64(cam: Camera) -> tuple[np.ndarray, np.ndarray]:
    o, d = pixel_rays(torch.tensor(cam.K), torch.tensor(cam.c2w), cam.height, cam.width)
    return o.numpy(), d.numpy()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_rays_reproject_to_their_pixel(make_camera, seed: int) -> None:
    cam = make_camera(seed).resize(23, 17)  # small image, skew kept
    o, d = _rays64(cam)
    assert o.shape == d.shape == (17, 23, 3)
    np.testing.assert_allclose(np.linalg.norm(d, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(o, np.broadcast_to(cam.center, o.shape), atol=1e-9)
    pix = cam.project((o + 5.0 * d).reshape(-1, 3)).reshape(17, 23, 2)
    np.testing.assert_allclose(pix, cam.pixel_centers(), atol=1e-6)
    # ... and agree with the NumPy implementation on Camera
    ref = cam.ray_directions(cam.pixel_centers().reshape(-1, 2)).reshape(17, 23, 3)
    np.testing.assert_allclose(d, ref, atol=1e-12)


def test_pixel_convention_u_is_column(make_camera) -> None:
    """Ray (row 2, column 5) passes through pixel (u, v) = (5, 2), not (2, 5)."""
    cam = make_camera(3, skew=False).resize(8, 6)
    o, d = _rays64(cam)
    uv = cam.project((o[2, 5] + d[2, 5])[None])[0]
    np.testing.assert_allclose(uv, [5.0, 2.0], atol=1e-8)


def test_float32_default_and_agreement(make_camera) -> None:
    cam = make_camera(4).resize(12, 10)
    o32, d32 = pixel_rays(cam.K, cam.c2w, 10, 12)  # NumPy inputs → float32
    assert o32.dtype == d32.dtype == torch.float32
    o64, d64 = _rays64(cam)
    np.testing.assert_allclose(d32.numpy(), d64, atol=2e-6)
    np.testing.assert_allclose(o32.numpy(), o64, rtol=1e-6, atol=1e-3)


def test_batched_broadcasting(make_rig) -> None:
    rig = [c.resize(9, 7) for c in make_rig(5, n=3)]
    ks = torch.tensor(np.stack([c.K for c in rig]))
    c2ws = torch.tensor(np.stack([c.c2w for c in rig]))
    o, d = pixel_rays(ks[None], c2ws[None].expand(2, 3, 4, 4), 7, 9)
    assert o.shape == d.shape == (2, 3, 7, 9, 3)
    for i, cam in enumerate(rig):
        np.testing.assert_allclose(d[1, i].numpy(), _rays64(cam)[1], atol=1e-12)
    # one K shared by all cameras
    _, d_shared = pixel_rays(ks[0], c2ws, 7, 9)
    np.testing.assert_allclose(d_shared[0].numpy(), d[0, 0].numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="K must be"):
        pixel_rays(ks[:, :2], c2ws, 7, 9)


def test_camera_rays_with_distortion(make_camera) -> None:
    cam = make_camera(6, distortion=True).resize(15, 11)
    assert cam.has_distortion
    o, d = camera_rays(cam, dtype=torch.float64)
    pix = cam.project((o + 3.0 * d).reshape(-1, 3).numpy()).reshape(11, 15, 2)
    np.testing.assert_allclose(pix, cam.pixel_centers(), atol=1e-6)
    # differs from the pinhole rays: distortion is really removed
    _, d_pinhole = camera_rays(cam.undistorted(), dtype=torch.float64)
    assert (d - d_pinhole).abs().max() > 1e-4


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_closest_point_property(make_camera, seed: int) -> None:
    cam = make_camera(seed).resize(6, 5)
    o, d = pixel_rays(torch.tensor(cam.K), torch.tensor(cam.c2w), 5, 6)
    p = closest_points_to_origin(o, d).numpy()
    o, d = o.numpy(), d.numpy()
    np.testing.assert_allclose((p * d).sum(-1), 0.0, atol=1e-9)  # p ⟂ d
    distance = np.linalg.norm(np.cross(o, d), axis=-1)  # |o × d| = line's distance to origin
    np.testing.assert_allclose(np.linalg.norm(p, axis=-1), distance, rtol=1e-9, atol=1e-9)
    t = ((p - o) * d).sum(-1, keepdims=True)  # p is on the line
    np.testing.assert_allclose(o + t * d, p, atol=1e-9)


def test_plucker_input_channels(make_rig) -> None:
    rig = [c.resize(16, 8) for c in make_rig(7, n=2)]
    images = torch.rand(3, 2, 3, 8, 16)  # (batch, view, rgb, H, W)
    ks = torch.tensor(np.stack([c.K for c in rig]), dtype=torch.float32)
    c2ws = torch.tensor(np.stack([c.c2w for c in rig]), dtype=torch.float32)
    x = plucker_input(images, ks, c2ws)
    assert x.shape == (3, 2, 9, 8, 16) and x.dtype == torch.float32
    torch.testing.assert_close(x[:, :, :3], 2 * images - 1)
    for v, cam in enumerate(rig):
        o, d = _rays64(cam)
        np.testing.assert_allclose(x[1, v, 3:6].permute(1, 2, 0).numpy(), d, atol=1e-5)
        closest = o + (-(o * d).sum(-1, keepdims=True)) * d
        np.testing.assert_allclose(
            x[2, v, 6:9].permute(1, 2, 0).numpy(), closest, rtol=1e-4, atol=1e-3
        )
    assert x[:, :, :3].min() >= -1 and x[:, :, :3].max() <= 1


def test_plucker_input_facelift_scale_and_dtypes() -> None:
    """A FaceLift-like camera at distance 2.7 looking at the origin: the centre pixel's ray
    passes (nearly) through the origin, so its closest point is ≈ 0."""
    k = np.array([[548.0, 0.0, 255.5], [0.0, 548.0, 255.5], [0.0, 0.0, 1.0]])
    w2c = look_at([0.0, -2.7, 0.0], [0.0, 0.0, 0.0])
    c2w = torch.tensor(np.linalg.inv(w2c))
    img = torch.full((3, 512, 512), 0.5, dtype=torch.bfloat16)
    x = plucker_input(img, torch.tensor(k), c2w)
    assert x.shape == (9, 512, 512) and x.dtype == torch.bfloat16
    assert x[:3].abs().max() == 0
    centre = x[6:9, 255:257, 255:257].float()
    assert centre.abs().max() < 0.01
    corner = x[3:6, 0, 0].float()
    assert torch.allclose(corner.norm(), torch.tensor(1.0), atol=1e-2)
    with pytest.raises(ValueError, match="images"):
        plucker_input(torch.zeros(4, 8, 8), torch.tensor(k), c2w)
    u8 = plucker_input(torch.zeros(3, 4, 4, dtype=torch.uint8), torch.tensor(k), c2w)
    assert u8.dtype == torch.float32 and (u8[:3] == -1).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_rays_on_cuda_match_cpu(make_camera) -> None:
    cam = make_camera(8).resize(32, 24)
    images = torch.rand(3, 24, 32)
    k, c2w = torch.tensor(cam.K), torch.tensor(cam.c2w, dtype=torch.float32)
    cpu = plucker_input(images, k, c2w)
    gpu = plucker_input(images.cuda(), k, c2w.cuda())  # NumPy-born K follows the tensors
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-5, atol=1e-4)
