"""Turntable videos and view grids: right size, frame count, and the object is on screen."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mouselift.cameras import orbit_cameras
from mouselift.data.video import VideoReader, probe_video
from mouselift.splat import Gaussians
from mouselift.splat.turntable import (
    framing_radius,
    render_grid,
    render_views,
    turntable_cameras,
    write_turntable,
)


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


def bar_along(axis: int, n: int = 200) -> Gaussians:
    """Opaque dark Gaussians on a segment of length 1.2 along world ``axis``, at the origin."""
    means = torch.zeros(n, 3)
    means[:, axis] = torch.linspace(-0.6, 0.6, n)
    return Gaussians.from_activated(
        means=means,
        scales=torch.full((n, 3), 0.03),
        rotations=torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1),
        opacities=torch.full((n,), 0.95),
        colors=torch.full((n, 3), 0.1),
    )


def _extent(image: np.ndarray) -> tuple[int, int]:
    """(rows, columns) spanned by the dark pixels."""
    rows, cols = np.nonzero(image.min(axis=-1) < 128)
    return int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1


def test_up_axis_is_upright_in_the_image():
    """A bar along world y stands upright with up='y' and lies flat with up='z'."""
    g = bar_along(1)
    (upright,) = render_views(g, turntable_cameras(1, elevation_deg=0.0, size=64, up="y"))
    h, w = _extent(upright)
    assert h > 3 * w
    (flat,) = render_views(g, turntable_cameras(1, elevation_deg=0.0, size=64, up="z"))
    h, w = _extent(flat)
    assert w > 3 * h


def test_auto_field_of_view_frames_the_gaussians():
    g = bar_along(2)  # 1.2 long (+ 2σ at the ends) along z, the up axis
    radius = framing_radius(g)
    assert 0.6 < radius < 0.7
    (image,) = render_views(g, turntable_cameras(1, elevation_deg=0.0, size=64, fov_deg=None,
                                                 frame_radius=radius))  # fmt: skip
    h, _ = _extent(image)
    assert 0.7 * 64 < h < 0.95 * 64  # fills the frame up to the 15 % margin
    (small,) = render_views(g, turntable_cameras(1, elevation_deg=0.0, size=64))  # 50° FOV
    assert _extent(small)[0] < 0.7 * h


def test_background_colour_and_odd_sizes(tmp_path):
    (image,) = render_views(bar_along(0), turntable_cameras(1, size=32), background=(0, 0, 1))
    assert (image[0, 0] == [0, 0, 255]).all()
    with pytest.raises(ValueError, match="even"):
        write_turntable(bar_along(0), tmp_path / "odd.mp4", frames=2, size=(33, 32))
    assert not list(tmp_path.iterdir())


def test_render_grid_with_cameras_of_different_sizes():
    cams = [
        *orbit_cameras(1, radius=2.7, elevation_deg=10.0, width=32, height=24, fov_deg=50.0),
        *orbit_cameras(1, radius=2.7, elevation_deg=10.0, width=16, height=40, fov_deg=50.0),
    ]
    sheet = render_grid(blob(), cams, background=(0.0, 0.0, 0.0))
    assert sheet.size == (2 * 32, 40)  # cells as large as the largest image
    with pytest.raises(ValueError, match="targets"):
        render_grid(blob(), cams, targets=np.zeros((1, 24, 32, 3), dtype=np.uint8))
