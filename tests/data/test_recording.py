"""Tests of mouselift.data.recording on tiny synthetic recordings (see conftest.py)."""

from __future__ import annotations

import pickle
import shutil
import warnings
from dataclasses import replace

import numpy as np
import pytest

from mouselift.cameras.mammal import read_mammal_pkl
from mouselift.data.recording import (
    CALIBRATION_FILE,
    MASK_DIR,
    VIDEO_DIR,
    FrameSet,
    Recording,
    recording_summary,
)
from mouselift.errors import CalibrationError, MouseliftError, RecordingError


def _centroid(binary: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(binary)
    assert rows.size > 0, "square not found"
    return np.array([cols.mean(), rows.mean()])


def _check_frame(fs: FrameSet, geometry, width=96, height=80, images=True) -> None:
    """Every camera's mask and image show the square of frame ``fs.index``, in its colour."""
    _, square_centre, colours, background = geometry
    for k, mask in enumerate(fs.masks):
        expected = square_centre(k, fs.index, width, height)
        assert mask.dtype == np.uint8 and mask.shape == (height, width)
        np.testing.assert_allclose(_centroid(mask > 127), expected, atol=0.6)
        assert mask.max() >= 240 and mask.min() <= 15
        if images:
            image = fs.images[k]
            assert image.dtype == np.uint8 and image.shape == (height, width, 3)
            diff = np.abs(image.astype(int) - np.array(background)).sum(axis=2)
            np.testing.assert_allclose(_centroid(diff > 150), expected, atol=0.6)
            x, y = np.round(expected).astype(int)
            np.testing.assert_allclose(image[y, x], colours[k], atol=12)


def _message(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


# ----------------------------------------------------------------------------- opening
def test_open_reads_cameras_and_counts(shared_recording):
    rec = Recording.open(shared_recording)
    assert rec.root == shared_recording
    assert rec.num_frames == 20 and rec.num_cameras == 3
    assert rec.fps == pytest.approx(100.0)
    assert rec.duration == pytest.approx(0.2)
    assert rec.calibration_path == shared_recording / CALIBRATION_FILE
    raw = pickle.loads((shared_recording / CALIBRATION_FILE).read_bytes())
    for k, cam in enumerate(rec.cameras):
        assert cam.name == str(k)
        assert cam.size == (96, 80)
        assert not cam.has_distortion
        np.testing.assert_allclose(cam.K, raw[k]["K"])
        np.testing.assert_allclose(cam.R, raw[k]["R"])
        np.testing.assert_allclose(cam.t, raw[k]["T"].reshape(3))
        assert np.linalg.norm(cam.center) == pytest.approx(np.hypot(300.0, 100.0))
    assert rec.video_path(2) == shared_recording / VIDEO_DIR / "2.mp4"
    assert rec.mask_path(0) == shared_recording / MASK_DIR / "0.mp4"
    with pytest.raises(IndexError):
        rec.video_path(3)


def test_calibration_argument(make_recording, tmp_path):
    root = make_recording(tmp_path)
    moved = tmp_path / "elsewhere.pkl"
    shutil.move(root / CALIBRATION_FILE, moved)
    rec = Recording.open(root, calibration=moved)
    assert rec.calibration_path == moved and rec.num_cameras == 3


@pytest.mark.parametrize("suffix", [".toml", ".h5"])
def test_calibration_in_another_format(make_recording, tmp_path, suffix):
    from mouselift.cameras import write_calibration

    root = make_recording(tmp_path, num_frames=2)
    cameras = read_mammal_pkl(root / CALIBRATION_FILE)
    other = tmp_path / f"calibration{suffix}"
    write_calibration(other, [replace(c, width=2 * c.width, height=2 * c.height) for c in cameras])
    rec = Recording.open(root, calibration=other)
    for cam, ref in zip(rec.cameras, cameras, strict=True):
        assert cam.allclose(ref, atol=1e-6)  # sizes from the videos, not the file


def test_calibration_with_distortion_is_refused(make_recording, tmp_path):
    from mouselift.cameras import write_calibration

    root = make_recording(tmp_path, num_frames=2)
    cameras = read_mammal_pkl(root / CALIBRATION_FILE)
    cameras[1] = replace(cameras[1], dist=np.array([0.1, 0.0, 0.0, 0.0]))
    other = tmp_path / "calibration.toml"
    write_calibration(other, cameras)
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root, calibration=other)
    assert str(other) in _message(excinfo) and "distortion" in _message(excinfo)


@pytest.mark.parametrize("dict_keyed", [False, True])
@pytest.mark.parametrize("t_shape", [(3,), (3, 1), (1, 3)])
def test_pickle_variants(make_recording, tmp_path, dict_keyed, t_shape):
    root = make_recording(tmp_path, num_frames=3, dict_keyed=dict_keyed, t_shape=t_shape)
    rec = Recording.open(root)
    expected = read_mammal_pkl(root / CALIBRATION_FILE)
    assert len(rec.cameras) == 3
    for cam, ref in zip(rec.cameras, expected, strict=True):
        assert cam.allclose(ref)


def test_dict_keyed_pickle_is_in_index_order(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=3)
    entries = pickle.loads((root / CALIBRATION_FILE).read_bytes())
    # Keys inserted out of order must still give camera k = entry k.
    (root / CALIBRATION_FILE).write_bytes(
        pickle.dumps({2: entries[2], 0: entries[0], 1: entries[1]})
    )
    rec = Recording.open(root)
    for k in range(3):
        np.testing.assert_allclose(rec.cameras[k].K, entries[k]["K"])
        np.testing.assert_allclose(rec.cameras[k].R, entries[k]["R"])


def test_dict_keyed_pickle_sizes_follow_camera_index(make_recording, tmp_path):
    # Camera 2 alone is calibrated (mapx) and recorded at 48×40; out-of-order keys must not
    # hand its size to another camera.
    root = make_recording(tmp_path, num_frames=2, video_sizes={2: (48, 40)})
    entries = pickle.loads((root / CALIBRATION_FILE).read_bytes())
    entries[2]["mapx"] = entries[2]["mapy"] = np.zeros((40, 48), np.float32)
    (root / CALIBRATION_FILE).write_bytes(
        pickle.dumps({2: entries[2], 0: entries[0], 1: entries[1]})
    )
    rec = Recording.open(root)
    assert [cam.size for cam in rec.cameras] == [(96, 80), (96, 80), (48, 40)]


def test_without_mapx_cameras_take_the_video_size(make_recording, tmp_path):
    # Without mapx, read_mammal_pkl estimates the size from the principal point (odd here: the
    # offset makes 2·(c + 0.5) ≠ W); the recording replaces it with the video's.
    root = make_recording(tmp_path, num_frames=3, mapx=False, principal_offset=(5.0, -4.0))
    assert read_mammal_pkl(root / CALIBRATION_FILE)[0].size != (96, 80)
    rec = Recording.open(root)
    assert all(cam.size == (96, 80) for cam in rec.cameras)
    assert rec.cameras[0].cx == pytest.approx(47.5 + 5.0)


def test_open_error_is_a_mouselift_error(tmp_path):
    with pytest.raises(MouseliftError):
        Recording.open(tmp_path / "nothing")


# ----------------------------------------------------------------------------- open errors
def test_root_missing(tmp_path):
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(tmp_path / "missing")
    assert str(tmp_path / "missing") in _message(excinfo)
    assert "not found" in _message(excinfo)


def test_root_is_a_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x")
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(path)
    assert str(path) in _message(excinfo) and "not a directory" in _message(excinfo)


def test_calibration_missing(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2)
    (root / CALIBRATION_FILE).unlink()
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    assert str(root / CALIBRATION_FILE) in _message(excinfo)
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root, calibration=tmp_path / "other.pkl")
    assert str(tmp_path / "other.pkl") in _message(excinfo)


def test_missing_camera_video(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2)
    (root / VIDEO_DIR / "1.mp4").unlink()
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    msg = _message(excinfo)
    assert str(root / VIDEO_DIR / "1.mp4") in msg
    assert "3 camera(s)" in msg and "2 camera video(s)" in msg


def test_missing_video_folder(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2)
    shutil.rmtree(root / MASK_DIR)
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    assert str(root / MASK_DIR) in _message(excinfo)


def test_extra_videos_for_cameras_not_in_calibration(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2)
    shutil.copy(root / VIDEO_DIR / "0.mp4", root / VIDEO_DIR / "3.mp4")
    shutil.copy(root / VIDEO_DIR / "0.mp4", root / VIDEO_DIR / "4.mp4")
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    msg = _message(excinfo)
    assert str(root / CALIBRATION_FILE) in msg
    assert "3.mp4, 4.mp4" in msg
    assert "has 3 camera(s)" in msg and "5 camera video(s) found" in msg


def test_unrelated_files_in_video_folder_are_ignored(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2)
    (root / VIDEO_DIR / "notes.txt").write_text("x")
    (root / VIDEO_DIR / "preview.mp4").write_bytes(b"")
    assert Recording.open(root).num_cameras == 3


def test_mask_video_missing(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2)
    (root / MASK_DIR / "2.mp4").unlink()
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    assert str(root / MASK_DIR / "2.mp4") in _message(excinfo)


def test_mask_video_frame_count_differs(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=4, mask_frame_counts={1: 3})
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    msg = _message(excinfo)
    assert str(root / MASK_DIR / "1.mp4") in msg and "3 frames" in msg and "4" in msg


def test_mask_video_size_differs(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2, mask_sizes={0: (48, 40)})
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    msg = _message(excinfo)
    assert str(root / MASK_DIR / "0.mp4") in msg and "48×40" in msg and "96×80" in msg


def test_video_size_differs_from_mapx(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2, video_sizes={2: (48, 40)})
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    msg = _message(excinfo)
    assert str(root / VIDEO_DIR / "2.mp4") in msg and "48×40" in msg and "96×80" in msg


@pytest.mark.parametrize("size", [(48, 40), (192, 160)], ids=["half", "double"])
def test_wrong_resolution_without_mapx(make_recording, tmp_path, size):
    root = make_recording(tmp_path, num_frames=2, mapx=False, video_sizes={1: size})
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    msg = _message(excinfo)
    assert str(root / VIDEO_DIR / "1.mp4") in msg and "principal point" in msg


def test_real_rig_principal_points_reject_half_and_double_resolution():
    from mouselift.data.calibrations import builtin_calibration
    from mouselift.data.recording import PRINCIPAL_POINT_REGION

    lo, hi = PRINCIPAL_POINT_REGION
    for scale, ok in ((0.5, False), (1.0, True), (2.0, False)):
        w, h = 1152 * scale, 1024 * scale
        inside = [
            lo * w <= c.cx <= hi * w and lo * h <= c.cy <= hi * h
            for c in builtin_calibration("markerless_mouse_1")
        ]
        assert all(inside) if ok else not any(inside)


def test_frame_counts_differ_by_more_than_one(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=6, frame_counts={1: 4})
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    msg = _message(excinfo)
    assert str(root / VIDEO_DIR / "1.mp4") in msg and "4 frames" in msg and "6" in msg


def test_frame_counts_differ_by_one_truncates_with_warning(
    make_recording, tmp_path, square_geometry
):
    root = make_recording(tmp_path, num_frames=6, frame_counts={2: 5})
    with pytest.warns(UserWarning, match=r"2\.mp4"):
        rec = Recording.open(root)
    assert rec.num_frames == 5
    got = list(rec.frames())
    assert [fs.index for fs in got] == [0, 1, 2, 3, 4]
    _check_frame(got[-1], square_geometry)


def test_equal_frame_counts_do_not_warn(shared_recording):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Recording.open(shared_recording)


def test_frame_rates_differ(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2, video_fps={1: 50.0})
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    assert str(root / VIDEO_DIR / "1.mp4") in _message(excinfo)


@pytest.mark.parametrize("content", [b"", b"this is not an mp4 file" * 50], ids=["empty", "junk"])
@pytest.mark.parametrize("folder", [VIDEO_DIR, MASK_DIR])
def test_corrupt_video(make_recording, tmp_path, content, folder):
    root = make_recording(tmp_path, num_frames=2)
    (root / folder / "1.mp4").write_bytes(content)
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    assert str(root / folder / "1.mp4") in _message(excinfo)


def test_truncated_video(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2)
    path = root / VIDEO_DIR / "0.mp4"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(RecordingError) as excinfo:
        Recording.open(root)
    assert str(path) in _message(excinfo)


def _rewrite_calibration(root, edit) -> None:
    path = root / CALIBRATION_FILE
    entries = pickle.loads(path.read_bytes())
    edit(entries)
    path.write_bytes(pickle.dumps(entries))


@pytest.mark.parametrize(
    "edit",
    [
        lambda e: e[1]["K"].__setitem__((0, 0), np.nan),
        lambda e: e[0].__setitem__("R", e[0]["R"] * 2.0),
        lambda e: e[2].__setitem__("T", np.zeros(4)),
        lambda e: e[1].__setitem__("K", np.eye(4)),
        lambda e: e[0].pop("R"),
    ],
    ids=["nan", "not-rotation", "T-shape", "K-shape", "no-R"],
)
def test_calibration_problems_raise_calibration_error(make_recording, tmp_path, edit):
    root = make_recording(tmp_path, num_frames=2)
    _rewrite_calibration(root, edit)
    with pytest.raises(CalibrationError) as excinfo:
        Recording.open(root)
    assert str(root / CALIBRATION_FILE) in _message(excinfo)


def test_calibration_that_is_not_a_safe_pickle(make_recording, tmp_path):
    root = make_recording(tmp_path, num_frames=2)
    (root / CALIBRATION_FILE).write_bytes(pickle.dumps({0: shutil.copy}))
    with pytest.raises(CalibrationError) as excinfo:
        Recording.open(root)
    assert str(root / CALIBRATION_FILE) in _message(excinfo)


# ----------------------------------------------------------------------------- decoding
def test_frames_are_synchronised(shared_recording, square_geometry):
    rec = Recording.open(shared_recording)
    got = list(rec.frames())
    assert [fs.index for fs in got] == list(range(20))
    for fs in got:
        assert len(fs.images) == len(fs.masks) == 3
        _check_frame(fs, square_geometry)


@pytest.mark.parametrize("start,stop", [(7, 12), (13, None), (19, 20), (0, 3)])
def test_frames_range_with_seek(shared_recording, square_geometry, start, stop):
    rec = Recording.open(shared_recording)
    got = list(rec.frames(start, stop))
    assert [fs.index for fs in got] == list(range(start, 20 if stop is None else stop))
    for fs in got:
        _check_frame(fs, square_geometry)


def test_frames_empty_range(shared_recording):
    rec = Recording.open(shared_recording)
    assert list(rec.frames(5, 5)) == []
    assert list(rec.frames(20)) == []


def test_frames_wanted(shared_recording, square_geometry):
    rec = Recording.open(shared_recording)
    got = list(rec.frames(wanted=[15, 3, 9, 3, 42]))
    assert [fs.index for fs in got] == [3, 9, 15]
    for fs in got:
        _check_frame(fs, square_geometry)
    # wanted is intersected with [start, stop)
    assert [fs.index for fs in rec.frames(4, 12, wanted=range(0, 20, 4))] == [4, 8]
    assert list(rec.frames(10, 12, wanted={1, 2})) == []
    assert list(rec.frames(wanted=[])) == []


def test_frames_masks_only(shared_recording, square_geometry):
    rec = Recording.open(shared_recording)
    got = list(rec.frames(5, 9, images=False))
    assert [fs.index for fs in got] == [5, 6, 7, 8]
    for fs in got:
        assert fs.images is None and len(fs.masks) == 3
        _check_frame(fs, square_geometry, images=False)


def test_masks_only_does_not_open_rgb_videos(make_recording, tmp_path, square_geometry):
    root = make_recording(tmp_path, num_frames=4)
    rec = Recording.open(root)
    for k in range(3):  # make the RGB videos unreadable after validation
        rec.video_path(k).write_bytes(b"gone")
    got = list(rec.frames(images=False))
    assert [fs.index for fs in got] == [0, 1, 2, 3]
    with pytest.raises(RecordingError) as excinfo:
        next(rec.frames())
    assert str(rec.video_path(0)) in _message(excinfo)


@pytest.mark.parametrize(
    "start,stop", [(-1, None), (0, 21), (21, None), (5, 4), (1.5, None), ("0", None)]
)
def test_frames_bad_range(shared_recording, start, stop):
    rec = Recording.open(shared_recording)
    with pytest.raises(RecordingError) as excinfo:
        rec.frames(start, stop)  # raised on the call, before iterating
    assert str(shared_recording) in _message(excinfo)


def test_frames_closes_readers_when_stopped_early(shared_recording, monkeypatch):
    from mouselift.data import recording as recording_module

    opened, closed = [], []
    original = recording_module.VideoReader

    class Tracking(original):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            opened.append(self)

        def close(self):
            closed.append(self)
            super().close()

    monkeypatch.setattr(recording_module, "VideoReader", Tracking)
    rec = Recording.open(shared_recording)
    iterator = rec.frames(2)
    first = next(iterator)
    assert first.index == 2
    assert len(opened) == 6 and not closed
    iterator.close()
    assert sorted(map(id, closed)) == sorted(map(id, opened))

    opened.clear()
    closed.clear()
    for _ in rec.frames(images=False):
        break
    assert len(opened) == 3 and len(closed) == 3  # the abandoned generator is finalised


def test_frames_detects_a_video_shorter_than_probed(make_recording, tmp_path, monkeypatch):
    root = make_recording(tmp_path, num_frames=4)
    rec = Recording.open(root)
    # Replace one mask video by a shorter one behind the validated recording's back.
    short = make_recording(tmp_path / "short", num_frames=2)
    shutil.copy(short / MASK_DIR / "1.mp4", rec.mask_path(1))
    with pytest.raises(RecordingError) as excinfo:
        list(rec.frames())
    msg = _message(excinfo)
    assert str(rec.mask_path(1)) in msg and "ended before frame 2" in msg


def test_recording_summary(shared_recording):
    text = recording_summary(Recording.open(shared_recording))
    lines = text.splitlines()
    assert str(shared_recording) in lines[0]
    assert sum("96×80" in line for line in lines) == 3
    assert f"{np.hypot(300.0, 100.0):.1f}" in text
    assert "20" in lines[-1] and "100 fps" in lines[-1] and "0.20 s" in lines[-1]
