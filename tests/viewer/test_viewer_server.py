"""``ViewerServer`` without a browser: binding, the page, frames, views, playback, stopping."""

from __future__ import annotations

import contextlib
import re
import socket
import time
import types
import urllib.request

import numpy as np
import pytest
from viewer_testutils import write_infer_folder

from mouselift.errors import ConfigError
from mouselift.splat import Gaussians, write_ply
from mouselift.viewer import GENERATED, REAL, ViewerServer, browser_url, load_scene
from mouselift.viewer.server import HIDDEN, _look_through, check_host


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def refuses(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_serves_the_page_and_stops(sequence_dir):
    scene = load_scene(sequence_dir)
    server = ViewerServer(scene, port=0)
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/"
        with urllib.request.urlopen(server.url, timeout=10) as response:
            assert response.status == 200
            assert b"<html" in response.read(4096).lower()
    finally:
        server.stop()
    assert refuses(server.port)
    server.stop()  # idempotent


def test_frames_and_playback(sequence_dir):
    with ViewerServer(load_scene(sequence_dir), port=0, fps=50) as server:
        assert server.frame_index == 0 and server.frame_error is None
        assert server._splats is not None and server._slider.value == 0
        server.show_frame(1)
        assert server.frame_index == 1 and server._slider.value == 1
        assert "frame **2 / 2**: `frame_10`" in server._info.content
        assert "**1200** Gaussians" in server._info.content
        server._slider.value = 0  # as the browser's slider does
        assert server.frame_index == 0
        server.show_frame(7)
        assert server.frame_index == 1  # clamped
        server.play()
        assert server.playing and server._play_button.label == "Pause"
        seen = set()
        assert wait_until(lambda: seen.add(server.frame_index) or seen == {0, 1})
        server.play(False)
        assert not server.playing and server._play_button.label == "Play"


def test_a_frame_that_cannot_be_read(sequence_dir):
    (sequence_dir / "frame_99.ply").write_text("not a ply")
    with ViewerServer(load_scene(sequence_dir), port=0) as server:
        server.show_frame(1)
        server.show_frame(2)
        assert server.frame_index == 2 and "not a PLY file" in server.frame_error
        assert "cannot show this frame" in server._info.content
        assert server._splats is not None  # frame 1's splats stay
        server.show_frame(0)
        assert server.frame_error is None


def test_switching_views(sample, tmp_path):
    scene = load_scene(write_infer_folder(tmp_path / "infer", {"psnr": 20.0}), sample=sample)
    with ViewerServer(scene, port=0) as server:
        assert server.views_shown == REAL
        assert server._views_dropdown.options == (REAL, GENERATED, HIDDEN)
        assert [len(server._frustums[k]) for k in (REAL, GENERATED)] == [7, 3]
        assert all(h.visible for h in server._frustums[REAL])
        assert not any(h.visible for h in server._frustums[GENERATED])
        server._views_dropdown.value = GENERATED  # as the browser's dropdown does
        assert server.views_shown == GENERATED
        assert all(h.visible for h in server._frustums[GENERATED])
        assert not any(h.visible for h in server._frustums[REAL])
        server.show_views(HIDDEN)
        assert server.views_shown is None and server._views_dropdown.value == HIDDEN
        assert not any(h.visible for hs in server._frustums.values() for h in hs)
        with pytest.raises(ValueError, match="no 'other' views"):
            server.show_views("other")
        assert "| psnr | 20 |" in server._info.content


def test_a_single_ply_has_no_frame_controls(fit_dir):
    with ViewerServer(load_scene(fit_dir / "gaussians.ply"), port=0) as server:
        assert server._slider is None and server._play_button is None
        assert server._views_dropdown is None and server._frustums == {}
        server.play()
        assert not server.playing


def test_a_taken_port_moves_on(fit_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with ViewerServer(load_scene(fit_dir / "gaussians.ply"), port=port) as server:
            assert server.port != port and server.port > 0


def test_bad_hosts():
    unknown = re.escape("--host no-such-host.invalid: unknown address")
    with pytest.raises(ConfigError, match=unknown):
        check_host("no-such-host.invalid")
    with pytest.raises(ConfigError, match=re.escape("--host 192.0.2.1: cannot listen")):
        check_host("192.0.2.1")  # TEST-NET-1: never an address of this machine
    check_host("127.0.0.1")


def test_bad_fps(fit_dir):
    with pytest.raises(ConfigError, match="--fps 0"):
        ViewerServer(load_scene(fit_dir / "gaussians.ply"), port=0, fps=0)


def test_browser_url():
    assert browser_url("127.0.0.1", 8080) == "http://127.0.0.1:8080/"
    assert browser_url("0.0.0.0", 8080) == "http://127.0.0.1:8080/"
    assert browser_url("::", 81) == "http://[::1]:81/"
    assert browser_url("fe80::1", 81) == "http://[fe80::1]:81/"
    assert browser_url("gpu-server", 81) == "http://gpu-server:81/"


def test_clicking_a_frustum_looks_through_it():
    """viser keeps the orientation when the position is set after it (its camera handle moves
    look_at along), so the callback sets ``wxyz`` first."""
    calls = []

    class Camera:
        def __setattr__(self, name, value):
            calls.append((name, tuple(value)))

    class Client:
        camera = Camera()

        @contextlib.contextmanager
        def atomic(self):
            calls.append(("atomic", ()))
            yield

    callback = _look_through(np.array([1.0, 0, 0, 0]), np.array([0.0, -2.7, 0]))
    callback(types.SimpleNamespace(client=Client()))
    assert calls == [("atomic", ()), ("wxyz", (1.0, 0, 0, 0)), ("position", (0.0, -2.7, 0))]
    callback(types.SimpleNamespace(client=None))  # no browser: nothing to move
    assert len(calls) == 3


def test_an_empty_frame_removes_the_splats(sequence_dir):
    write_ply(sequence_dir / "frame_50.ply", Gaussians.empty())
    with ViewerServer(load_scene(sequence_dir), port=0) as server:
        assert server._splats is not None
        server.show_frame(2)
        assert server._splats is None and "**0** Gaussians" in server._info.content
        server.show_frame(0)
        assert server._splats is not None
