"""Held-out cameras (``RECORDING/eval/``) are cropped and normalised like the rig into
``sample/eval/``, and never influence where the mouse is."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mouselift.cameras.facelift import read_opencv_cameras
from mouselift.data.prepare import PrepareConfig, prepare_dataset
from mouselift.data.synth import SynthConfig, load_ground_truth, synthesize
from mouselift.errors import RecordingError

SIZE = 128


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    rec = tmp_path_factory.mktemp("eval") / "rec"
    synthesize(rec, SynthConfig(frames=3, scale=0.5, seed=3, eval_cameras=2), progress=False)
    return rec


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_held_out_views_are_written_with_the_rig_normalisation(recording, tmp_path):
    out = tmp_path / "with"
    prepare_dataset(recording, out, PrepareConfig(image_size=SIZE, workers=1), progress=False)
    plain = tmp_path / "without"
    prepare_dataset(
        recording, plain, PrepareConfig(image_size=SIZE, workers=1, eval_views=False),
        progress=False,
    )
    truth = load_ground_truth(recording)
    records, plain_records = _records(out), _records(plain)
    assert [r["frame"] for r in records] == [r["frame"] for r in plain_records]
    for record, other in zip(records, plain_records, strict=True):
        sample = out / record["sample"]
        # The held-out views change nothing about the rig sample.
        assert record["centre_mm"] == other["centre_mm"]
        assert (sample / "opencv_cameras.json").read_text() == (
            plain / record["sample"] / "opencv_cameras.json"
        ).read_text()
        assert not (plain / record["sample"] / "eval").exists()

        held_out = read_opencv_cameras(sample / "eval" / "opencv_cameras.json")
        assert len(held_out) == 2 == len(record["eval_views"])
        sim = record["similarity"]
        row = int(np.flatnonzero(truth.frame_indices == record["frame"])[0])
        centre = sim["scale"] * np.asarray(record["centre_mm"]) + np.asarray(sim["translation"])
        points = sim["scale"] * truth.surface_points[row].astype(np.float64) + np.asarray(
            sim["translation"]
        )
        rig = read_opencv_cameras(sample / "opencv_cameras.json")
        # Same world: the held-out cameras sit at rig-like distances from the origin.
        rig_distance = np.mean([np.linalg.norm(c.center) for c in rig])
        for k, cam in enumerate(held_out):
            assert (cam.width, cam.height) == (SIZE, SIZE)
            assert 0.8 * rig_distance < np.linalg.norm(cam.center) < 1.2 * rig_distance
            np.testing.assert_allclose(
                cam.project(centre[None])[0], [(SIZE - 1) / 2] * 2, atol=1e-3
            )
            alpha = np.asarray(Image.open(sample / "eval" / f"images/cam_{k:03d}.png"))[..., 3]
            ij = np.rint(cam.project(points)).astype(int)
            inside = np.all((ij >= 0) & (ij < SIZE), axis=1)
            hits = alpha[ij[inside, 1], ij[inside, 0]] > 127
            assert inside.sum() > 100 and hits.mean() > 0.9, hits.mean()


def test_held_out_recording_of_another_length_is_refused(recording, tmp_path):
    import shutil

    copy = tmp_path / "rec"
    shutil.copytree(recording, copy)
    from mouselift.data.video import VideoReader, VideoWriter

    for sub in ("videos_undist", "simpleclick_undist"):
        for video in sorted((copy / "eval" / sub).glob("*.mp4")):
            with VideoReader(video) as reader:
                frames = [a for _, a in reader.frames()][:2]
            with VideoWriter(
                video, fps=100, width=frames[0].shape[1], height=frames[0].shape[0]
            ) as w:
                for a in frames:
                    w.write(a)
    with pytest.raises(RecordingError, match="held-out cameras have 2 frames"):
        prepare_dataset(copy, tmp_path / "out", PrepareConfig(image_size=SIZE, workers=1),
                        progress=False)
