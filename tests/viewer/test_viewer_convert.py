"""Our Gaussians and cameras in viser's terms: splat arrays, frustum poses, the opening view."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from viewer_testutils import blob, ring_cameras

from mouselift.splat import Gaussians, quaternion_to_matrix, rgb_to_sh
from mouselift.viewer.convert import frustum_pose, matrix_to_wxyz, opening_view, splat_arrays


def test_splat_arrays():
    g = Gaussians.random(50, seed=3, sh_degree=2, dtype=torch.float64)
    sh = g.sh.clone()
    sh[:3, 0] = rgb_to_sh(torch.tensor([[1.4, -0.2, 0.5]], dtype=torch.float64))  # out of range
    g = g.replace(sh=sh)
    arrays = splat_arrays(g)
    assert len(arrays) == 50
    assert arrays.centers.shape == (50, 3) and arrays.covariances.shape == (50, 3, 3)
    assert arrays.rgbs.shape == (50, 3) and arrays.opacities.shape == (50, 1)
    assert {a.dtype for a in vars(arrays).values()} == {np.dtype(np.float32)}
    np.testing.assert_allclose(arrays.centers, g.means.numpy(), rtol=1e-6)
    np.testing.assert_allclose(arrays.covariances, g.covariances().numpy(), rtol=1e-5,
                               atol=1e-9)
    np.testing.assert_allclose(arrays.opacities[:, 0], torch.sigmoid(g.opacity_logits).numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(arrays.rgbs[:3], [[1.0, 0.0, 0.5]] * 3, atol=1e-6)  # clipped
    np.testing.assert_allclose(arrays.rgbs[3:], g.rgb_dc[3:].clamp(0, 1).numpy(), atol=1e-6)


def test_matrix_to_wxyz_inverts_quaternion_to_matrix():
    rotations = Rotation.random(20, random_state=1).as_matrix()
    for matrix in rotations:
        q = matrix_to_wxyz(matrix)
        assert q[0] >= 0 and math.isclose(np.linalg.norm(q), 1.0)
        np.testing.assert_allclose(quaternion_to_matrix(torch.from_numpy(q)).numpy(), matrix,
                                   atol=1e-12)
    np.testing.assert_allclose(matrix_to_wxyz(np.eye(3)), [1, 0, 0, 0])


def test_frustum_pose_is_the_camera_to_world_pose():
    """viser's frustums use OpenCV axes: the pose is c2w as it is, +z towards what it sees."""
    for camera in ring_cameras(4, size=40):
        pose = frustum_pose(camera)
        rotation = quaternion_to_matrix(torch.from_numpy(pose.wxyz)).numpy()
        np.testing.assert_allclose(rotation, camera.c2w[:3, :3], atol=1e-12)
        np.testing.assert_allclose(pose.position, camera.center, atol=1e-12)
        forward = rotation[:, 2]
        np.testing.assert_allclose(forward, -camera.center / np.linalg.norm(camera.center),
                                   atol=1e-12)  # looks at the origin
        assert rotation[:, 1] @ np.array([0, 0, 1.0]) < 0  # image y (down) is world −Z
        assert math.isclose(pose.fov, math.radians(50.0))
        assert pose.aspect == 1.0


def test_frustum_fov_is_vertical_and_aspect_is_w_over_h():
    camera = ring_cameras(1, size=40)[0]
    wide = type(camera)(camera.K, camera.w2c, 80, 40)
    pose = frustum_pose(wide)
    assert pose.aspect == 2.0
    assert math.isclose(pose.fov, 2 * math.atan(20 / wide.fy))


def test_scale_for_depth_undoes_viser_volume_normalisation():
    """viser's client: y = tan(fov/2), x = y·aspect, z = 1, all divided by cbrt(x·y·z/3), then
    times scale; the image plane is at that z."""
    pose = frustum_pose(ring_cameras(1, size=40)[0])
    for depth in (0.1, 0.5, 2.0):
        scale = pose.scale_for_depth(depth)
        y = math.tan(pose.fov / 2)
        x = y * pose.aspect
        z = 1.0 / (x * y / 3.0) ** (1 / 3) * scale
        assert math.isclose(z, depth)


def test_opening_view_frames_the_opaque_gaussians():
    g = Gaussians.cat([blob((1.0, 2.0, 0.5), n=400), blob((40.0, 0, 0), n=30, opacity=0.01)])
    view = opening_view(g)
    np.testing.assert_allclose(view.look_at, [1.0, 2.0, 0.5], atol=0.05)  # faint ones ignored
    offset = view.position - view.look_at
    assert offset[1] < 0 and offset[2] > 0  # from the front (−Y), above
    assert math.isclose(math.degrees(math.asin(offset[2] / np.linalg.norm(offset))), 20.0)
    points = g.means[:400].numpy() - view.look_at
    extent = np.quantile(np.linalg.norm(points, axis=1), 0.9)
    assert math.isclose(np.linalg.norm(offset), 2 * extent / math.tan(math.radians(25)),
                        rel_tol=1e-6)
    assert view.up.tolist() == [0, 0, 1] and math.isclose(view.fov, math.radians(50))


def test_opening_view_backs_off_behind_the_cameras():
    g = blob(n=400)
    close = opening_view(g)
    centres = np.array([c.center for c in ring_cameras(6)])
    far = opening_view(g, centres)
    rig = np.median(np.linalg.norm(centres - far.look_at, axis=1))
    assert np.linalg.norm(close.position - close.look_at) < 1.5 * rig
    assert math.isclose(np.linalg.norm(far.position - far.look_at), 1.5 * rig)


def test_opening_view_of_nothing():
    view = opening_view(Gaussians.empty())
    assert view.look_at.tolist() == [0, 0, 0]
    assert math.isclose(np.linalg.norm(view.position), 2.7)
