"""The rig: one definition of the target views shared by both stages."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mouselift.cameras.rig import (
    FACELIFT_PROMPT,
    Rig,
    RigError,
    RigView,
    facelift_rig,
    load_prompt_embeds,
    load_rig,
    require_same_rig,
    rig_from_cameras,
    view_direction,
)


def test_facelift_rig_geometry():
    rig = facelift_rig(512)
    assert rig.names == ["front", "front_right", "right", "back", "left", "front_left"]
    assert rig.prompts[0] == FACELIFT_PROMPT.format(view="front")
    assert (rig.width, rig.height) == (512, 512)
    azimuths = []
    for cam in rig.cameras:
        np.testing.assert_allclose(np.linalg.norm(cam.center), 2.7, atol=1e-12)
        assert abs(cam.center[2]) < 1e-12  # elevation 0
        np.testing.assert_allclose(cam.project(np.zeros((1, 3)))[0], [255.5, 255.5], atol=1e-9)
        azimuths.append(view_direction(cam, rig.cameras[0])[0])
    np.testing.assert_allclose(azimuths, [0, 45, 90, 180, 270, 315], atol=1e-9)
    half_fov = np.degrees(np.arctan(256 / rig.cameras[0].fx))
    assert np.isclose(2 * half_fov, 50.0)


def test_save_load_round_trip_and_fingerprint(tmp_path):
    rig = facelift_rig(64)
    embeds = torch.randn(6, 77, 8)
    rig.save(tmp_path / "rig", embeds)
    again = load_rig(tmp_path / "rig")
    assert again.fingerprint() == rig.fingerprint()
    assert again.names == rig.names and again.prompts == rig.prompts
    for a, b in zip(again.cameras, rig.cameras, strict=True):
        assert a.allclose(b)
    assert torch.equal(load_prompt_embeds(tmp_path / "rig", again), embeds)
    # embeddings of another rig are refused
    other = facelift_rig(128)
    with pytest.raises(RigError, match="made for another rig"):
        load_prompt_embeds(tmp_path / "rig", other)


def test_fingerprint_tracks_what_the_stages_share():
    rig = facelift_rig(64)
    renamed = Rig("another name", rig.views, "other description")
    assert renamed.fingerprint() == rig.fingerprint()
    prompts = [RigView(v.name, v.prompt.replace("color map", "photo"), v.camera)
               for v in rig.views]
    assert Rig("x", tuple(prompts)).fingerprint() != rig.fingerprint()
    world_turned = rig_from_cameras(
        [v.camera.with_w2c(v.camera.w2c @ _rot_x(5.0)) for v in rig.views],
        name="turned", names=rig.names, prompts=rig.prompts)
    assert world_turned.fingerprint() == rig.fingerprint()  # only relative poses count
    one_moved = rig_from_cameras(
        [rig.cameras[0]] + [c.with_w2c(c.w2c @ _rot_x(5.0)) for c in rig.cameras[1:]],
        name="tilted", names=rig.names, prompts=rig.prompts)
    assert one_moved.fingerprint() != rig.fingerprint()
    assert rig.resized(128).fingerprint() != rig.fingerprint()


def _rot_x(deg: float) -> np.ndarray:
    a = np.radians(deg)
    m = np.eye(4)
    m[1:3, 1:3] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return m


def test_mismatch_error_names_both_sides():
    with pytest.raises(RigError) as info:
        require_same_rig(facelift_rig(64), "stage 1 runs/mvd", facelift_rig(128), "stage 2 x.pt")
    message = str(info.value)
    assert "stage 1 runs/mvd" in message and "stage 2 x.pt" in message
    assert "64×64 vs 128×128" in message
    require_same_rig(facelift_rig(64), "a", facelift_rig(64), "b")  # equal: no error


def test_invalid_rigs():
    rig = facelift_rig(64)
    dup = (rig.views[0], RigView("other", rig.views[0].prompt, rig.views[1].camera))
    with pytest.raises(RigError, match="share the prompt"):
        Rig("dup", dup)
    mixed = (rig.views[0], RigView("big", "p", rig.resized(128).views[1].camera))
    with pytest.raises(RigError, match="one resolution"):
        Rig("mixed", mixed)
    with pytest.raises(RigError, match="not a mouselift rig"):
        Rig.from_dict({"format": "x"})


@settings(max_examples=40, deadline=None)
@given(size=st.integers(16, 1024), x=st.floats(-0.8, 0.8), y=st.floats(-0.8, 0.8),
       z=st.floats(-0.8, 0.8))
def test_resized_rig_keeps_points_on_their_pixels(size, x, y, z):
    """Project → resize the rig → re-project: pixel edges scale, u' = (u + 0.5)·s − 0.5."""
    rig = facelift_rig(64)
    small = rig.resized(size)
    point = np.array([[x, y, z]])
    scale = size / 64
    for a, b in zip(rig.cameras, small.cameras, strict=True):
        np.testing.assert_allclose(b.project(point), (a.project(point) + 0.5) * scale - 0.5,
                                   rtol=1e-9, atol=1e-7)


def test_rig_from_dataset(mouse_dataset):
    from mouselift.cameras.facelift import read_opencv_cameras
    from mouselift.cameras.rig import rig_from_dataset

    rig = rig_from_dataset(mouse_dataset, reference_view=2)
    assert rig.names[0] == "cam_002" and sorted(rig.names) == [f"cam_{i:03d}" for i in range(6)]
    assert len(set(rig.prompts)) == 6
    # the cameras of every frame are one rigid rig: relative rotations agree with any sample's
    sample = read_opencv_cameras(mouse_dataset / "sample_000000" / "opencv_cameras.json")
    order = [int(n[-3:]) for n in rig.names]
    ours = rig.relative_poses()
    for k, i in enumerate(order):
        rel = sample[i].w2c[:3, :3] @ sample[order[0]].w2c[:3, :3].T
        np.testing.assert_allclose(ours[k][:3, :3], rel, atol=1e-6)
    assert rig.source["reference_view"] == "cam_002"
    assert json.loads(json.dumps(rig.to_dict()))["views"][0]["name"] == "cam_002"
