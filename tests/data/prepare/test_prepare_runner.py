"""``prepare_dataset`` end to end on a tiny, geometrically exact recording.

The recording (built here, in MAMMAL's layout) shows a ball of radius 30 mm moving over the arena,
seen by the real rig scaled to 144×128; its masks are exact silhouettes, so triangulation works
and the ground truth is known. Frame ``EMPTY_FRAME`` has empty masks (must be skipped).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mouselift.cameras.facelift import read_opencv_cameras
from mouselift.data.calibrations import builtin_calibration
from mouselift.data.prepare import PrepareConfig, prepare_dataset
from mouselift.data.prepare import samples as samples_module
from mouselift.data.video import VideoWriter
from mouselift.errors import ConfigError, MouseliftError

NUM_FRAMES = 24
EMPTY_FRAME = 5
BALL_RADIUS = 30.0
SIZE = 48


def ball_centre(i: int) -> np.ndarray:
    t = i / NUM_FRAMES * 2 * np.pi
    return np.array([55.0 + 45.0 * np.cos(t), 60.0 + 35.0 * np.sin(t), 35.0])


def build_ball_recording(root: Path) -> Path:
    cams = [c.resize(144, 128) for c in builtin_calibration()]
    rays = [c.ray_directions(c.pixel_centers().reshape(-1, 2)) for c in cams]
    checker = ((np.indices((128, 144)).sum(axis=0) // 8) % 2 * 40 + 60).astype(np.uint8)
    for k, cam in enumerate(cams):
        size = {"fps": 100, "width": 144, "height": 128}
        video = VideoWriter(root / "videos_undist" / f"{k}.mp4", **size)
        masks = VideoWriter(root / "simpleclick_undist" / f"{k}.mp4", **size)
        with video, masks:
            for i in range(NUM_FRAMES):
                rel = ball_centre(i) - cam.center
                along = rays[k] @ rel
                dist2 = rel @ rel - along**2
                hit = ((dist2 < BALL_RADIUS**2) & (along > 0)).reshape(128, 144)
                if i == EMPTY_FRAME:
                    hit[:] = False
                image = np.repeat(checker[..., None], 3, axis=2)
                image[hit] = (200, 150, 90)
                video.write(image)
                masks.write(np.where(hit, 255, 0).astype(np.uint8))
    entries = [{"K": c.K.copy(), "R": c.R.copy(), "T": c.t.copy()} for c in cams]
    with open(root / "new_cam.pkl", "wb") as f:
        pickle.dump(entries, f)
    return root


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    return build_ball_recording(tmp_path_factory.mktemp("ball") / "rec")


def config(**overrides) -> PrepareConfig:
    base = {"image_size": SIZE, "workers": 1, "radius_mm": 50.0}
    return PrepareConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def full_run(recording, tmp_path_factory):
    out = tmp_path_factory.mktemp("full") / "out"
    summary = prepare_dataset(recording, out, config(), progress=False)
    return out, summary


def sample_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if p.name.startswith("sample_"))


# ------------------------------------------------------------------------------ outputs
def test_full_run_layout_and_summary(full_run):
    out, summary = full_run
    # 24 frames → blocks of 2, val block 6 (frames 12, 13), gap 1 (frames 11, 14), frame 5 empty.
    assert summary.written == 21 and summary.skipped_now == {"too_few_views": 1}
    d = summary.dataset
    assert (d.samples, d.train, d.val, d.pending) == (21, 19, 2, 0)
    assert d.skipped == {"split_gap": 2, "too_few_views": 1}
    assert (out / "skipped" / f"frame_{EMPTY_FRAME:06d}.json").is_file()
    dirs = sample_dirs(out)
    assert [p.name for p in dirs][:5] == [f"sample_{i:06d}" for i in (0, 1, 2, 3, 4)]
    assert (out / "val.txt").read_text() == "sample_000012\nsample_000013\n"
    train = (out / "train.txt").read_text().split()
    assert len(train) == 19 and "sample_000011" not in train and "sample_000005" not in train
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in manifest] == sorted(int(p.name[7:]) for p in dirs)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["written"] == 21 and on_disk["dataset"]["samples"] == 21
    assert "21 samples (19 train, 2 val)" in summary.format()
    cfg_text = (out / "prepare_config.yaml").read_text()
    assert "radius_mm: 50.0" in cfg_text and "image_size: 48" in cfg_text


def test_samples_are_exact(full_run):
    out, _ = full_run
    for record in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()):
        folder = out / record["sample"]
        assert json.loads((folder / "sample.json").read_text()) == record
        cams = read_opencv_cameras(folder / "opencv_cameras.json")
        doc = json.loads((folder / "opencv_cameras.json").read_text())
        assert doc["id"] == record["sample"] and len(cams) == 6
        paths = [f["file_path"] for f in doc["frames"]]
        assert paths == [f"images/cam_{k:03d}.png" for k in range(6)]
        sim = record["similarity"]
        scale, shift = sim["scale"], np.array(sim["translation"])
        centre = np.array(record["centre_mm"])
        truth = ball_centre(record["frame"])
        assert np.linalg.norm(centre - truth) < 1.5  # silhouette-centroid triangulation
        assert np.allclose(scale * centre + shift, 0, atol=1e-3)  # centre_mm is rounded to 1e-4
        assert np.mean([np.linalg.norm(c.center) for c in cams]) == pytest.approx(2.7, abs=1e-9)
        for k, cam in enumerate(cams):
            assert cam.size == (SIZE, SIZE)
            image = Image.open(folder / f"images/cam_{k:03d}.png")
            assert image.mode == "RGBA" and image.size == (SIZE, SIZE)
            # The triangulated centre lands on the crop centre; the true centre within 1 px.
            uv = cam.project((scale * centre + shift)[None])[0]
            np.testing.assert_allclose(uv, [(SIZE - 1) / 2] * 2, atol=0.01)
            uv_true = cam.project((scale * truth + shift)[None])[0]
            assert np.linalg.norm(uv_true - (SIZE - 1) / 2) < 1.0
            alpha = np.asarray(image)[..., 3]
            view = record["views"][k]
            assert view["mask_coverage"] == pytest.approx(np.mean(alpha > 127), abs=1e-5)
            assert 0.1 < view["mask_coverage"] < 0.6
            assert not view["touches_border"] and view["triangulation_inlier"]
            assert set(view) >= {"box", "reprojection_error_px", "clipped", "flags"}


def test_second_run_writes_nothing_and_deleted_sample_is_rewritten(recording, tmp_path):
    out = tmp_path / "out"
    first = prepare_dataset(recording, out, config(frames="0:8", val_fraction=0.0), progress=False)
    assert first.written == 7 and first.skipped_now == {"too_few_views": 1}
    manifest = (out / "manifest.jsonl").read_text()
    again = prepare_dataset(recording, out, config(frames="0:8", val_fraction=0.0), progress=False)
    assert again.written == 0 and again.skipped_now == {} and again.already_done == 8
    shutil.rmtree(out / "sample_000003")
    stale = out / ".tmp_sample_000003_999_deadbeef"
    (stale / "images").mkdir(parents=True)
    mtime = (out / "sample_000002" / "sample.json").stat().st_mtime_ns
    cfg = config(frames="0:8", val_fraction=0.0, workers=3)
    third = prepare_dataset(recording, out, cfg, progress=False)
    assert third.written == 1 and third.already_done == 7
    assert not stale.exists()
    assert (out / "sample_000002" / "sample.json").stat().st_mtime_ns == mtime
    assert (out / "manifest.jsonl").read_text() == manifest


def test_shards_equal_full_run(recording, full_run, tmp_path):
    full_out, _ = full_run
    out = tmp_path / "out"
    first = prepare_dataset(recording, out, config(), shard="0/2", progress=False)
    assert first.dataset.pending > 0 and first.dataset.samples < 21
    assert "not done yet" in first.format()
    second = prepare_dataset(recording, out, config(), shard=(1, 2), progress=False)
    assert second.dataset.pending == 0
    assert first.written + second.written == 21
    for name in ("manifest.jsonl", "train.txt", "val.txt"):
        assert (out / name).read_text() == (full_out / name).read_text()


def test_parallel_workers_give_the_same_dataset(recording, full_run, tmp_path):
    full_out, _ = full_run
    out = tmp_path / "out"
    summary = prepare_dataset(recording, out, config(workers=2), progress=True)
    assert summary.written == 21
    assert (out / "manifest.jsonl").read_text() == (full_out / "manifest.jsonl").read_text()
    png = "sample_000017/images/cam_004.png"
    assert (out / png).read_bytes() == (full_out / png).read_bytes()


def _crash_after_two_images(recording: str, out: str) -> None:
    """Child process: write two PNGs of the first sample, then die without cleanup."""
    calls = {"n": 0}
    original = samples_module.save_png

    def save_then_die(*args, **kwargs):
        if calls["n"] == 2:
            os._exit(3)
        calls["n"] += 1
        original(*args, **kwargs)

    samples_module.save_png = save_then_die
    cfg = config(frames="0:4", val_fraction=0.0, threads=1)  # deterministic order of writes
    prepare_dataset(recording, out, cfg, progress=False)


def test_crash_mid_sample_leaves_no_incomplete_sample(recording, tmp_path):
    out = tmp_path / "out"
    child = mp.get_context("fork").Process(target=_crash_after_two_images, args=(recording, out))
    child.start()
    child.join(60)
    assert child.exitcode == 3
    assert not list(out.glob("sample_*"))
    temps = list(out.glob(".tmp_sample_000000_*"))
    assert len(temps) == 1 and len(list((temps[0] / "images").iterdir())) == 2
    cfg = config(frames="0:4", val_fraction=0.0)
    summary = prepare_dataset(recording, out, cfg, progress=False)
    assert summary.written == 4 and not list(out.glob(".tmp_sample_*"))
    for folder in sample_dirs(out):
        assert len(list((folder / "images").glob("cam_*.png"))) == 6
        assert (folder / "opencv_cameras.json").is_file() and (folder / "sample.json").is_file()


# ------------------------------------------------------------------------------ bad input
def _one_line_error(exc_info, *words):
    message = str(exc_info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_bad_shard_is_a_one_line_error(recording, tmp_path):
    with pytest.raises(ConfigError) as info:
        prepare_dataset(recording, tmp_path / "o", config(), shard="3/2", progress=False)
    _one_line_error(info, "3/2")


def test_frames_outside_the_recording(recording, tmp_path):
    with pytest.raises(ConfigError) as info:
        prepare_dataset(recording, tmp_path / "o", config(frames="500:"), progress=False)
    _one_line_error(info, "500", str(NUM_FRAMES))


def test_missing_recording(tmp_path):
    with pytest.raises(MouseliftError) as info:
        prepare_dataset(tmp_path / "nope", tmp_path / "o", config(), progress=False)
    _one_line_error(info, "nope")


def test_conflicting_config_in_the_same_output(recording, tmp_path):
    out = tmp_path / "out"
    prepare_dataset(recording, out, config(frames="0:2"), progress=False)
    with pytest.raises(ConfigError) as info:
        prepare_dataset(recording, out, config(frames="0:2", image_size=64), progress=False)
    _one_line_error(info, "image_size=64", "new output folder")


def test_a_dataset_prepared_before_the_size_rename_still_resumes_and_frames(recording, tmp_path):
    """Datasets of earlier releases say ``size:`` in their ``prepare_config.yaml``: re-running
    prepare into them and reading their framing keep working (only a user's ``size`` is refused)."""
    from mouselift.data.framing import TrainingFraming
    from mouselift.data.layout import CONFIG_FILE

    out = tmp_path / "out"
    prepare_dataset(recording, out, config(frames="0:2"), progress=False)
    saved = out / CONFIG_FILE
    text = saved.read_text()
    assert "\nimage_size:" in text
    saved.write_text(text.replace("\nimage_size:", "\nsize:"))
    summary = prepare_dataset(recording, out, config(frames="0:2"), progress=False)
    assert summary.already_done == summary.written + summary.already_done > 0
    assert TrainingFraming.from_dataset(out).config.image_size == config().image_size


def test_a_failing_worker_stops_the_run_and_a_rerun_completes_it(recording, tmp_path, monkeypatch):
    """Workers are forked, so the patch below reaches them: frame 2 fails in the first worker."""
    from mouselift.data.prepare import runner
    from mouselift.errors import RecordingError

    original = runner.process_frame

    def failing(frame, *args, **kwargs):
        if frame == 2:
            raise RecordingError("rec/videos_undist/0.mp4: corrupt video, decoding failed")
        return original(frame, *args, **kwargs)

    monkeypatch.setattr(runner, "process_frame", failing)
    out = tmp_path / "out"
    cfg = config(frames="0:24", val_fraction=0.0, workers=2)
    with pytest.raises(RecordingError, match="corrupt video"):
        prepare_dataset(recording, out, cfg, progress=False)
    done = sample_dirs(out)
    assert 0 < len(done) < 23
    for folder in done:
        assert len(list((folder / "images").glob("*.png"))) == 6
    monkeypatch.setattr(runner, "process_frame", original)
    summary = prepare_dataset(recording, out, cfg, progress=False)
    assert summary.written + sum(summary.skipped_now.values()) + summary.already_done == 24
    assert summary.dataset.samples == 23 and summary.dataset.pending == 0


def test_workers_share_the_cores(recording, tmp_path, monkeypatch):
    """--workers 2 on 2 cores: each worker renders its views with 1 thread and runs torch, OpenCV
    and BLAS with 1 thread each (workers are forked, so the patch below reaches them)."""
    import cv2
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    from mouselift import threads
    from mouselift.data.prepare import runner

    for name in ("OMP_NUM_THREADS", *threads.LAUNCHER_PROCESSES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _pid: {0, 1})
    seen = tmp_path / "threads.jsonl"
    original = runner.process_frame

    def recording_threads(frame, images, masks, cameras, cfg, *args):
        blas = sorted({p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"})
        counts = {"views": cfg.threads, "torch": torch.get_num_threads(),
                  "opencv": cv2.getNumThreads(), "blas": blas, "pid": os.getpid()}
        with open(seen, "a") as f:
            f.write(json.dumps(counts) + "\n")
        return original(frame, images, masks, cameras, cfg, *args)

    monkeypatch.setattr(runner, "process_frame", recording_threads)
    before = torch.get_num_threads()
    try:  # the parent runs torch and BLAS with 2 threads (as without OMP_NUM_THREADS)
        torch.set_num_threads(2)
        with threadpool_limits(2, user_api="blas"):
            prepare_dataset(recording, tmp_path / "out", config(frames="0:8", workers=2),
                            progress=False)
    finally:
        torch.set_num_threads(before)
    counts = [json.loads(line) for line in seen.read_text().splitlines()]
    pids = {c.pop("pid") for c in counts}
    assert len(pids) == 2 and os.getpid() not in pids
    assert all(c == {"views": 1, "torch": 1, "opencv": 1, "blas": [1]} for c in counts), counts
