"""Shared fixtures for the camera tests: random cameras, points in view, the real DANNCE file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mouselift.cameras import Camera, w2c_from_rt

# The real markerless_mouse_1 calibration (DANNCE, MIT; see tests/fixtures/README.md).
DANNCE_MAT = Path(__file__).resolve().parents[1] / "fixtures" / "label3d_dannce.mat"


def random_camera(
    rng: np.random.Generator,
    *,
    skew: bool = True,
    distortion: bool = False,
    name: str = "",
) -> Camera:
    """A camera with a random pose (scipy's uniform rotation), intrinsics and image size.

    Distortion, when asked for, is moderate (monotonic for normalised |x|, |y| < 0.6).
    """
    width, height = (int(v) for v in rng.integers(16, 1500, size=2))
    fx = rng.uniform(0.5, 2.0) * width
    k = np.array(
        [
            [fx, rng.uniform(-10, 10) if skew else 0.0, rng.uniform(0.3, 0.7) * width],
            [0.0, fx * rng.uniform(0.8, 1.25), rng.uniform(0.3, 0.7) * height],
            [0.0, 0.0, 1.0],
        ]
    )
    rot = Rotation.random(random_state=rng).as_matrix()
    centre = rng.uniform(-500, 500, size=3)
    dist = None
    if distortion:
        dist = np.concatenate(
            [rng.uniform(-0.15, 0.15, 1), rng.uniform(-0.05, 0.05, 1),
             rng.uniform(-0.005, 0.005, 2), rng.uniform(-0.02, 0.02, 1)]
        )
    w2c = w2c_from_rt(rot, -rot @ centre)
    return Camera(K=k, w2c=w2c, width=width, height=height, dist=dist, name=name)


def points_in_view(camera: Camera, rng: np.random.Generator, n: int = 50) -> np.ndarray:
    """World points (n, 3) in front of ``camera`` whose undistorted projections are in the image."""
    u = rng.uniform(-0.5, camera.width - 0.5, n)
    v = rng.uniform(-0.5, camera.height - 0.5, n)
    xy = camera.pixels_to_normalized(np.stack([u, v], -1), undistort=False)
    z = rng.uniform(10.0, 1000.0, n)
    cam = np.concatenate([xy * z[:, None], z[:, None]], axis=-1)
    return (cam - camera.t) @ camera.R


@pytest.fixture(scope="session")
def make_camera() -> Callable[..., Camera]:
    """``make_camera(seed, **options)``: a reproducible :func:`random_camera`."""

    def make(seed: int, **options: object) -> Camera:
        return random_camera(np.random.default_rng(seed), **options)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def make_rig(make_camera: Callable[..., Camera]) -> Callable[..., list[Camera]]:
    """``make_rig(seed, n=4, **options)``: n random cameras named ``"0"``… ."""

    def make(seed: int, n: int = 4, **options: object) -> list[Camera]:
        return [make_camera(seed * 1000 + i, name=str(i), **options) for i in range(n)]

    return make


@pytest.fixture(scope="session")
def dannce_mat() -> Path:
    """The real ``label3d_dannce.mat``, a fixture of the repository (its absence is a failure)."""
    assert DANNCE_MAT.is_file(), f"test fixture {DANNCE_MAT} is missing from this checkout"
    return DANNCE_MAT


@pytest.fixture(scope="session")
def sample_points() -> Callable[..., np.ndarray]:
    """``sample_points(camera, seed, n=50)``: :func:`points_in_view` with a seeded generator."""

    def sample(camera: Camera, seed: int, n: int = 50) -> np.ndarray:
        return points_in_view(camera, np.random.default_rng(seed), n)

    return sample

