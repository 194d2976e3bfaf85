"""look_at, field-of-view intrinsics and turntable orbits."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mouselift.cameras import Camera, intrinsics_from_fov, look_at, orbit_cameras
from mouselift.cameras.orbits import orbit_basis, up_vector

finite = st.floats(-100, 100, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    eye=st.tuples(finite, finite, finite),
    target=st.tuples(finite, finite, finite),
    up=st.sampled_from(["z", "y", "-y", "x", "-z"]),
)
def test_look_at_properties(eye, target, up) -> None:
    eye, target, u = np.array(eye), np.array(target), up_vector(up)
    forward = target - eye
    length = np.linalg.norm(forward)
    # degenerate configurations are refused (tested below)
    assume(length > 1e-3 and np.linalg.norm(np.cross(forward, u)) > 1e-3 * length)
    w2c = look_at(eye, target, up)
    cam = Camera(K=intrinsics_from_fov(60, 41, 31), w2c=w2c, width=41, height=31)
    np.testing.assert_allclose(cam.center, eye, atol=1e-9)
    z_axis = cam.c2w[:3, 2]
    np.testing.assert_allclose(z_axis, forward / np.linalg.norm(forward), atol=1e-12)
    # target at the image centre, in front
    uv, depth = cam.project(target[None], return_depth=True)
    np.testing.assert_allclose(uv[0], [20.0, 15.0], atol=1e-7)
    assert depth[0] > 0
    # camera y points "down" (against up) and x is horizontal
    assert cam.c2w[:3, 1] @ u < 0
    assert abs(cam.c2w[:3, 0] @ u) < 1e-9
    # a point above the target appears above it in the image (smaller v)
    above = cam.project((target + 0.01 * np.linalg.norm(forward) * u)[None])[0]
    assert above[1] < 15.0


def test_look_at_right_is_right() -> None:
    """Looking north (+y) with +z up, east (+x) is on the right of the image."""
    w2c = look_at([0, 0, 0], [0, 10, 0])
    cam = Camera(K=intrinsics_from_fov(90, 11, 11), w2c=w2c, width=11, height=11)
    east, west = cam.project(np.array([[1.0, 10, 0], [-1.0, 10, 0]]))
    assert east[0] > 5 > west[0]
    np.testing.assert_allclose(w2c[:3, :3], [[1, 0, 0], [0, 0, -1], [0, 1, 0]], atol=1e-15)


def test_look_at_degenerate() -> None:
    with pytest.raises(ValueError, match="coincide"):
        look_at([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="parallel"):
        look_at([0, 0, 5], [0, 0, 0])
    with pytest.raises(ValueError, match="up"):
        look_at([0, 0, 5], [1, 0, 0], up="w")


@pytest.mark.parametrize(("fov", "width", "height"), [(50, 512, 512), (90, 64, 32), (30, 7, 9)])
def test_intrinsics_from_fov(fov, width, height) -> None:
    k = intrinsics_from_fov(fov, width, height)
    assert k[0, 2] == (width - 1) / 2 and k[1, 2] == (height - 1) / 2
    assert k[0, 1] == 0 and k[0, 0] == k[1, 1]
    # the left and right image edges (u = -0.5 and W - 0.5) are fov apart
    cam = Camera(K=k, w2c=np.eye(4), width=width, height=height)
    d = cam.ray_directions(np.array([[-0.5, k[1, 2]], [width - 0.5, k[1, 2]]]))
    np.testing.assert_allclose(np.degrees(np.arccos(d[0] @ d[1])), fov, atol=1e-9)
    with pytest.raises(ValueError):
        intrinsics_from_fov(180, width, height)


@settings(max_examples=40, deadline=None)
@given(
    num=st.integers(1, 8),
    radius=st.floats(0.1, 500),
    elevation=st.floats(-80, 80),
    start=st.floats(-360, 360),
    target=st.tuples(finite, finite, finite),
    up=st.sampled_from(["z", "y", "-y", "x"]),
)
def test_orbit_properties(num, radius, elevation, start, target, up) -> None:
    cams = orbit_cameras(num, radius=radius, elevation_deg=elevation, target=target, up=up,
                         width=33, height=25, fov_deg=45, start_azimuth_deg=start)
    target = np.array(target)
    e1, e2, u = orbit_basis(up)
    assert len(cams) == num and [c.name for c in cams][:1] == ["orbit_000"]
    for i, cam in enumerate(cams):
        offset = cam.center - target
        np.testing.assert_allclose(np.linalg.norm(offset), radius, rtol=1e-9)
        np.testing.assert_allclose(
            np.degrees(np.arcsin(np.clip(offset @ u / radius, -1, 1))), elevation, atol=1e-6
        )
        azimuth = np.degrees(np.arctan2(offset @ e2, offset @ e1))
        expected = start + 360.0 * i / num
        assert abs((azimuth - expected + 180) % 360 - 180) < 1e-6
        np.testing.assert_allclose(cam.project(target[None])[0], [16.0, 12.0], atol=1e-6)


def test_orbit_counter_clockwise_about_z() -> None:
    cams = orbit_cameras(4, radius=2.0, elevation_deg=0.0, width=8, height=8, fov_deg=50)
    np.testing.assert_allclose(
        [c.center for c in cams], [[2, 0, 0], [0, 2, 0], [-2, 0, 0], [0, -2, 0]], atol=1e-12
    )
    up = orbit_cameras(1, radius=3.0, elevation_deg=30.0, width=8, height=8, fov_deg=50)[0]
    np.testing.assert_allclose(up.center, [3 * np.cos(np.pi / 6), 0, 1.5], atol=1e-12)


def test_orbit_intrinsics_arguments() -> None:
    k = np.array([[100.0, 1.0, 10.0], [0.0, 90.0, 8.0], [0.0, 0.0, 1.0]])
    cams = orbit_cameras(3, radius=1.0, elevation_deg=10.0, width=20, height=16, K=k)
    assert all(np.array_equal(c.K, k) for c in cams)
    with pytest.raises(ValueError, match="exactly one"):
        orbit_cameras(3, radius=1.0, elevation_deg=10.0, width=20, height=16)
    with pytest.raises(ValueError, match="exactly one"):
        orbit_cameras(3, radius=1.0, elevation_deg=10.0, width=20, height=16, K=k, fov_deg=40)
    with pytest.raises(ValueError, match="elevation"):
        orbit_cameras(3, radius=1.0, elevation_deg=90.0, width=20, height=16, fov_deg=40)
    with pytest.raises(ValueError, match="radius"):
        orbit_cameras(3, radius=0.0, elevation_deg=0.0, width=20, height=16, fov_deg=40)
