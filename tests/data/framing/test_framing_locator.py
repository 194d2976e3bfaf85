"""The one-view locator (``mouselift.data.framing.locator``) and the mask shapes it learns from
(``mouselift.data.framing.mask_shape``)."""

from __future__ import annotations

import json
from dataclasses import replace

import cv2
import numpy as np
import pytest

from mouselift.cameras.rig import LOCATOR_FILE
from mouselift.data.framing.locate import ray_plane_point
from mouselift.data.framing.locator import (
    LOCATOR_VERSION,
    MIN_FRAMES,
    Cues,
    LocatorError,
    OneViewLocator,
    Ridge,
    fit_locator,
    fuse_cues,
    score_one_view,
    shape_frame,
    summarize_scores,
)
from mouselift.data.framing.mask_shape import MaskShape, mask_shape
from mouselift.data.recording import Recording

#: The known mouse's held-out frames: each camera's mean error must stay below this (measured
#: 0.5–2.4 mm) and below a third of the plane method's (measured 6–23 mm).
HELD_OUT_MEAN_MM = 4.0


def _ellipse(width=200, height=160, centre=(90, 80), axes=(40, 15), angle=30.0):
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, centre, axes, angle, 0, 360, 255, -1)
    return mask


def test_shape_of_an_ellipse():
    """Area, centroid and second moments of a filled ellipse (a²/4 and b²/4 along its axes;
    OpenCV draws the outline pixels too: a, b + ½)."""
    a, b = 40.5, 15.5
    shape = mask_shape(_ellipse(angle=30.0))
    assert shape is not None
    assert shape.area == pytest.approx(np.pi * a * b, rel=0.02)
    assert np.allclose(shape.centroid, (90, 80), atol=0.05)
    xx, yy, xy = shape.second
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    rot = np.array([[c, -s], [s, c]])
    expected = rot @ np.diag([a ** 2 / 4, b ** 2 / 4]) @ rot.T
    assert np.allclose([[xx, xy], [xy, yy]], expected, rtol=0.05, atol=2.0)
    frame = shape_frame(shape)
    assert abs(abs(frame.e1 @ rot[:, 0]) - 1) < 1e-3  # the major axis
    assert frame.l1 == pytest.approx(a / 2, rel=0.03) and frame.l2 == pytest.approx(b / 2,
                                                                                   rel=0.05)
    assert shape.border == (False, False, False, False) and not shape.touches_border
    assert np.allclose(shape.core, (90, 80), atol=0.3) and shape.core_radius == pytest.approx(
        15, abs=1.0)
    assert mask_shape(np.zeros((10, 10), np.uint8)) is None


def test_the_core_ignores_a_thin_tail_and_the_frame_turns_with_the_mask():
    """A tail pulls the centroid and skews the mask; the core stays on the body; the principal
    axis points to the skewed side, so a mirrored mask gets a mirrored frame."""
    mask = _ellipse(angle=0.0)
    cv2.line(mask, (130, 80), (190, 80), 255, 2)  # the tail, to the right
    shape = mask_shape(mask)
    assert shape.centroid[0] > 92  # pulled right
    assert abs(shape.core2[0] - 90) < 0.5 * abs(shape.centroid[0] - 90)
    frame = shape_frame(shape)
    assert frame.e1[0] > 0.99  # towards the tail
    mirrored = shape_frame(mask_shape(mask[:, ::-1]))
    assert mirrored.e1[0] < -0.99


def test_shapes_say_which_border_they_touch_and_round_trip():
    mask = _ellipse(centre=(20, 150), axes=(40, 15), angle=0.0)  # cut on the left and bottom
    shape = mask_shape(mask)
    assert shape.border_sides == ["left", "bottom"] and shape.touches_border
    data = json.loads(json.dumps(shape.to_dict()))
    again = MaskShape.from_dict(data)
    assert again.area == shape.area and again.border == shape.border
    assert np.allclose(again.centroid, shape.centroid, atol=1e-4)
    with pytest.raises(ValueError, match="not a mask shape"):
        MaskShape.from_dict({**data, "centroid": [1.0]})


def test_ridge_recovers_a_linear_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * [1, 10, 0.1, 3, 5] + [0, 5, 1, -2, 0]
    y = x @ rng.normal(size=(5, 2)) + [3.0, -1.0]
    model = Ridge.fit(x, y, 1e-8)
    assert np.allclose(model(x), y, atol=1e-6)
    again = Ridge.from_dict(json.loads(json.dumps(model.to_dict())))
    assert np.allclose(again(x), y, atol=1e-6)


def test_cues_that_agree_give_their_point(known_mouse):
    """The fused point of exact cues is the point; with a height cue 5 mm off, sharp pixel and
    depth cues keep it within a fraction of a millimetre."""
    camera = known_mouse.cameras[0]
    point = np.array([60.0, 50.0, 18.0])
    pixel = camera.project(point[None])[0]
    depth = float(camera.w2c[2, :3] @ point + camera.w2c[2, 3])
    sigma = {"lateral": 1.0, "depth": 1.0, "height": 1.0}
    assert np.allclose(fuse_cues(camera, Cues(pixel, depth, 18.0), sigma), point, atol=1e-6)
    sharp = {"lateral": 0.1, "depth": 0.1, "height": 10.0}
    off = fuse_cues(camera, Cues(pixel, depth, 23.0), sharp)
    assert np.linalg.norm(off - point) < 0.2


@pytest.fixture(scope="module")
def known_locator(known_mouse):
    return fit_locator(known_mouse.cameras, known_mouse.train, threshold=127,
                       val=known_mouse.test, source={"dataset": "known mouse"})


def test_locator_recovers_held_out_centres_of_a_known_mouse(known_mouse, known_locator):
    """Fitted on 64 frames of a synthetic mouse whose body centre is known, the locator places
    the 16 held-out frames' centres within a few mm from each camera alone — several times
    closer than the plane method."""
    assert sorted(known_locator.cameras) == list(range(6))
    summary = summarize_scores(
        score_one_view(known_locator, known_mouse.cameras, known_mouse.test), 6)
    for camera, groups in summary.items():
        whole = groups["whole"]
        assert whole["n"] >= 5, camera
        assert whole["locator"]["mean"] < HELD_OUT_MEAN_MM, (camera, whole)
        assert whole["locator"]["mean"] < whole["plane"]["mean"] / 3, (camera, whole)
        known = known_locator.cameras[camera].uncertainty
        assert known["from"] == "val" and known["n"] == whole["n"]
        assert known["mean"] == pytest.approx(whole["locator"]["mean"], abs=1e-3)


def test_save_and_load_give_the_same_centres(known_mouse, known_locator, tmp_path):
    path = known_locator.save(tmp_path / LOCATOR_FILE)
    loaded = OneViewLocator.load(tmp_path)  # the folder holding it
    assert loaded.to_dict() == json.loads(path.read_text())
    for obs in known_mouse.test[:12]:
        camera = known_mouse.cameras[obs.camera]
        a = known_locator.locate(obs.camera, camera, obs.shape).centre
        b = loaded.locate(obs.camera, camera, obs.shape).centre
        assert np.allclose(a, b, atol=1e-9)
    data = json.loads(path.read_text())
    for change, fragment in (({"version": LOCATOR_VERSION + 1}, "unsupported locator version"),
                             ({"format": "x"}, "not a mouselift locator"),
                             ({"features": ["u"]}, "other features"),
                             ({"cameras": [{"camera": 0}]}, "malformed")):
        (tmp_path / "bad.json").write_text(json.dumps({**data, **change}))
        with pytest.raises(LocatorError, match=fragment):
            OneViewLocator.load(tmp_path / "bad.json")


def test_a_locator_of_another_rig_is_refused(known_mouse, known_locator, synthetic_recording):
    """The suite recording's calibration is the one the locator was fitted for; a camera moved
    by a millimetre, another resolution or a camera it never saw is refused in one line."""
    recording = Recording.open(synthetic_recording)
    shape = known_mouse.test[0].shape
    for k, camera in enumerate(recording.cameras):
        assert known_locator.check(k, camera).camera == k
    camera = recording.cameras[0]
    w2c = np.array(camera.w2c, dtype=np.float64)
    w2c[0, 3] += 1.0  # 1 mm
    moved = replace(camera, w2c=w2c)
    refusals = ((0, moved, "fitted for another calibration"),
                (0, camera.resize(288, 256), "fitted for another calibration"),
                (6, camera, "calibration of 6 cameras"))
    for index, other, fragment in refusals:
        with pytest.raises(LocatorError, match=fragment) as info:
            known_locator.locate(index, other, shape)
        assert "\n" not in str(info.value)


def test_a_camera_with_too_few_frames_has_no_locator(known_mouse):
    few = [o for o in known_mouse.train if o.camera != 2 or o.frame < 10]
    locator = fit_locator(known_mouse.cameras, few, threshold=127)
    assert 2 not in locator.cameras and f"needs {MIN_FRAMES}" in locator.unavailable[2]
    with pytest.raises(LocatorError, match="no model for camera 2"):
        locator.check(2, known_mouse.cameras[2])
    assert locator.cameras[0].uncertainty["from"] == "cross-validation"
    with pytest.raises(LocatorError, match="no training frames"):
        fit_locator(known_mouse.cameras, [], threshold=127)


def test_the_plane_point_is_on_the_ray_and_the_plane(known_mouse):
    camera = known_mouse.cameras[1]
    pixel = np.array([300.0, 260.0])
    point, distance = ray_plane_point(camera, pixel, 18.0)
    assert point[2] == pytest.approx(18.0)
    assert np.allclose(camera.project(point[None])[0], pixel, atol=1e-6)
    assert distance == pytest.approx(np.linalg.norm(point - camera.center))
    assert ray_plane_point(camera, pixel, camera.center[2] + 100.0) is None
