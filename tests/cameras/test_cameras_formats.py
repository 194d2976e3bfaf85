"""Calibration formats: round trips, dispatch, MAMMAL pickle variants, malformed files."""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st

from mouselift.cameras import (
    CALIBRATION_FORMATS,
    Camera,
    calibration_format,
    matrix_to_rodrigues,
    read_anipose_toml,
    read_calibration,
    read_pose_splatter_h5,
    supported_formats,
    write_anipose_toml,
    write_calibration,
    write_mammal_pkl,
    write_pose_splatter_h5,
)
from mouselift.errors import CalibrationError

ALL_EXTENSIONS = [ext for fmt in CALIBRATION_FORMATS for ext in fmt.extensions]
DISTORTION_EXTENSIONS = [".mat", ".toml", ".h5"]


def _same(a: list[Camera], b: list[Camera]) -> bool:
    return len(a) == len(b) and all(x.allclose(y) for x, y in zip(a, b, strict=True))


# ----------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("ext", ALL_EXTENSIONS)
@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 7),
    width=st.integers(1, 64),
    height=st.integers(1, 64),
)
def test_roundtrip_every_format(make_rig, ext: str, seed: int, n: int, width, height) -> None:
    """write → read gives the same cameras within 1e-9 (distortion where the format has it)."""
    distorted = ext in DISTORTION_EXTENSIONS
    cameras = [c.resize(width, height) for c in make_rig(seed, n=n, distortion=distorted)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"calib{ext}"
        write_calibration(path, cameras)
        # .mat stores no size (given here), .pkl stores it through mapx, the others directly
        back = read_calibration(path, image_size=(width, height) if ext == ".mat" else None)
        assert [p.name for p in Path(tmp).iterdir()] == [path.name]  # no temporary files left
    assert _same(cameras, back)


def test_roundtrip_rational_distortion(make_camera, tmp_path: Path) -> None:
    cam = make_camera(4)
    cam = Camera(K=cam.K, w2c=cam.w2c, width=cam.width, height=cam.height,
                 dist=[0.1, -0.05, 0.001, -0.002, 0.01, 0.02, -0.01, 0.005])
    for ext in (".toml", ".h5"):
        write_calibration(tmp_path / f"c{ext}", [cam])
        assert _same([cam], read_calibration(tmp_path / f"c{ext}"))


def test_anipose_file_layout(make_rig, tmp_path: Path) -> None:
    tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
    cameras = make_rig(5, n=2, distortion=True)
    path = tmp_path / "calibration.toml"
    write_anipose_toml(path, cameras)
    doc = tomllib.loads(path.read_text())
    assert list(doc) == ["cam_0", "cam_1", "metadata"]
    entry = doc["cam_1"]
    assert entry["name"] == "1" and entry["size"] == [cameras[1].width, cameras[1].height]
    assert len(entry["distortions"]) == 5
    np.testing.assert_allclose(entry["rotation"], matrix_to_rodrigues(cameras[1].R), atol=0)
    np.testing.assert_allclose(entry["matrix"], cameras[1].K, atol=0)


def test_anipose_handwritten_file(tmp_path: Path) -> None:
    """A file as aniposelib writes it (Rodrigues rotation, 'distortions', metadata table)."""
    path = tmp_path / "calibration.toml"
    path.write_text(
        "[cam_0]\n"
        'name = "A"\n'
        "size = [ 640, 480,]\n"
        "matrix = [ [ 800.0, 0.0, 320.0,], [ 0.0, 810.0, 240.0,], [ 0.0, 0.0, 1.0,],]\n"
        "distortions = [ -0.1, 0.01, 0.0, 0.0, 0.0,]\n"
        f"rotation = [ 0.0, 0.0, {np.pi / 2!r},]\n"
        "translation = [ 1.0, 2.0, 3.0,]\n\n"
        "[cam_1]\n"
        'name = "B"\n'
        "size = [ 640, 480,]\n"
        "matrix = [ [ 800.0, 0.0, 320.0,], [ 0.0, 810.0, 240.0,], [ 0.0, 0.0, 1.0,],]\n"
        "distortion = [ 0.0, 0.0, 0.0, 0.0,]\n"
        "rotation = [ 0.0, 0.0, 0.0,]\n"
        "translation = [ 0.0, 0.0, 0.0,]\n\n"
        "[metadata]\nadjusted = false\nerror = 0.4\n"
    )
    a, b = read_calibration(path)
    assert (a.name, b.name) == ("A", "B") and a.size == (640, 480)
    np.testing.assert_allclose(a.R, [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-15)
    np.testing.assert_allclose(a.t, [1, 2, 3])
    np.testing.assert_allclose(a.dist[:2], [-0.1, 0.01])
    assert not b.has_distortion


def test_anipose_fisheye_and_missing_size(tmp_path: Path) -> None:
    body = ("matrix = [[800.0, 0.0, 320.0], [0.0, 800.0, 240.0], [0.0, 0.0, 1.0]]\n"
            "rotation = [0.0, 0.0, 0.0]\ntranslation = [0.0, 0.0, 0.0]\n")
    fisheye = tmp_path / "fisheye.toml"
    fisheye.write_text("[cam_0]\nfisheye = true\nsize = [640, 480]\n" + body)
    with pytest.raises(CalibrationError, match="fisheye"):
        read_calibration(fisheye)
    nosize = tmp_path / "nosize.toml"
    nosize.write_text("[cam_0]\n" + body)
    with pytest.raises(CalibrationError, match="no 'size'"):
        read_anipose_toml(nosize)
    assert read_anipose_toml(nosize, image_size=(640, 480))[0].size == (640, 480)
    only_meta = tmp_path / "meta.toml"
    only_meta.write_text("[metadata]\nadjusted = false\n")
    with pytest.raises(CalibrationError, match="no camera tables"):
        read_calibration(only_meta)


def test_pose_splatter_layout_and_variants(make_rig, tmp_path: Path) -> None:
    cameras = make_rig(6, n=3)
    path = tmp_path / "camera_params.h5"
    write_pose_splatter_h5(path, cameras)
    with h5py.File(path, "r") as f:
        g = f["camera_parameters"]
        assert g["intrinsic"].shape == (3, 3, 3) and g["translation"].shape == (3, 3)
        assert "distortion" not in g  # only written when some camera is distorted
    # Pose Splatter's own files: datasets only, no size; root-level datasets; (C, 3, 1) t.
    bare = tmp_path / "camera_params_bare.h5"
    with h5py.File(bare, "w") as f:
        f["intrinsic"] = np.stack([c.K for c in cameras])
        f["rotation"] = np.stack([c.R for c in cameras])
        f["translation"] = np.stack([c.t for c in cameras])[..., None]
    got = read_pose_splatter_h5(bare, image_size=cameras[0].size)
    assert all(np.allclose(a.w2c, b.w2c, atol=1e-12) for a, b in zip(cameras, got, strict=True))
    assert all(c.size == cameras[0].size for c in got)
    estimated = read_pose_splatter_h5(bare)  # size guessed from the principal point
    for cam, est in zip(cameras, estimated, strict=True):
        assert abs(est.width - 2 * (cam.cx + 0.5)) <= 2
        assert abs(est.height - 2 * (cam.cy + 0.5)) <= 2
    with h5py.File(bare, "a") as f:
        f.attrs["width"], f.attrs["height"] = 320, 200
    assert all(c.size == (320, 200) for c in read_pose_splatter_h5(bare))


# ----------------------------------------------------------------------------- MAMMAL pickles
def _mammal_entries(cameras: list[Camera], t_shape: tuple[int, ...]) -> list[dict]:
    return [{"K": c.K, "R": c.R, "T": c.t.reshape(t_shape),
             "mapx": np.zeros((c.height, c.width), np.float32),
             "mapy": np.zeros((c.height, c.width), np.float32)} for c in cameras]


@pytest.mark.parametrize("t_shape", [(3,), (3, 1), (1, 3)])
@pytest.mark.parametrize("container", ["list", "dict_int", "dict_str", "tuple"])
def test_mammal_pickle_variants(make_rig, tmp_path: Path, t_shape, container) -> None:
    cameras = make_rig(9, n=3)
    cameras = [Camera(K=c.K, w2c=c.w2c, width=40, height=30, name=c.name) for c in cameras]
    entries = _mammal_entries(cameras, t_shape)
    data = {
        "list": entries,
        "dict_int": {i: e for i, e in reversed(list(enumerate(entries)))},
        "dict_str": {str(i): e for i, e in enumerate(entries)},
        "tuple": tuple(entries),
    }[container]
    path = tmp_path / "new_cam.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    back = read_calibration(path)
    assert _same(cameras, back)
    assert [c.name for c in back] == ["0", "1", "2"]


def test_mammal_writer_roundtrip_without_maps(make_rig, tmp_path: Path) -> None:
    cameras = make_rig(10, n=2)
    path = tmp_path / "new_cam.pkl"
    write_mammal_pkl(path, cameras, undistortion_maps=False)
    assert not _same(cameras, read_calibration(path))  # size is unknown without maps ...
    sized = read_calibration(path, image_size=cameras[0].size)
    assert all(np.allclose(a.K, b.K) and np.allclose(a.w2c, b.w2c)
               for a, b in zip(cameras, sized, strict=True))


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("nested", [False, True])
def test_malicious_pickle_is_refused_and_never_runs(make_camera, tmp_path: Path, nested) -> None:
    marker = tmp_path / "pwned"
    payload = _Payload(marker)
    cam = make_camera(1)
    data = [{"K": cam.K, "R": cam.R, "T": cam.t, "note": payload}] if nested else payload
    path = tmp_path / "new_cam.pkl"
    path.write_bytes(pickle.dumps(data))
    assert b"system" in path.read_bytes()
    with pytest.raises(CalibrationError) as info:
        read_calibration(path)
    assert str(path) in str(info.value) and "refusing" in str(info.value)
    assert not marker.exists()


def test_truncated_pickle(make_rig, tmp_path: Path) -> None:
    path = tmp_path / "new_cam.pkl"
    write_mammal_pkl(path, make_rig(1, n=2))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CalibrationError, match=r"new_cam\.pkl"):
        read_calibration(path)


# ----------------------------------------------------------------------------- malformed files
def _raw_write(ext: str, path: Path, ks, rs, ts, size=(64, 48)) -> None:
    """Write raw arrays in a format, bypassing Camera validation."""
    n = len(ks)
    if ext in (".pkl", ".pickle"):
        entries = [{"K": k, "R": r, "T": t} for k, r, t in zip(ks, rs, ts, strict=True)]
        path.write_bytes(pickle.dumps(entries))
    elif ext == ".mat":
        cells = np.empty((n, 1), dtype=object)
        for i in range(n):
            cells[i, 0] = {"K": np.asarray(ks[i]).T, "RDistort": np.zeros((1, 2)),
                           "TDistort": np.zeros((1, 2)), "r": np.asarray(rs[i]).T,
                           "t": np.asarray(ts[i])}
        scipy.io.savemat(path, {"params": cells})
    elif ext == ".json":
        import json

        frames = []
        for k, r, t in zip(ks, rs, ts, strict=True):
            w2c = np.eye(4)
            w2c[:3, :3], w2c[:3, 3] = r, np.asarray(t).reshape(3)
            k = np.asarray(k, dtype=float)
            frames.append({"w": size[0], "h": size[1], "fx": k[0, 0], "fy": k[1, 1],
                           "cx": k[0, 2] + 0.5, "cy": k[1, 2] + 0.5, "w2c": w2c.tolist()})
        path.write_text(json.dumps({"id": "x", "frames": frames}))
    elif ext == ".toml":
        def fmt(a):
            return repr(np.asarray(a, dtype=float).tolist())  # TOML spells NaN "nan" too

        lines = []
        for i, (k, r, t) in enumerate(zip(ks, rs, ts, strict=True)):
            r = np.asarray(r, dtype=float)
            # A Rodrigues vector is always a rotation; the best a file can do is hold NaN.
            rvec = np.zeros(3) if np.allclose(r, np.eye(3)) else [np.nan, 0.0, 0.0]
            lines += [f"[cam_{i}]", f"size = {list(size)}", f"matrix = {fmt(k)}",
                      f"rotation = {fmt(rvec)}", f"translation = {fmt(np.ravel(t))}", ""]
        path.write_text("\n".join(lines))
    else:
        with h5py.File(path, "w") as f:
            g = f.create_group("camera_parameters")
            g["intrinsic"] = np.asarray(ks, dtype=float)
            g["rotation"] = np.asarray(rs, dtype=float)
            g["translation"] = np.asarray(ts, dtype=float)


_K = np.array([[70.0, 0.0, 31.5], [0.0, 70.0, 23.5], [0.0, 0.0, 1.0]])
_R = np.eye(3)
_T = np.array([0.0, 0.0, 5.0])


def test_raw_writer_baseline(tmp_path: Path) -> None:
    """The raw writer itself produces valid files, so the failures below are the mutations."""
    for ext in ALL_EXTENSIONS:
        path = tmp_path / f"ok{ext}"
        _raw_write(ext, path, [_K, _K], [_R, _R], [_T, _T])
        cams = read_calibration(path, image_size=(64, 48))
        assert len(cams) == 2 and np.allclose(cams[0].K, _K) and np.allclose(cams[1].t, _T)


@pytest.mark.parametrize("ext", ALL_EXTENSIONS)
def test_nan_intrinsics(tmp_path: Path, ext: str) -> None:
    k_nan = _K.copy()
    k_nan[0, 0] = np.nan
    path = tmp_path / f"nan_k{ext}"
    _raw_write(ext, path, [_K, k_nan], [_R, _R], [_T, _T])
    with pytest.raises(CalibrationError) as info:
        read_calibration(path, image_size=(64, 48))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("ext", ALL_EXTENSIONS)
@pytest.mark.parametrize("bad_r", ["reflection", "scaled"])
def test_non_rotation(tmp_path: Path, ext: str, bad_r: str) -> None:
    r = np.diag([1.0, 1.0, -1.0]) if bad_r == "reflection" else 1.5 * np.eye(3)
    path = tmp_path / f"bad_r{ext}"
    _raw_write(ext, path, [_K, _K], [_R, r], [_T, _T])
    with pytest.raises(CalibrationError) as info:
        read_calibration(path, image_size=(64, 48))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("t_shape", [(3,), (3, 1), (1, 3)])
def test_pickle_t_shapes_and_bad_shape(tmp_path: Path, t_shape) -> None:
    path = tmp_path / "new_cam.pkl"
    _raw_write(".pkl", path, [_K], [_R], [_T.reshape(t_shape)])
    np.testing.assert_allclose(read_calibration(path, image_size=(64, 48))[0].t, _T)
    _raw_write(".pkl", path, [_K], [_R], [np.zeros(4)])
    with pytest.raises(CalibrationError, match=r"'T' has shape \(4,\)"):
        read_calibration(path)


@pytest.mark.parametrize(
    ("ext", "writer", "fragment"),
    [
        (".pkl", lambda p: p.write_bytes(pickle.dumps({0: {}, 1: {}, 3: {}})), "0..2"),
        (".pkl", lambda p: p.write_bytes(pickle.dumps([])), "non-empty"),
        (".pkl", lambda p: p.write_bytes(pickle.dumps({"a": {}})), "keyed by camera index"),
        (".pkl", lambda p: p.write_bytes(pickle.dumps([{"K": _K, "R": _R}])), "'T'"),
        (".json", lambda p: p.write_text('{"id": 1, "frames": []}'), "non-empty"),
        (".toml", lambda p: p.write_text("[metadata]\n"), "no camera"),
        (".toml", lambda p: p.write_text("[cam_0]\nmatrix = [[1.0]]\n"), "no 'rotation'"),
        (".toml", lambda p: p.write_text("not toml ["), "not valid TOML"),
        (".h5", lambda p: h5py.File(p, "w").close(), "Pose Splatter"),
        (".h5", lambda p: p.write_bytes(b"plain text"), "HDF5"),
    ],
)
def test_wrong_count_or_missing_parts(tmp_path: Path, ext, writer, fragment) -> None:
    path = tmp_path / f"broken{ext}"
    writer(path)
    with pytest.raises(CalibrationError) as info:
        read_calibration(path, image_size=(64, 48))
    message = str(info.value)
    assert str(path) in message and fragment in message and "\n" not in message


def test_h5_count_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "camera_params.h5"
    _raw_write(".h5", path, [_K, _K, _K], [_R, _R], [_T, _T, _T])
    with pytest.raises(CalibrationError, match=r"'rotation' has shape \(2, 3, 3\), expected \(3,"):
        read_calibration(path)
    with h5py.File(path, "a") as f:
        del f["camera_parameters/rotation"]
        f["camera_parameters/rotation"] = np.stack([_R] * 3)
        f["camera_parameters/image_size"] = np.array([[64, 48], [64, 48]])
    with pytest.raises(CalibrationError, match="image_size"):
        read_calibration(path)


def test_registry_lists_each_extension_once() -> None:
    assert len(ALL_EXTENSIONS) == len(set(ALL_EXTENSIONS))
    assert all(ext.startswith(".") and ext == ext.lower() for ext in ALL_EXTENSIONS)
    assert {".pkl", ".pickle", ".mat", ".json", ".toml", ".h5", ".hdf5"} == set(ALL_EXTENSIONS)
    assert calibration_format("a/NEW_CAM.PICKLE").name == "MAMMAL new_cam.pkl"
    assert all(fmt.describe() in supported_formats() for fmt in CALIBRATION_FORMATS)


def test_dispatch_errors(tmp_path: Path) -> None:
    path = tmp_path / "calib.yaml"
    path.write_text("K: 1")
    with pytest.raises(CalibrationError) as info:
        read_calibration(path)
    message = str(info.value)
    assert str(path) in message and ".pkl" in message and ".toml" in message
    assert supported_formats() in message
    with pytest.raises(CalibrationError, match="not found"):
        read_calibration(tmp_path / "absent.toml")
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(CalibrationError, match="is a directory"):
        read_calibration(tmp_path / "folder.json")
    with pytest.raises(CalibrationError, match="unknown calibration format"):
        write_calibration(tmp_path / "x.txt", [])
