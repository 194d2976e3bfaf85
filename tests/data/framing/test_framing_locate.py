"""Locating the mouse from one view, the frame's cameras, the training framing and the 2D crop
(``mouselift.data.framing.locate``, ``.training``, ``.crops``): what ``infer`` shares with
``prepare``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mouselift.cameras import read_opencv_cameras
from mouselift.data.framing.crops import (
    coverage_half_size,
    nominal_camera,
    resample_view,
    square_crop_geometry,
)
from mouselift.data.framing.locate import (
    LocateError,
    frame_cameras,
    locate_frame,
    locate_from_one_view,
)
from mouselift.data.framing.training import TrainingFraming
from mouselift.data.recording import Recording
from mouselift.data.synth.ground_truth import load_ground_truth
from mouselift.errors import DatasetError

#: One-view centre vs the truth / vs prepare's all-view centre, camera 0 (the rig's input view):
#: measured 8.4–9.0 mm (truth) and about 8 mm (all views) on the suite's recording. The mask
#: centroid is not the projection of the body centre, and the body is not always at its median
#: height.
ONE_VIEW_TOLERANCE_MM = 12.0
#: Any camera of the real rig (measured up to 14.7 mm from the truth).
ANY_VIEW_TOLERANCE_MM = 20.0


@pytest.fixture(scope="module")
def framing(mouse_dataset):
    return TrainingFraming.from_dataset(mouse_dataset)


def test_framing_reads_the_dataset(mouse_dataset, framing):
    records = [json.loads(line) for line in
               (mouse_dataset / "manifest.jsonl").read_text().splitlines()]
    assert framing.samples == len(records) == 10
    assert framing.centre_height_mm == pytest.approx(
        float(np.median([r["centre_mm"][2] for r in records])))
    assert framing.config.image_size == 64 and framing.config.radius_mm == 60.0
    assert set(framing.coverage) == {f"cam_{k:03d}" for k in range(6)}
    assert all(0 < c < 1 for c in framing.coverage.values())
    assert framing.describe()["dataset"] == str(mouse_dataset)


def test_framing_errors_and_defaults(tmp_path):
    with pytest.raises(DatasetError, match=r"prepare_config\.yaml"):
        TrainingFraming.from_dataset(tmp_path)
    defaults = TrainingFraming.defaults()
    assert defaults.centre_height_mm is None and defaults.config.radius_mm == 60.0


def test_one_view_centre_vs_triangulation_and_truth(synthetic_recording, framing):
    """Every frame and camera of the recording: the ray through the mask centre meets the plane
    at the usual height within a few mm of prepare's all-view centre and of the truth."""
    rec = Recording.open(synthetic_recording)
    truth = load_ground_truth(synthetic_recording).centers
    height = framing.centre_height_mm
    worst_input, worst_any = 0.0, 0.0
    for frameset in rec.frames(images=False):
        location = locate_frame(rec.cameras, frameset.masks, framing.config)
        assert location.centre is not None
        for k, (camera, mask) in enumerate(zip(rec.cameras, frameset.masks, strict=True)):
            one = locate_from_one_view(camera, mask, height)
            assert one.centre[2] == pytest.approx(height)
            to_truth = float(np.linalg.norm(one.centre - truth[frameset.index]))
            to_all = float(np.linalg.norm(one.centre - location.centre))
            worst_any = max(worst_any, to_truth, to_all)
            if k == 0:
                worst_input = max(worst_input, to_truth, to_all)
    assert worst_input < ONE_VIEW_TOLERANCE_MM
    assert worst_any < ANY_VIEW_TOLERANCE_MM


def test_one_view_refuses_empty_masks_and_rays_away_from_the_plane(synthetic_recording):
    camera = Recording.open(synthetic_recording).cameras[0]
    empty = np.zeros((camera.height, camera.width), np.uint8)
    with pytest.raises(LocateError, match="empty"):
        locate_from_one_view(camera, empty, 20.0)
    mask = empty.copy()
    mask[-45:-5, camera.width // 2 - 20:camera.width // 2 + 20] = 255  # looks down at the floor
    assert locate_from_one_view(camera, mask, 20.0).distance_mm > 0
    with pytest.raises(LocateError, match="in front of the camera"):
        locate_from_one_view(camera, mask, camera.center[2] + 1e4)


def test_frame_cameras_are_the_samples(synthetic_recording, mouse_dataset):
    """The cameras about a sample's recorded centre are exactly its opencv_cameras.json."""
    rec = Recording.open(synthetic_recording)
    sample = mouse_dataset / "sample_000005"
    record = json.loads((sample / "sample.json").read_text())
    framed = frame_cameras(rec.cameras, np.array(record["centre_mm"]), radius_mm=60.0, size=64)
    assert framed.similarity.scale == pytest.approx(record["scale"], rel=1e-5)
    for ours, theirs in zip(framed.cameras, read_opencv_cameras(sample / "opencv_cameras.json"),
                            strict=True):
        assert np.allclose(ours.K, theirs.K, atol=1e-3)
        assert np.allclose(ours.w2c, theirs.w2c, atol=1e-4)


def test_square_crop_centres_and_sizes_the_mask():
    """The 2D crop puts the mask centroid at the image centre and gives it the coverage asked
    for (up to resampling)."""
    height, width = 300, 400
    mask = np.zeros((height, width), np.uint8)
    mask[100:160, 220:300] = 255  # 80×60 px, centroid (259.5, 129.5)
    image = np.dstack([mask] * 3)
    camera = nominal_camera(width, height)
    half = coverage_half_size(80 * 60, 0.25)
    geometry = square_crop_geometry(camera, np.array([259.5, 129.5]), half, 64)
    assert geometry.box == pytest.approx((259.5 + 0.5 - half, 129.5 + 0.5 - half,
                                          259.5 + 0.5 + half, 129.5 + 0.5 + half))
    rgba = resample_view(image, mask, geometry, 64)
    alpha = rgba[..., 3] > 127
    assert alpha.mean() == pytest.approx(0.25, abs=0.02)
    rows, cols = np.nonzero(alpha)
    assert cols.mean() == pytest.approx(31.5, abs=0.5) and rows.mean() == pytest.approx(
        31.5, abs=0.5)
