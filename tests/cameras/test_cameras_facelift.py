"""FaceLift ``opencv_cameras.json``: layout, the +0.5 pixel convention, skew, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mouselift.cameras import (
    Camera,
    intrinsics_from_fov,
    look_at,
    pixel_rays,
    read_calibration,
    read_opencv_cameras,
    write_opencv_cameras,
)
from mouselift.cameras.facelift import read_sample_id
from mouselift.errors import CalibrationError


def test_layout_and_pixel_shift(make_rig, tmp_path: Path) -> None:
    cameras = make_rig(7, n=6)
    path = tmp_path / "sample_000001" / "opencv_cameras.json"
    write_opencv_cameras(path, cameras, sample_id="sample_000001")
    raw = json.loads(path.read_text())
    assert raw["id"] == "sample_000001" == read_sample_id(path)
    assert len(raw["frames"]) == 6
    for i, (cam, frame) in enumerate(zip(cameras, raw["frames"], strict=True)):
        assert set(frame) == {"w", "h", "fx", "fy", "cx", "cy", "w2c", "file_path", "skew"}
        assert frame["file_path"] == f"images/cam_{i:03d}.png"
        assert (frame["w"], frame["h"]) == (cam.width, cam.height)
        assert isinstance(frame["w"], int) and isinstance(frame["h"], int)
        assert frame["fx"] == cam.fx and frame["fy"] == cam.fy
        assert frame["cx"] == pytest.approx(cam.cx + 0.5, abs=1e-12)
        assert frame["cy"] == pytest.approx(cam.cy + 0.5, abs=1e-12)
        assert frame["skew"] == cam.skew
        np.testing.assert_array_equal(np.array(frame["w2c"]), cam.w2c)
    back = read_calibration(path)
    assert [c.name for c in back] == [f"cam_{i:03d}" for i in range(6)]
    for cam, got in zip(cameras, back, strict=True):
        assert got.allclose(cam)
        assert got.cx == pytest.approx(cam.cx, abs=1e-12)


def test_centred_camera_is_stored_at_half_size(tmp_path: Path) -> None:
    """FaceLift's 512² 50° camera: our cx = 255.5, the file's 256 (no skew key)."""
    k = intrinsics_from_fov(50.0, 512, 512)
    cam = Camera(K=k, w2c=look_at([2.7, 0, 0], [0, 0, 0]), width=512, height=512)
    path = tmp_path / "opencv_cameras.json"
    write_opencv_cameras(path, [cam], sample_id="s", file_paths=["images/front.png"])
    (frame,) = json.loads(path.read_text())["frames"]
    assert (frame["cx"], frame["cy"]) == (256.0, 256.0)
    assert frame["fx"] == pytest.approx(256 / np.tan(np.radians(25)))
    assert "skew" not in frame
    (back,) = read_opencv_cameras(path)
    assert back.name == "front" and back.skew == 0.0 and back.cx == 255.5


def test_facelift_rays_through_shifted_centres_match_ours(make_camera, tmp_path: Path) -> None:
    """FaceLift's ray of pixel (x, y) goes through (x + 0.5, y + 0.5) with the JSON intrinsics;
    it must equal our ray through (x, y) with our intrinsics."""
    cam = make_camera(11, skew=False)
    cam = cam.resize(24, 18)
    path = tmp_path / "opencv_cameras.json"
    write_opencv_cameras(path, [cam], sample_id="s")
    frame = json.loads(path.read_text())["frames"][0]
    y, x = np.mgrid[0:18, 0:24].astype(np.float64)
    d_cam = np.stack(
        [(x + 0.5 - frame["cx"]) / frame["fx"], (y + 0.5 - frame["cy"]) / frame["fy"],
         np.ones_like(x)], -1
    )
    c2w = np.linalg.inv(np.array(frame["w2c"]))
    d = d_cam @ c2w[:3, :3].T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    _, ours = pixel_rays(torch.tensor(cam.K), torch.tensor(cam.c2w), 18, 24)
    np.testing.assert_allclose(ours.numpy(), d, atol=1e-10)


def test_custom_file_paths_and_no_partial_files(make_rig, tmp_path: Path) -> None:
    cameras = make_rig(8, n=2)
    path = tmp_path / "opencv_cameras.json"
    write_opencv_cameras(path, cameras, sample_id="x", file_paths=["a/left.png", "b/right.png"])
    assert [c.name for c in read_opencv_cameras(path)] == ["left", "right"]
    assert [p.name for p in tmp_path.iterdir()] == ["opencv_cameras.json"]
    with pytest.raises(ValueError, match="file paths"):
        write_opencv_cameras(path, cameras, sample_id="x", file_paths=["one.png"])


def test_distortion_refused_and_nothing_written(make_camera, tmp_path: Path) -> None:
    cam = make_camera(2, distortion=True)
    path = tmp_path / "opencv_cameras.json"
    with pytest.raises(ValueError, match="distortion"):
        write_opencv_cameras(path, [cam], sample_id="x")
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_overwrite_replaces_atomically(make_rig, tmp_path: Path) -> None:
    path = tmp_path / "opencv_cameras.json"
    write_opencv_cameras(path, make_rig(1, n=3), sample_id="old")
    write_opencv_cameras(path, make_rig(2, n=2), sample_id="new")
    assert read_sample_id(path) == "new" and len(read_opencv_cameras(path)) == 2
    assert len(list(tmp_path.iterdir())) == 1


def _frame(**overrides):
    frame = {
        "w": 64, "h": 48, "fx": 70.0, "fy": 71.0, "cx": 32.0, "cy": 24.0,
        "w2c": np.eye(4).tolist(), "file_path": "images/cam_000.png",
    }
    frame.update(overrides)
    return frame


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"id": "x"}, "'frames'"),
        ({"frames": []}, "non-empty"),
        ([1, 2], "'frames'"),
        ({"frames": [{k: v for k, v in _frame().items() if k != "fx"}]}, "no 'fx'"),
        ({"frames": [_frame(w2c=np.eye(3).tolist())]}, "shape"),
        ({"frames": [_frame(w2c=np.diag([1.0, 1, -1, 1]).tolist())]}, "rotation"),
        ({"frames": [_frame(w=64.5)]}, "positive integer"),
        ({"frames": [_frame(h=0)]}, "positive integer"),
        ({"frames": [_frame(fx="70")]}, "number"),
        ({"frames": [_frame(fx=float("nan"))]}, "not finite"),
        ({"frames": [_frame(fy=-3.0)]}, "focal"),
        ({"frames": [_frame(), 7]}, "frames[1]"),
    ],
)
def test_malformed_json_names_the_file(tmp_path: Path, doc, fragment) -> None:
    path = tmp_path / "opencv_cameras.json"
    path.write_text(json.dumps(doc))  # json.dumps writes NaN as a bare literal, as some tools do
    with pytest.raises(CalibrationError) as info:
        read_calibration(path)
    message = str(info.value)
    assert message.startswith(str(path)) and fragment in message and "\n" not in message


def test_invalid_json_text(tmp_path: Path) -> None:
    path = tmp_path / "opencv_cameras.json"
    path.write_text('{"frames": [\n{"w": 3,\n')
    with pytest.raises(CalibrationError, match="not valid JSON") as info:
        read_opencv_cameras(path)
    assert "\n" not in str(info.value)
