"""The rig: one definition of the target views shared by both stages."""

from __future__ import annotations

import itertools

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

#: FaceLift's cameras (its utils_folder/opencv_cameras.json, frames in the order [2, 1, 0, 5, 4, 3]
#: that its inference.py takes): name, centre, w2c rotation rows. Facts from FaceLift's data file.
S = 0.70710678
FACELIFT_TABLE = [
    ("front", (0, -2.7, 0), [(1, 0, 0), (0, 0, -1), (0, 1, 0)]),
    ("front_right", (-1.909188, -1.909188, 0), [(S, -S, 0), (0, 0, -1), (S, S, 0)]),
    ("right", (-2.7, 0, 0), [(0, -1, 0), (0, 0, -1), (1, 0, 0)]),
    ("back", (0, 2.7, 0), [(-1, 0, 0), (0, 0, -1), (0, -1, 0)]),
    ("left", (2.7, 0, 0), [(0, 1, 0), (0, 0, -1), (-1, 0, 0)]),
    ("front_left", (1.909188, -1.909188, 0), [(S, S, 0), (0, 0, -1), (-S, S, 0)]),
]
#: FaceLift's stored fx = fy = 548.9937744140625 and cx = cy = 256 (pixel centres at +0.5).
FACELIFT_FX, FACELIFT_CX_JSON = 548.9937744140625, 256.0


def test_facelift_rig_equals_facelift_cameras():
    rig = facelift_rig(512)
    assert rig.names == [name for name, _, _ in FACELIFT_TABLE]
    assert rig.prompts[0] == FACELIFT_PROMPT.format(view="front")
    assert rig.prompts[1] == "a rendering image of 3D models, front_right view, color map."
    assert (rig.width, rig.height) == (512, 512)
    for cam, (name, centre, rows) in zip(rig.cameras, FACELIFT_TABLE, strict=True):
        np.testing.assert_allclose(cam.center, centre, atol=1e-3, err_msg=name)
        np.testing.assert_allclose(cam.w2c[:3, :3], rows, atol=1e-3, err_msg=name)
        np.testing.assert_allclose([cam.fx, cam.fy, cam.cx + 0.5, cam.cy + 0.5, cam.skew],
                                   [FACELIFT_FX, FACELIFT_FX, FACELIFT_CX_JSON,
                                    FACELIFT_CX_JSON, 0.0], rtol=0, atol=1e-9)
        np.testing.assert_allclose(cam.project(np.zeros((1, 3)))[0], [255.5, 255.5], atol=1e-9)


def test_facelift_rig_relative_poses_equal_facelift_cameras():
    """``w2c_v @ c2w_0`` from the table: the quantity the fingerprint and Stage 1 use."""
    def w2c(centre, rows):
        m = np.eye(4)
        m[:3, :3] = rows
        m[:3, 3] = -np.asarray(rows, dtype=float) @ np.asarray(centre, dtype=float)
        return m
    table = [w2c(c, r) for _, c, r in FACELIFT_TABLE]
    expected = np.stack([m @ np.linalg.inv(table[0]) for m in table])
    np.testing.assert_allclose(facelift_rig(512).relative_poses(), expected, atol=1e-3)


def test_facelift_views_turn_clockwise_from_above():
    """The subject faces the front camera; its right is world −X: front → front_right → right
    turns clockwise seen from above (the cross product of successive centres points down)."""
    centres = [c.center for c in facelift_rig(64).cameras]
    for a, b in itertools.pairwise(centres[:3]):
        assert np.cross(a, b)[2] < 0
    azimuths = [view_direction(cam, facelift_rig(64).cameras[0])[0]
                for cam in facelift_rig(64).cameras]
    np.testing.assert_allclose(azimuths, [0, 45, 90, 180, 270, 315], atol=1e-9)
    half_fov = np.degrees(np.arctan(256 / facelift_rig(512).cameras[0].fx))
    assert np.isclose(2 * half_fov, 50.0, atol=1e-6)


def test_direction_words_use_facelift_handedness():
    """Prompts derived from camera positions name FaceLift's cameras with FaceLift's words."""
    rig = facelift_rig(64)
    derived = rig_from_cameras(rig.cameras, name="derived")
    words = [p.split(", ")[1].removesuffix(" view") for p in derived.prompts]
    assert words == [n.replace("_", " ") for n in rig.names]


def test_mirrored_facelift_rig_from_an_old_version_is_refused(tmp_path):
    """mouselift 0.1 saved FaceLift's rig mirrored (counter-clockwise); such a file must not
    load as FaceLift's rig."""
    rig = facelift_rig(64)
    mirror = np.diag([1.0, -1.0, 1.0, 1.0])  # reflect the world in the XZ plane …
    flip_x = np.diag([-1.0, 1.0, 1.0, 1.0])  # … and the image x axis, to keep a rotation
    views = tuple(RigView(v.name, v.prompt, v.camera.with_w2c(flip_x @ v.camera.w2c @ mirror))
                  for v in rig.views)
    old = Rig("facelift", views, rig.description, {"kind": "facelift"})
    assert old.fingerprint() != rig.fingerprint()
    old.save(tmp_path / "old")
    with pytest.raises(RigError, match="not FaceLift's"):
        load_rig(tmp_path / "old")
    rig.save(tmp_path / "new")
    assert load_rig(tmp_path / "new").fingerprint() == rig.fingerprint()


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
