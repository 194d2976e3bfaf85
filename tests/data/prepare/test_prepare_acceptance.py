"""Acceptance: ``prepare`` on a synthetic recording (``mouselift.data.synth``) against its ground
truth — the masks, crops, cameras and normalisation must agree to the pixel.

Recording: 12 frames at scale 0.5 (576×512 px) of the real rig; datasets at 256×256 and 128×128,
radius 60 mm. Measured when written (seed 0):

* ground-truth surface points inside the crop and inside the source image, nearest output pixel,
  at 256 px: 98.3 % land on alpha > 127 (pooled over all views; worst single view 97.2 %), 100 %
  within 1 px. The misses are rim points (on the silhouette outline, where the nearest pixel
  centre can fall just outside); their share halves each time the resolution doubles.
* the centre the crops are built on projects onto (S−1)/2 to < 1e-3 px in every view; the
  ground-truth body centre (volume-weighted ellipsoid centres, a slightly different definition
  from the dataset's visual-hull centroid) projects ≤ 0.76 px from each crop centre at 128 px.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mouselift.cameras.facelift import read_opencv_cameras
from mouselift.data.prepare import PrepareConfig, prepare_dataset
from mouselift.data.recording import Recording
from mouselift.data.synth import load_ground_truth

SIZE = 256


@pytest.fixture(scope="module")
def recording(synthetic_recording) -> Path:
    """The suite's recording (12 frames, half resolution, seed 0)."""
    return synthetic_recording


def _prepare(recording: Path, size: int):
    out = recording.parent / f"accept_out{size}"
    summary = prepare_dataset(recording, out, PrepareConfig(image_size=size, workers=1),
                              progress=False)
    records = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    return recording, out, summary, records


@pytest.fixture(scope="module")
def dataset(recording):
    return _prepare(recording, SIZE)


def _normalised(record: dict, points_mm: np.ndarray) -> np.ndarray:
    sim = record["similarity"]
    return sim["scale"] * np.asarray(points_mm, dtype=np.float64) + np.asarray(sim["translation"])


def test_every_usable_frame_is_written(dataset):
    _, _, summary, records = dataset
    # 12 frames: blocks of 1, val = frame 6, frames 5 and 7 dropped as split gap.
    assert summary.written == 10 and summary.skipped_now == {}
    assert summary.dataset.skipped == {"split_gap": 2}
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4, 6, 8, 9, 10, 11]


def test_ground_truth_lands_in_the_written_alpha(dataset):
    rec_dir, out, _, records = dataset
    truth = load_ground_truth(rec_dir)
    sources = Recording.open(rec_dir).cameras
    inside, near, per_view = 0, 0, []
    total = 0
    for record in records:
        row = int(np.flatnonzero(truth.frame_indices == record["frame"])[0])
        points_mm = truth.surface_points[row].astype(np.float64)
        cams = read_opencv_cameras(out / record["sample"] / "opencv_cameras.json")
        assert np.mean([np.linalg.norm(c.center) for c in cams]) == pytest.approx(2.7, abs=1e-9)
        for k, cam in enumerate(cams):
            alpha = np.asarray(Image.open(out / record["sample"] / f"images/cam_{k:03d}.png"))
            mouse = alpha[..., 3] > 127
            distance = ndimage.distance_transform_edt(~mouse)
            src = sources[k]
            src_uv = src.project(points_mm)
            in_source = np.all((src_uv > -0.5) & (src_uv < [src.width - 0.5, src.height - 0.5]), 1)
            ij = np.rint(cam.project(_normalised(record, points_mm))).astype(int)
            in_crop = np.all((ij >= 0) & (ij < SIZE), axis=1) & in_source
            assert in_crop.sum() > 100
            d = distance[ij[in_crop, 1], ij[in_crop, 0]]
            inside += int(np.sum(d == 0))
            near += int(np.sum(d <= 1.0))
            total += int(in_crop.sum())
            per_view.append(np.mean(d == 0))
    assert inside / total >= 0.98, inside / total
    assert near / total >= 0.999, near / total
    assert min(per_view) >= 0.95, min(per_view)


@pytest.fixture(scope="module")
def small_dataset(recording):
    return _prepare(recording, 128)


@pytest.mark.parametrize("which", ["dataset", "small_dataset"])
def test_mouse_centre_projects_on_every_crop_centre(request, which):
    rec_dir, out, _, records = request.getfixturevalue(which)
    truth = load_ground_truth(rec_dir)
    worst_truth = 0.0
    for record in records:
        row = int(np.flatnonzero(truth.frame_indices == record["frame"])[0])
        used = _normalised(record, np.asarray(record["centre_mm"])[None])
        true = _normalised(record, truth.centers[row][None])
        for cam in read_opencv_cameras(out / record["sample"] / "opencv_cameras.json"):
            mid = (cam.width - 1) / 2
            np.testing.assert_allclose(cam.project(used)[0], [mid, mid], atol=1e-3)
            worst_truth = max(worst_truth, np.linalg.norm(cam.project(true)[0] - mid))
    # The ground-truth centre is a different definition (ellipsoid volumes) from the dataset's
    # (visual-hull centroid): ≤ 0.76 px at 128 px, i.e. ≤ 0.4 mm.
    limit = 1.0 if which == "small_dataset" else 2.0
    assert worst_truth < limit, worst_truth


def test_crops_follow_the_mouse_not_the_frame_centre(dataset):
    """Regression for the prior implementation's centre crop of the full frame."""
    rec_dir, _, _, records = dataset
    sources = Recording.open(rec_dir).cameras
    offsets, sizes = [], []
    for record in records:
        centre = np.asarray(record["centre_mm"])
        for k, view in enumerate(record["views"]):
            x0, y0, x1, y1 = view["box"]
            box_centre = np.array([(x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5])
            projected = sources[k].project(centre[None])[0]
            assert np.linalg.norm(box_centre - projected) < 0.1  # centred on the mouse
            image_centre = np.array([sources[k].width - 1, sources[k].height - 1]) / 2
            offsets.append(np.linalg.norm(box_centre - image_centre))
            sizes.append(x1 - x0)
            assert (x1 - x0) < sources[k].width  # not the full frame
    assert max(offsets) > 20  # the mouse is far from the image centre in some views
    assert np.ptp(sizes) > 10  # crop size follows the camera distance, not a constant


def test_summary_file(dataset):
    _, out, _, _ = dataset
    summary = json.loads((out / "summary.json").read_text())
    assert summary["dataset"]["samples"] == 10 and summary["dataset"]["pending"] == 0
    assert summary["split"]["val_blocks"] == [6]
    assert Path(out / "val.txt").read_text() == "sample_000006\n"
