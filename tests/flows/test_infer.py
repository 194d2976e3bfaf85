"""``mouselift.flows.infer``: inputs framed as ``prepare`` frames them, the frame's cameras vs
the rig average, ``--views``, and the outputs of a recording frame."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from infer_testutils import (
    FAST_MIN_OPACITY,
    read_finite_ply,
    rgba_of,
    tiny_gslrm,
    tiny_pipeline,
    video_frames,
)
from mouselift.cameras import read_opencv_cameras
from mouselift.cameras.rig import facelift_rig
from mouselift.data.dataset_rig import rig_from_dataset
from mouselift.data.framing.training import TrainingFraming
from mouselift.data.recording import Recording
from mouselift.errors import ConfigError
from mouselift.flows.infer import infer, read_input, training_framing
from mouselift.flows.lift import LiftModels
from mouselift.gslrm.inference import SplatFilters
from mouselift.mvdiff.solvers import SamplingSettings

FAST = SplatFilters(min_opacity=float(FAST_MIN_OPACITY))
FEW_STEPS = SamplingSettings(steps=2)
#: One-view vs all-view centre on the suite's recording, camera 0 (measured 8.0–8.3 mm; vs the
#: triangulated point ≈ 5 mm).
ONE_VIEW_TOLERANCE_MM = 12.0


@pytest.fixture(scope="module")
def mouse_models(mouse_dataset, tmp_path_factory) -> LiftModels:
    """A tiny pair for the dataset's rig (its rig names the dataset), with a camera embedding."""
    rig = rig_from_dataset(mouse_dataset)
    work = tmp_path_factory.mktemp("infer_mouse")
    return LiftModels.load(tiny_pipeline(work / "pipeline", rig, camera_embedding=True),
                           tiny_gslrm(work / "gslrm", rig))


@pytest.fixture(scope="module")
def frame_images(synthetic_recording, tmp_path_factory):
    """Camera 0's full frame 5 and its mask as PNG files (an image from a calibrated camera)."""
    got = next(iter(Recording.open(synthetic_recording).camera_frames(0, [5])))
    folder = tmp_path_factory.mktemp("frame5")
    Image.fromarray(got.image).save(folder / "cam0.png")
    Image.fromarray(got.mask).save(folder / "cam0_mask.png")
    return folder / "cam0.png", folder / "cam0_mask.png"


@pytest.mark.slow  # ~15 s on 2 busy cores (first sampling, renders)
def test_a_recording_frame_is_framed_exactly_as_prepare_frames_it(
        mouse_models, mouse_dataset, synthetic_recording, tmp_path):
    """Located from all views, the input crop is the prepared sample's cam_000.png pixel for
    pixel and the cameras Stage 2 gets are the sample's own (its opencv_cameras.json)."""
    out = tmp_path / "out"
    result = infer(out, gslrm="g", mvdiff="m", recording=synthetic_recording, frame=5, camera=0,
                   centre="all-views", sampler=FEW_STEPS, filters=FAST, turntable_frames=2,
                   turntable_size=64, progress=False, models=mouse_models)
    sample = mouse_dataset / "sample_000005"
    assert np.array_equal(rgba_of(out / "input.png"), rgba_of(sample / "images/cam_000.png"))
    ours = read_opencv_cameras(out / "opencv_cameras.json")
    theirs = {c.name: c for c in read_opencv_cameras(sample / "opencv_cameras.json")}
    assert [c.name for c in ours] == mouse_models.rig.names
    for camera in ours:
        assert np.allclose(camera.K, theirs[camera.name].K, atol=1e-3)
        assert np.allclose(camera.w2c, theirs[camera.name].w2c, atol=1e-4)
    report = json.loads((out / "report.json").read_text())
    record = json.loads((sample / "sample.json").read_text())
    assert report["cameras"] == report["stage1_cameras"] == "frame"
    assert report["training_data"]["from"] == "the checkpoints' rig"
    assert np.allclose(report["localisation"]["all_views_mm"], record["centre_mm"], atol=1e-2)
    assert report["crop"]["method"] == "3d sphere (prepare's)"
    assert len(read_finite_ply(out / "gaussians.ply")) == report["num_gaussians"]
    assert video_frames(out / "turntable.mp4") == 2
    assert "cameras: frame" in result.format()


def test_one_view_centre_and_cameras_of_the_frame(mouse_models, synthetic_recording, tmp_path):
    """Default: the mouse located from camera 0 alone, checked against all views (mm)."""
    result = infer(tmp_path / "out", gslrm="g", mvdiff="m", recording=synthetic_recording,
                   frame=5, camera=0, sampler=FEW_STEPS, filters=FAST, turntable_frames=2,
                   turntable_size=64, progress=False, models=mouse_models)
    loc = result.report["localisation"]
    assert loc["method"] == "one-view" and loc["one_view_mm"][2] == pytest.approx(
        loc["height_mm"])
    assert 0 < loc["one_view_vs_all_views_mm"] < ONE_VIEW_TOLERANCE_MM
    assert 0 < loc["one_view_vs_triangulated_mm"] < ONE_VIEW_TOLERANCE_MM
    assert result.report["cameras"] == "frame"
    assert "one view vs all views" in result.format()
    for key in ("load", "input", "stage1", "stage2", "write"):
        assert result.report["seconds"][key] >= 0


def test_inputs_and_the_cameras_they_get(mouse_models, mouse_dataset, synthetic_recording,
                                         frame_images):
    """Which crop and which cameras each kind of input gets (no model runs)."""
    rig = mouse_models.rig
    framing = TrainingFraming.from_dataset(mouse_dataset)
    from_recording, _ = read_input(rig, framing, recording=synthetic_recording, frame=5,
                                   camera=0)
    image, mask = frame_images
    calibrated, info = read_input(rig, framing, image=image, mask=mask, camera=0,
                                  calibration=synthetic_recording / "new_cam.pkl")
    assert info["calibration"].endswith("new_cam.pkl")
    assert np.array_equal(calibrated.rgba, from_recording.rgba)
    assert all(a.allclose(b) for a, b in zip(calibrated.cameras, from_recording.cameras,
                                             strict=True))
    other, _ = read_input(rig, framing, recording=synthetic_recording, frame=5, camera=1)
    assert other.cameras is None and "not the rig's input camera" in other.report[
        "cameras_reason"]
    uncalibrated, _ = read_input(rig, framing, image=image, mask=mask)
    assert uncalibrated.cameras is None and uncalibrated.report["crop"]["coverage_from"] == (
        "training data")
    alpha = uncalibrated.rgba[..., 3] > 127
    assert alpha.mean() == pytest.approx(framing.coverage["cam_000"], rel=0.2)
    no_height, _ = read_input(rig, TrainingFraming.defaults(), recording=synthetic_recording,
                              frame=5, camera=0)
    assert no_height.cameras is None and "--dataset" in no_height.report["cameras_reason"]
    facelift = facelift_rig(64)
    not_mouse, _ = read_input(facelift, framing, recording=synthetic_recording, frame=5,
                              camera=0)
    assert not_mouse.cameras is None and "not cameras of the calibration" in (
        not_mouse.report["cameras_reason"])
    as_is, _ = read_input(rig, framing, image=mouse_dataset / "sample_000005/images/cam_000.png",
                          crop="none")
    assert np.array_equal(as_is.rgba, rgba_of(mouse_dataset / "sample_000005/images/cam_000.png"))


def test_training_framing_is_found_or_named(mouse_models, mouse_dataset):
    assert training_framing(mouse_models.rig, None)[1] == "the checkpoints' rig"
    assert training_framing(mouse_models.rig, mouse_dataset)[1] == "--dataset"
    framing, found = training_framing(facelift_rig(64), None)
    assert framing.centre_height_mm is None and found.startswith("none")


def test_views_skip_stage_one(mouse_models, mouse_dataset, tmp_path):
    out = tmp_path / "out"
    result = infer(out, gslrm=mouse_models.gslrm_path, views=mouse_dataset / "sample_000002",
                   filters=FAST, turntable_frames=2, turntable_size=64, progress=False)
    report = result.report
    assert report["seconds"]["stage1"] is None and report["sampler"] is None
    assert report["views"] == str(mouse_dataset / "sample_000002")
    assert report["rig_fingerprint"] == mouse_models.rig.fingerprint()
    with Image.open(out / "multiview.png") as sheet:
        assert sheet.size == (6 * 64, 64)
    assert len(read_finite_ply(out / "gaussians.ply")) == report["num_gaussians"]
    assert "stage 1 skipped" in result.format()


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({}, "give one input"),
    ({"image": "a.png", "views": "s"}, "give one input"),
    ({"recording": "REC", "frame": 1}, "--camera"),
])
def test_bad_inputs(mouse_models, synthetic_recording, tmp_path, kwargs, fragment):
    if kwargs.get("recording") == "REC":
        kwargs = {**kwargs, "recording": synthetic_recording}
    with pytest.raises(ConfigError, match=fragment):
        infer(tmp_path / "o", gslrm="g", mvdiff="m", models=mouse_models, progress=False,
              **kwargs)


def test_bad_images(mouse_models, mouse_dataset, synthetic_recording, frame_images, tmp_path):
    rig, framing = mouse_models.rig, TrainingFraming.defaults()
    rgb = tmp_path / "rgb.png"
    Image.new("RGB", (80, 60)).save(rgb)
    Image.new("RGB", (4, 4)).save(tmp_path / "tiny.png")
    for kwargs, fragment in (
        ({"image": tmp_path / "tiny.png", "crop": "none"}, "4×4 pixels: too small"),
        ({"image": rgb}, "needs --mask"),
        ({"image": tmp_path / "missing.png"}, "not found"),
        ({"image": rgb, "crop": "none"}, "cropped square"),
        ({"image": frame_images[0], "mask": frame_images[1],
          "calibration": synthetic_recording / "new_cam.pkl"}, "--camera"),
        ({"image": rgb, "mask": frame_images[1]}, "the mask is"),
        ({"recording": synthetic_recording, "frame": 99, "camera": 0}, "frames 0..11"),
        ({"recording": synthetic_recording, "frame": 1, "camera": 0, "crop": "none"},
         "--crop none"),
    ):
        with pytest.raises(ConfigError, match=fragment):
            read_input(rig, framing, **kwargs)


# --- the one-view locator ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def locator_file(known_mouse, tmp_path_factory):
    """A locator fitted on the known mouse, for the suite recording's calibration."""
    from mouselift.data.framing.locator import fit_locator

    locator = fit_locator(known_mouse.cameras, known_mouse.train, threshold=127,
                          val=known_mouse.test, source={"dataset": "known mouse"})
    return locator.save(tmp_path_factory.mktemp("locator") / "locator.json")


def test_without_a_usable_locator_the_plane_method_is_used_and_said(mouse_models,
                                                                     mouse_dataset,
                                                                     synthetic_recording):
    """The suite dataset's locator has no camera model (too few frames); a rig without one
    has none at all: both fall back to the plane method, and the report says why."""
    from dataclasses import replace

    framing, _ = training_framing(mouse_models.rig, None)  # the rig's dataset is here
    assert framing.locator_from == str(mouse_dataset / "locator.json")
    got, _ = read_input(mouse_models.rig, framing, recording=synthetic_recording, frame=5,
                        camera=0)
    loc = got.report["localisation"]
    assert loc["one_view_method"] == "plane" and "no model for camera 0" in loc[
        "locator_unused"]
    assert got.cameras is not None  # the frame's cameras all the same
    bare = replace(mouse_models.rig, locator=None, source={})
    framing = TrainingFraming.from_dataset(mouse_dataset)
    framing = replace(framing, locator=None, locator_from=None)
    got, _ = read_input(bare, framing, recording=synthetic_recording, frame=5, camera=0)
    assert got.report["localisation"]["locator_unused"].startswith("no locator")
    away = replace(mouse_models.rig, source={"dataset": "/nowhere"})  # only the rig carries it
    framing, found = training_framing(away, None)
    assert found.startswith("none") and framing.locator_from == "the checkpoints' rig"
    assert framing.centre_height_mm == framing.locator.centre_height_mm


def test_the_locator_places_the_mouse_and_reports_its_uncertainty(
        mouse_models, synthetic_recording, locator_file, tmp_path):
    """With a locator for this calibration, infer's one-view centre is the locator's (closer
    to the all-view centre than the plane's), with the camera's known error in report.json."""
    result = infer(tmp_path / "out", gslrm="g", mvdiff="m", recording=synthetic_recording,
                   frame=5, camera=0, locator=locator_file, sampler=FEW_STEPS, filters=FAST,
                   turntable_frames=2, turntable_size=64, progress=False, models=mouse_models)
    loc = result.report["localisation"]
    assert loc["one_view_method"] == "locator" and loc["locator_from"] == str(locator_file)
    assert loc["uncertainty_mm"]["from"] == "val" and loc["uncertainty_mm"]["mean"] > 0
    assert loc["one_view_vs_all_views_mm"] < 6.0
    assert loc["one_view_vs_all_views_mm"] < loc["plane_vs_all_views_mm"]
    assert "border_warning" not in loc
    assert "the dataset's locator (known error" in result.format()
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["localisation"]["one_view_method"] == "locator"
    assert saved["training_data"]["locator"]["from"] == str(locator_file)


def test_a_mask_on_the_image_border_is_warned_about(mouse_models, mouse_dataset,
                                                    synthetic_recording, locator_file):
    records = [json.loads(line) for line in
               (mouse_dataset / "manifest.jsonl").read_text().splitlines()]
    frame, camera = next((r["frame"], k) for r in records for k, v in enumerate(r["views"])
                         if v["mask_shape"]["border"][2] or v["mask_shape"]["border"][3])
    framing = TrainingFraming.from_dataset(mouse_dataset)
    from mouselift.data.framing.locator import OneViewLocator

    framing = framing.with_locator(OneViewLocator.load(locator_file), "test")
    got, _ = read_input(mouse_models.rig, framing, recording=synthetic_recording, frame=frame,
                        camera=camera)
    loc = got.report["localisation"]
    assert loc["one_view_method"] == "locator"
    assert "touches the image's" in loc["border_warning"] and "edge" in loc["border_warning"]


def test_a_locator_of_another_calibration_is_refused(mouse_models, synthetic_recording,
                                                     locator_file, tmp_path):
    """Given explicitly (--locator), a locator fitted for other cameras is a one-line error; the
    same locator carried implicitly only falls back (and says so)."""
    from dataclasses import replace

    from mouselift.data.framing.locator import OneViewLocator

    theirs = OneViewLocator.load(locator_file)
    moved = []
    for camera in theirs.calibration:
        w2c = np.array(camera.w2c)
        w2c[0, 3] += 5.0
        moved.append(replace(camera, w2c=w2c))
    other = replace(theirs, calibration=moved).save(tmp_path / "other.json")
    with pytest.raises(ConfigError, match="fitted for another calibration") as info:
        infer(tmp_path / "out", gslrm="g", mvdiff="m", recording=synthetic_recording, frame=5,
              camera=0, locator=other, sampler=FEW_STEPS, filters=FAST, progress=False,
              models=mouse_models)
    assert "\n" not in str(info.value)
    framing, _ = training_framing(mouse_models.rig, None)
    framing = framing.with_locator(OneViewLocator.load(other), "the checkpoints' rig")
    got, _ = read_input(mouse_models.rig, framing, recording=synthetic_recording, frame=5,
                        camera=0)
    loc = got.report["localisation"]
    assert loc["one_view_method"] == "plane"
    assert "fitted for another calibration" in loc["locator_unused"]


def test_the_pair_takes_the_locator_either_checkpoint_carries(mouse_dataset, tmp_path):
    """A Stage-1 pipeline saved before locators existed and a GS-LRM carrying one: the pair's
    rig has the GS-LRM's locator."""
    from dataclasses import replace

    rig = rig_from_dataset(mouse_dataset)
    assert rig.locator is not None
    pipeline = tiny_pipeline(tmp_path / "pipeline", replace(rig, locator=None))
    models = LiftModels.load(pipeline, tiny_gslrm(tmp_path / "gslrm", rig))
    assert models.rig.locator == rig.locator


def test_a_dataset_too_short_for_a_locator_does_not_hide_the_checkpoints_one(
        mouse_models, mouse_dataset, locator_file):
    """--dataset of a short recording (its locator has no camera model) with checkpoints whose
    rig carries a fitted locator: the checkpoints' is used."""
    from dataclasses import replace

    rig = replace(mouse_models.rig, locator=json.loads(locator_file.read_text()))
    framing, _ = training_framing(rig, mouse_dataset)
    assert framing.locator_from == "the checkpoints' rig" and framing.locator.cameras
