"""DANNCE ``*dannce.mat``: the real markerless_mouse_1 calibration and malformed files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from mouselift.cameras import (
    read_calibration,
    read_dannce_labels,
    read_dannce_mat,
    write_dannce_mat,
)
from mouselift.cameras.camera import Camera
from mouselift.errors import CalibrationError


# ----------------------------------------------------------------------------- the real file
def test_real_calibration_reproduces_labelled_pixels(dannce_mat: Path) -> None:
    """ACCEPTANCE: data_3d projects onto data_2d (raw, distorted pixels) within 0.01 px."""
    cameras = read_calibration(dannce_mat)
    labels = read_dannce_labels(dannce_mat)
    assert len(cameras) == len(labels) == 6
    for cam, (p3, p2) in zip(cameras, labels, strict=True):
        assert (cam.width, cam.height) == (1152, 1024)
        assert cam.has_distortion
        valid = np.all(np.isfinite(p3), axis=1) & np.all(np.isfinite(p2), axis=1)
        assert valid.sum() > 1500  # 81 frames × 22 keypoints, a few unlabelled
        err = np.abs(cam.project(p3[valid]) - p2[valid])
        assert err.max() < 0.01, f"camera {cam.name}: max error {err.max()} px"


def test_skew_matters_on_the_real_rig(dannce_mat: Path) -> None:
    """Dropping K[0, 1] (what cv2.projectPoints does) moves labelled points by > 0.3 px."""
    cameras = read_dannce_mat(dannce_mat)
    labels = read_dannce_labels(dannce_mat)
    worst = 0.0
    for cam, (p3, p2) in zip(cameras, labels, strict=True):
        k = cam.K.copy()
        k[0, 1] = 0.0
        no_skew = Camera(K=k, w2c=cam.w2c, width=cam.width, height=cam.height, dist=cam.dist)
        valid = np.all(np.isfinite(p3), axis=1) & np.all(np.isfinite(p2), axis=1)
        worst = max(worst, float(np.abs(no_skew.project(p3[valid]) - p2[valid]).max()))
    assert worst > 0.3
    assert min(abs(c.skew) for c in cameras) > 0.1


def test_real_rig_facts(dannce_mat: Path) -> None:
    """Names, distances and elevations of SPEC §2 (guards the r → R = rᵀ conversion)."""
    cameras = read_dannce_mat(dannce_mat)
    assert [c.name for c in cameras] == [f"Camera{i}" for i in range(1, 7)]
    mouse = np.array([55.0, 64.0, 21.0])  # mean mouse centre, mm, Z up
    for cam in cameras:
        offset = cam.center - mouse
        distance = np.linalg.norm(offset)
        assert 280 < distance < 350
        elevation = np.degrees(np.arcsin(offset[2] / distance))
        assert 5 < elevation < 28
        # The mouse is in front of the camera and inside its image.
        uv, depth = cam.project(mouse[None], return_depth=True)
        assert depth[0] > 0
        assert 0 <= uv[0, 0] < cam.width and 0 <= uv[0, 1] < cam.height
    low = sorted(cameras, key=lambda c: c.center[2])[:3]
    assert {c.name for c in low} == {"Camera1", "Camera3", "Camera4"}


def test_image_size_argument(dannce_mat: Path) -> None:
    cams = read_calibration(dannce_mat, image_size=(640, 480))
    assert all(c.size == (640, 480) for c in cams)


def test_labels_layout(dannce_mat: Path) -> None:
    raw = scipy.io.loadmat(dannce_mat, simplify_cells=True)["labelData"][2]
    p3, p2 = read_dannce_labels(dannce_mat)[2]
    assert p3.shape == (81 * 22, 3) and p2.shape == (81 * 22, 2)
    # frame-major: keypoint j of frame f is row f*22 + j, columns 3j..3j+2 of the MATLAB row
    np.testing.assert_array_equal(p3[5 * 22 + 7], raw["data_3d"][5, 21:24])
    np.testing.assert_array_equal(p2[80 * 22 + 21], raw["data_2d"][80, 42:44])
    assert np.isnan(p3).any()  # unlabelled keypoints are kept as NaN


def test_write_read_roundtrip_of_real_rig(dannce_mat: Path, tmp_path: Path) -> None:
    cameras = read_dannce_mat(dannce_mat)
    out = tmp_path / "rig_dannce.mat"
    write_dannce_mat(out, cameras)
    again = read_dannce_mat(out)
    assert [c.name for c in again] == [c.name for c in cameras]
    assert all(a.allclose(b) for a, b in zip(cameras, again, strict=True))


# ----------------------------------------------------------------------------- synthetic files
def _params(cameras: list[Camera]) -> np.ndarray:
    cells = np.empty((len(cameras), 1), dtype=object)
    for i, cam in enumerate(cameras):
        k1, k2, p1, p2, k3 = cam.dist[:5]
        cells[i, 0] = {
            "K": cam.K.T,
            "RDistort": np.array([[k1, k2, k3]]),
            "TDistort": np.array([[p1, p2]]),
            "r": cam.R.T,
            "t": cam.t[None],
        }
    return cells


def test_synthetic_file_matches_opencv_conventions(make_rig, sample_points, tmp_path: Path) -> None:
    """A file written by hand in DANNCE's row-vector convention reads back as the same cameras."""
    cameras = make_rig(3, n=3, distortion=True)
    path = tmp_path / "x_dannce.mat"
    scipy.io.savemat(path, {"params": _params(cameras)})
    got = read_dannce_mat(path, image_size=(cameras[0].width, cameras[0].height))
    assert [c.name for c in got] == ["0", "1", "2"]  # no camnames
    for cam, back in zip(cameras, got, strict=True):
        np.testing.assert_allclose(back.K, cam.K, atol=1e-12)
        np.testing.assert_allclose(back.w2c, cam.w2c, atol=1e-12)
        np.testing.assert_allclose(back.dist, cam.dist, atol=1e-15)
        # MATLAB's x ~ [X 1]·[r; t]·K reproduces the same pixels.
        pts = sample_points(cam, seed=1, n=20)
        entry = _params([cam])[0, 0]
        row = np.hstack([pts, np.ones((20, 1))]) @ np.vstack([entry["r"], entry["t"]])
        pix = (row / row[:, 2:]) @ entry["K"]
        np.testing.assert_allclose(back.undistorted().project(pts), pix[:, :2], atol=1e-6)


def test_two_radial_terms_accepted(make_camera, tmp_path: Path) -> None:
    cam = make_camera(5)
    cell = _params([cam])
    cell[0, 0]["RDistort"] = np.array([[0.1, -0.02]])
    cell[0, 0]["TDistort"] = np.array([[0.001, 0.002]])
    path = tmp_path / "two.mat"
    scipy.io.savemat(path, {"params": cell})
    (got,) = read_dannce_mat(path)
    np.testing.assert_allclose(got.dist[:5], [0.1, -0.02, 0.001, 0.002, 0.0])


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda c: c.pop("K"), "no field 'K'"),
        (lambda c: c.pop("TDistort"), "no field 'TDistort'"),
        (lambda c: c.__setitem__("K", np.eye(2)), "shape"),
        (lambda c: c.__setitem__("K", np.full((3, 3), np.nan)), "NaN"),
        (lambda c: c.__setitem__("r", np.diag([1.0, 1.0, -1.0])), "rotation"),
        (lambda c: c.__setitem__("r", 2 * np.eye(3)), "rotation"),
        (lambda c: c.__setitem__("t", np.zeros((1, 4))), "shape"),
        (lambda c: c.__setitem__("RDistort", np.zeros((1, 5))), "RDistort"),
        (lambda c: c.__setitem__("K", np.array([[800.0, 0, 320], [0, 800, 240], [0, 0, 1]])),
         "MATLAB-transposed"),
    ],
)
def test_malformed_params_name_the_file(make_camera, tmp_path: Path, mutate, fragment) -> None:
    cells = _params([make_camera(1), make_camera(2)])
    mutate(cells[1, 0])
    path = tmp_path / "bad_dannce.mat"
    scipy.io.savemat(path, {"params": cells})
    with pytest.raises(CalibrationError) as info:
        read_calibration(path)
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_missing_params_and_labels(tmp_path: Path) -> None:
    path = tmp_path / "empty.mat"
    scipy.io.savemat(path, {"something": np.zeros(3)})
    with pytest.raises(CalibrationError, match="no 'params'"):
        read_dannce_mat(path)
    with pytest.raises(CalibrationError, match="no 'labelData'"):
        read_dannce_labels(path)


def test_mismatched_labels(tmp_path: Path) -> None:
    path = tmp_path / "labels.mat"
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = {"data_3d": np.zeros((4, 66)), "data_2d": np.zeros((4, 40))}
    scipy.io.savemat(path, {"labelData": cell})
    with pytest.raises(CalibrationError, match="do not match"):
        read_dannce_labels(path)


def test_not_a_mat_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mat"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(600))
    with pytest.raises(CalibrationError) as info:
        read_calibration(path)
    assert str(path) in str(info.value)
    with pytest.raises(CalibrationError, match="not found"):
        read_calibration(tmp_path / "missing.mat")


def test_writer_refuses_rational_distortion(make_camera, tmp_path: Path) -> None:
    cam = make_camera(3)
    cam = Camera(K=cam.K, w2c=cam.w2c, width=10, height=10, dist=[0, 0, 0, 0, 0, 0.1, 0, 0])
    with pytest.raises(ValueError, match="k4"):
        write_dannce_mat(tmp_path / "x.mat", [cam])
    assert list(tmp_path.iterdir()) == []
