"""``mouselift infer --video``: partition over shards and processes, resume after a kill, shard
halves, the sequence outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from infer_testutils import FAST_MIN_OPACITY, read_finite_ply, tiny_gslrm, tiny_pipeline
from infer_testutils import video_frames as decoded_frames
from mouselift.atomic import result_manifest
from mouselift.data.dataset_rig import rig_from_dataset
from mouselift.errors import ConfigError
from mouselift.flows.infer_video import (
    FRAMES_DIR,
    VIDEO_COMMAND,
    done_frames,
    frame_folder,
    infer_video,
    partition,
    select_video_frames,
)
from mouselift.flows.lift import LiftModels
from mouselift.gslrm.inference import SplatFilters
from mouselift.mvdiff.solvers import SamplingSettings
from mouselift.viewer.scene import load_scene

FAST = {"filters": SplatFilters(min_opacity=float(FAST_MIN_OPACITY)),
        "sampler": SamplingSettings(solver="dpm++", steps=2), "turntable_size": 64,
        "progress": False}
#: frames 0, 2, …, 10 of the suite's 12-frame recording
EVERY = 2
SELECTED = [0, 2, 4, 6, 8, 10]


@pytest.fixture(scope="module")
def models(mouse_dataset, tmp_path_factory) -> LiftModels:
    rig = rig_from_dataset(mouse_dataset)
    work = tmp_path_factory.mktemp("video_models")
    return LiftModels.load(tiny_pipeline(work / "pipeline", rig), tiny_gslrm(work / "gslrm", rig))


def _video(recording, out, models, **kwargs):
    return infer_video(recording, out, mvdiff="m", gslrm="g", camera=0, every=EVERY, batch=4,
                       models=models, **{**FAST, **kwargs})


@pytest.mark.parametrize("total", [1, 5, 17, 18000 // 10])
def test_partition_covers_every_frame_once(total):
    frames = select_video_frames(total * 10, None, 10)
    assert len(frames) == total
    for shards in (1, 2, 3, 16):
        for processes in (1, 2, 4):
            parts = [partition(frames, (i, shards), (j, processes))
                     for i in range(shards) for j in range(processes)]
            joined = np.concatenate(parts)
            assert sorted(joined.tolist()) == frames.tolist()  # every frame exactly once
            sizes = [len(p) for p in parts]
            assert max(sizes) - min(sizes) <= 2  # near-equal
            for part in parts:  # contiguous blocks: one seek per worker
                start = int(np.searchsorted(frames, part[0])) if len(part) else 0
                assert np.array_equal(part, frames[start:start + len(part)])


def test_frame_selection():
    assert select_video_frames(12, None, EVERY).tolist() == SELECTED
    assert select_video_frames(100, "10:20", 5).tolist() == [10, 15]
    with pytest.raises(ConfigError):
        select_video_frames(12, "20:30", 1)


def test_a_foreign_folder_is_refused_unless_overwrite_and_its_own_is_continued(
        models, synthetic_recording, tmp_path):
    """One frame (0:2, every 2). Another folder is never mixed with the frames: refused, or
    cleared with ``overwrite``; a re-run into the run's own folder continues it."""
    out = tmp_path / "video"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"holds files and was not made by "
                                          r"`mouselift infer --video`.*--overwrite"):
        _video(synthetic_recording, out, models, frames="0:2")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    first = _video(synthetic_recording, out, models, frames="0:2", overwrite=True)
    assert first.written == 1 and not (out / "notes.txt").exists()
    assert result_manifest(out) == {"command": VIDEO_COMMAND}
    again = _video(synthetic_recording, out, models, frames="0:2")
    assert (again.written, again.already_done, again.complete) == (0, 1, True)


@pytest.mark.slow  # 15–20 s on 2 busy cores: 6 frames through both tiny stages
def test_killed_and_rerun_completes_without_redoing_frames(models, synthetic_recording,
                                                           tmp_path):
    out = tmp_path / "video"
    first = _video(synthetic_recording, out, models, max_frames=3)  # "killed" after 3 frames
    assert (first.written, first.complete, first.turntable) == (3, False, None)
    assert done_frames(out) == {0, 2, 4}
    stamps = {f: (out / FRAMES_DIR / frame_folder(f) / "gaussians.ply").stat().st_mtime_ns
              for f in (0, 2, 4)}
    stale = out / FRAMES_DIR / f".{frame_folder(6)}.999.deadbeef.partial"  # a killed write
    stale.mkdir()
    (stale / "gaussians.ply").write_text("half")
    second = _video(synthetic_recording, out, models)
    assert (second.written, second.already_done, second.complete) == (3, 3, True)
    assert not stale.exists()
    assert done_frames(out) == set(SELECTED)
    for f, stamp in stamps.items():  # finished frames were not recomputed
        assert (out / FRAMES_DIR / frame_folder(f) / "gaussians.ply").stat().st_mtime_ns == stamp
    for f in SELECTED:
        folder = out / FRAMES_DIR / frame_folder(f)
        read_finite_ply(folder / "gaussians.ply")
        report = json.loads((folder / "report.json").read_text())
        assert report["frame"] == f and report["cameras"] == "frame"
    assert decoded_frames(out / "turntable.mp4") == len(SELECTED)
    run = json.loads((out / "report.json").read_text())
    assert run["frames"] == run["with_gaussians"] == len(SELECTED)
    assert run["rig_fingerprint"] == models.rig.fingerprint()
    scene = load_scene(out / FRAMES_DIR)  # the viewer plays the sequence
    assert scene.kind == "sequence" and len(scene) == len(SELECTED)
    third = _video(synthetic_recording, out, models)  # nothing left to do
    assert (third.written, third.already_done, third.turntable) == (0, 6, None)
    assert "all 6 selected frames done" in third.format()


@pytest.mark.slow  # 15–20 s on 2 busy cores: 6 frames through both tiny stages
def test_shard_halves_cover_every_frame_once(models, synthetic_recording, tmp_path):
    out = tmp_path / "video"
    half0 = _video(synthetic_recording, out, models, shard="0/2", triangulate=True)
    assert (half0.mine, half0.written, half0.complete) == (3, 3, False)
    assert done_frames(out) == {0, 2, 4} and not (out / "turntable.mp4").exists()
    half1 = _video(synthetic_recording, out, models, shard="1/2")
    assert (half1.mine, half1.written, half1.already_done, half1.complete) == (3, 3, 0, True)
    assert done_frames(out) == set(SELECTED)
    assert half1.turntable is not None and decoded_frames(half1.turntable) == len(SELECTED)
    report = json.loads((out / FRAMES_DIR / frame_folder(0) / "report.json").read_text())
    assert 0 < report["localisation"]["one_view_vs_all_views_mm"] < 12.0  # --triangulate
    assert "shard 1/2" in half1.format()


@pytest.mark.slow  # 15–20 s on 2 busy cores: 6 frames through both tiny stages
def test_processes_split_a_shard(models, synthetic_recording, tmp_path):
    """Two accelerate processes (simulated one after the other) split the frames."""
    out = tmp_path / "video"
    p0 = _video(synthetic_recording, out, models, process=(0, 2), frames="0:6")
    assert done_frames(out) == {0, 2} and not p0.complete
    p1 = _video(synthetic_recording, out, models, process=(1, 2), frames="0:6")
    assert done_frames(out) == {0, 2, 4} and p1.complete
    assert p1.turntable is None  # only process 0 writes the sequence files
    assert "process 1/2" in p1.format()
