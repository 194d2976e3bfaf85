"""Property tests of every geometric conversion (hypothesis)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from mouselift.cameras import (
    Camera,
    Similarity,
    matrix_to_rodrigues,
    read_dannce_mat,
    rigid_inverse,
    rodrigues_to_matrix,
    w2c_from_rt,
)
from mouselift.cameras import distortion as dist_model

SETTINGS = settings(max_examples=60, deadline=None)

seeds = st.integers(0, 2**31 - 1)
coord = st.floats(-1000, 1000, allow_nan=False)
vectors = st.tuples(coord, coord, coord).map(np.array)


@st.composite
def rotations(draw) -> np.ndarray:
    q = np.array(draw(st.tuples(*[st.floats(-1, 1)] * 4)))
    assume(np.linalg.norm(q) > 0.1)
    return Rotation.from_quat(q).as_matrix()


@st.composite
def similarities(draw) -> Similarity:
    return Similarity(
        scale=draw(st.floats(0.01, 100)), rotation=draw(rotations()), translation=draw(vectors)
    )


def _points_near_axis(camera: Camera, seed: int, n: int = 40) -> np.ndarray:
    """World points with normalised |x|, |y| < 0.6 in front of ``camera`` (distortion-safe)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-0.6, 0.6, (n, 2))
    z = rng.uniform(10.0, 1000.0, n)
    cam = np.concatenate([xy * z[:, None], z[:, None]], axis=-1)
    return (cam - camera.t) @ camera.R


# ----------------------------------------------------------------------------- rigid transforms
@SETTINGS
@given(rot=rotations(), t=vectors)
def test_w2c_c2w_inverse(rot, t) -> None:
    w2c = w2c_from_rt(rot, t)
    c2w = rigid_inverse(w2c)
    np.testing.assert_allclose(c2w @ w2c, np.eye(4), atol=1e-9)
    np.testing.assert_allclose(w2c @ c2w, np.eye(4), atol=1e-9)
    np.testing.assert_allclose(rigid_inverse(c2w), w2c, atol=1e-9)
    np.testing.assert_allclose(c2w, np.linalg.inv(w2c), rtol=1e-9, atol=1e-9)
    cam = Camera(K=np.diag([100.0, 100.0, 1.0]), w2c=w2c, width=4, height=4)
    np.testing.assert_allclose(cam.c2w[:3, 3], cam.center, atol=1e-9)
    np.testing.assert_allclose(cam.world_to_camera(cam.center), 0.0, atol=1e-9)


def test_rigid_inverse_batched() -> None:
    rots = Rotation.random(5, random_state=0).as_matrix()
    mats = np.stack([w2c_from_rt(r, np.arange(3.0) * i) for i, r in enumerate(rots)])
    np.testing.assert_allclose(rigid_inverse(mats), np.linalg.inv(mats), atol=1e-12)


# ----------------------------------------------------------------------------- Rodrigues
@SETTINGS
@given(
    axis=st.tuples(*[st.floats(-1, 1)] * 3).map(np.array),
    angle=st.floats(0, np.pi - 1e-4),
)
def test_rodrigues_roundtrip(axis, angle) -> None:
    assume(np.linalg.norm(axis) > 0.1)
    rvec = axis / np.linalg.norm(axis) * angle
    mat = rodrigues_to_matrix(rvec)
    np.testing.assert_allclose(mat, Rotation.from_rotvec(rvec).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(matrix_to_rodrigues(mat), rvec, atol=1e-9)


@SETTINGS
@given(rot=rotations())
def test_rodrigues_matrix_roundtrip(rot) -> None:
    rvec = matrix_to_rodrigues(rot)
    assert np.linalg.norm(rvec) <= np.pi + 1e-12
    np.testing.assert_allclose(rodrigues_to_matrix(rvec), rot, atol=1e-9)


@pytest.mark.parametrize("gap", [0.0, 1e-12, 1e-9, 1e-7, 1e-5, 1e-3])
def test_rodrigues_near_half_turn(gap) -> None:
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    rot = Rotation.from_rotvec(axis * (np.pi - gap)).as_matrix()
    rvec = matrix_to_rodrigues(rot)
    np.testing.assert_allclose(rodrigues_to_matrix(rvec), rot, atol=1e-9)
    assert abs(abs(rvec @ axis) - (np.pi - gap)) < 1e-9


# ----------------------------------------------------------------------------- crop and resize
@SETTINGS
@given(
    seed=seeds,
    fx0=st.floats(-0.3, 0.8),
    fy0=st.floats(-0.3, 0.8),
    fw=st.floats(0.01, 1.0),
    fh=st.floats(0.01, 1.0),
    out_w=st.integers(1, 700),
    out_h=st.integers(1, 700),
    distorted=st.booleans(),
)
def test_crop_and_resize_moves_pixels_exactly(
    make_camera, seed, fx0, fy0, fw, fh, out_w, out_h, distorted
) -> None:
    cam = make_camera(seed, distortion=distorted)
    box = (fx0 * cam.width, fy0 * cam.height,
           (fx0 + fw) * cam.width, (fy0 + fh) * cam.height)
    crop = cam.crop_and_resize(box, (out_w, out_h))
    assert crop.size == (out_w, out_h)
    sx, sy = out_w / (box[2] - box[0]), out_h / (box[3] - box[1])
    pts = _points_near_axis(cam, seed)
    uv, depth = cam.project(pts, return_depth=True)
    expected = np.stack([(uv[:, 0] + 0.5 - box[0]) * sx - 0.5,
                         (uv[:, 1] + 0.5 - box[1]) * sy - 0.5], -1)
    got = crop.project(pts)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(crop.unproject(got, depth), pts, rtol=1e-7, atol=1e-6)
    assert crop.skew == pytest.approx(cam.skew * sx, rel=1e-12, abs=1e-12)


@SETTINGS
@given(seed=seeds, out=st.integers(1, 64))
def test_crop_edges_map_to_output_edges(make_camera, seed, out) -> None:
    """The box's corners (edge coordinates) land on the output image's corners."""
    cam = make_camera(seed, skew=False)
    x0, y0 = 0.25 * cam.width, 0.1 * cam.height
    box = (x0, y0, x0 + 0.5 * cam.width, y0 + 0.7 * cam.height)
    crop = cam.crop_and_resize(box, (out, out + 1))
    corners = np.array([[box[0], box[1]], [box[2], box[3]]]) - 0.5  # as pixel coordinates
    rays = cam.unproject(corners, 1.0)
    np.testing.assert_allclose(crop.project(rays), [[-0.5, -0.5], [out - 0.5, out + 0.5]],
                               atol=1e-7)


def test_integer_crop_and_identity(make_camera, sample_points) -> None:
    cam = make_camera(21)
    assert cam.crop_and_resize((0, 0, cam.width, cam.height)).allclose(cam)
    crop = cam.crop(3, 5, 10, 8)
    pts = sample_points(cam, seed=2)
    np.testing.assert_allclose(crop.project(pts), cam.project(pts) - [3, 5], atol=1e-9)
    with pytest.raises(ValueError):
        cam.crop_and_resize((5, 5, 5, 9), (4, 4))


# ----------------------------------------------------------------------------- similarity
@SETTINGS
@given(seed=seeds, sim=similarities(), distorted=st.booleans())
def test_similarity_keeps_projections(make_camera, sample_points, seed, sim, distorted) -> None:
    cam = make_camera(seed, distortion=distorted)
    moved = cam.transformed(sim)
    pts = _points_near_axis(cam, seed) if distorted else sample_points(cam, seed)
    np.testing.assert_allclose(moved.project(sim.apply(pts)), cam.project(pts),
                               rtol=1e-8, atol=1e-6)
    np.testing.assert_allclose(moved.center, sim.apply(cam.center), rtol=1e-9, atol=1e-6)
    assert np.array_equal(moved.K, cam.K) and np.array_equal(moved.dist, cam.dist)


@SETTINGS
@given(a=similarities(), b=similarities(), p=vectors)
def test_similarity_compose_and_inverse(a, b, p) -> None:
    scale = 1 + np.linalg.norm(p) + np.linalg.norm(a.translation) + np.linalg.norm(b.translation)
    tol = dict(rtol=1e-9, atol=1e-9 * scale * max(1.0, a.scale) * max(1.0, b.scale))
    np.testing.assert_allclose(a.compose(b).apply(p), a.apply(b.apply(p)), **tol)
    np.testing.assert_allclose(a.inverse().apply(a.apply(p)), p, rtol=1e-9,
                               atol=1e-9 * scale * max(a.scale, 1 / a.scale))
    ident = a.compose(a.inverse())
    assert ident.scale == pytest.approx(1.0)
    np.testing.assert_allclose(ident.rotation, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(ident.translation, 0.0, atol=1e-9 * scale)


@SETTINGS
@given(seed=seeds, a=similarities(), b=similarities())
def test_transformed_twice_is_composed(make_camera, seed, a, b) -> None:
    cam = make_camera(seed)
    twice = cam.transformed(b).transformed(a)
    once = cam.transformed(a.compose(b))
    np.testing.assert_allclose(twice.R, once.R, atol=1e-9)
    np.testing.assert_allclose(twice.t, once.t, rtol=1e-9,
                               atol=1e-9 * (1 + np.abs(once.t).max()))


@SETTINGS
@given(centre=vectors, scale=st.floats(1e-3, 1e3))
def test_centre_and_scale(centre, scale) -> None:
    sim = Similarity.centre_and_scale(centre, scale)
    np.testing.assert_allclose(sim.apply(centre), 0.0, atol=1e-9 * scale * 1000)
    np.testing.assert_allclose(sim.rotation, np.eye(3))
    up = sim.apply(centre + np.array([0, 0, 1.0])) - sim.apply(centre)
    np.testing.assert_allclose(up, [0, 0, scale], rtol=1e-6, atol=1e-9 * scale * 1000)


# ----------------------------------------------------------------------------- distortion
coefficients = st.tuples(
    st.floats(-0.3, 0.3), st.floats(-0.05, 0.05),  # k1 k2
    st.floats(-0.01, 0.01), st.floats(-0.01, 0.01),  # p1 p2
    st.floats(-0.02, 0.02),  # k3
    st.floats(-0.02, 0.02), st.floats(-0.01, 0.01), st.floats(-0.01, 0.01),  # k4 k5 k6
).map(np.array)


@SETTINGS
@given(coeffs=coefficients, seed=seeds)
def test_distort_undistort_roundtrip(coeffs, seed) -> None:
    xy = np.random.default_rng(seed).uniform(-0.6, 0.6, (64, 2))
    distorted = dist_model.distort(xy, coeffs)
    # (distort∘undistort is only defined on distort's range, so the direction tested is this one)
    np.testing.assert_allclose(dist_model.undistort(distorted, coeffs), xy, atol=1e-9)


def test_zero_distortion_is_identity() -> None:
    xy = np.random.default_rng(0).uniform(-1, 1, (10, 2))
    np.testing.assert_array_equal(dist_model.distort(xy, np.zeros(8)), xy)
    np.testing.assert_array_equal(dist_model.undistort(xy, np.zeros(8)), xy)


def test_real_lenses_unproject_project(dannce_mat: Path) -> None:
    """Every pixel of the real (strongly distorted) DANNCE cameras survives unproject∘project."""
    for cam in read_dannce_mat(dannce_mat):
        u, v = np.meshgrid(np.linspace(-0.5, cam.width - 0.5, 25),
                           np.linspace(-0.5, cam.height - 0.5, 21))
        pix = np.stack([u.ravel(), v.ravel()], -1)
        depth = np.linspace(100, 900, len(pix))
        world = cam.unproject(pix, depth)
        back, z = cam.project(world, return_depth=True)
        np.testing.assert_allclose(back, pix, atol=1e-8)
        np.testing.assert_allclose(z, depth, rtol=1e-12)
