"""Turntable videos and view grids: right size, frame count, and the object is on screen."""

from __future__ import annotations

import numpy as np
import torch

from mouselift.cameras import orbit_cameras
from mouselift.data.video import VideoReader, probe_video
from mouselift.splat import Gaussians
from mouselift.splat.turntable import render_grid, turntable_cameras, write_turntable


def blob(n: int = 400) -> Gaussians:
    """A small, opaque, red ball of Gaussians at the origin."""
    g = Gaussians.random(n, seed=1, radius=0.3)
    return Gaussians.from_activated(
        means=g.means,
        scales=torch.full((n, 3), 0.05),
        rotations=g.rotations,
        opacities=torch.full((n,), 0.9),
        colors=torch.tensor([[0.9, 0.1, 0.1]]).repeat(n, 1),
    )


def test_turntable_cameras_orbit_the_target_at_the_given_elevation():
    cams = turntable_cameras(8, radius=2.7, elevation_deg=30.0, size=(64, 48))
    assert len(cams) == 8 and all((c.width, c.height) == (64, 48) for c in cams)
    centres = np.array([c.center for c in cams])
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.7, atol=1e-9)
    np.testing.assert_allclose(centres[:, 2], 2.7 * np.sin(np.radians(30.0)), atol=1e-9)
    for cam in cams:  # the target is in the middle of every frame
        np.testing.assert_allclose(cam.project(np.zeros((1, 3)))[0], [31.5, 23.5], atol=1e-6)


def test_turntable_video_has_every_frame_and_shows_the_object(tmp_path):
    path = write_turntable(blob(), tmp_path / "t.mp4", frames=12, fps=24, size=64)
    info = probe_video(path)
    assert (info.width, info.height, info.num_frames) == (64, 64, 12)
    assert info.fps == 24 and info.codec == "h264"
    with VideoReader(path) as reader:
        for _, frame in reader.frames():
            red = (frame[..., 0] > 150) & (frame[..., 1] < 100)
            white = frame.min(axis=-1) > 200
            assert 0.05 < red.mean() < 0.6  # the ball, centred, not filling the frame
            assert white.mean() > 0.3  # white background around it
            assert red[28:36, 28:36].all()


def test_render_grid_layout_with_targets():
    cams = orbit_cameras(3, radius=2.7, elevation_deg=10.0, width=32, height=24, fov_deg=50.0)
    targets = np.zeros((3, 24, 32, 3), dtype=np.uint8)
    sheet = render_grid(blob(), cams, columns=2, targets=targets)
    assert sheet.size == (2 * 32, 2 * 2 * 24)  # 2 rows of views, each with a target row
    pixels = np.asarray(sheet)
    assert pixels[24:48, 0:32].max() == 0  # the first target row holds the (black) targets
    assert (pixels[0:24, 0:32, 0] > 150).any()  # the first render shows the red ball
