"""The viewer in a real browser: Debian's headless ``chromium``, WebGL in software.

The page loads, the splats are drawn (in their colour, unlike an empty scene's picture, not one
colour), the frame slider — moved with the keyboard in the page — changes the picture, and the
cameras are drawn. Screenshots are kept in the test's temporary folder and in
``out/test-artifacts/viewer/`` (git-ignored).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from browser_testutils import CHROMIUM, Browser, changed_fraction, save_png
from viewer_testutils import BROWN, PINK

from mouselift.splat import Gaussians, write_ply
from mouselift.viewer import ViewerServer, load_scene
from mouselift.viewer.server import FRUSTUM_COLOURS, HIDDEN, REAL

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                       "(apt-get install chromium; .ci/run installs it)"),
]

ARTIFACTS = Path(__file__).resolve().parents[2] / "out" / "test-artifacts" / "viewer"


@pytest.fixture(scope="module")
def browser():
    with Browser(1024, 768) as page:
        yield page


def keep(image: np.ndarray, name: str, tmp_path: Path) -> None:
    save_png(image, tmp_path / name, ARTIFACTS / name)


def open_viewer(browser: Browser, server: ViewerServer, text: str) -> np.ndarray:
    """Load the viewer, wait for ``text`` in the panel, return the settled picture."""
    browser.open(server.url)
    browser.wait_for(f"document.body.innerText.includes({json.dumps(text)})")
    browser.dismiss_notifications()
    return browser.settled_screenshot()


def share_of(image: np.ndarray, rgb, tolerance: int = 24) -> float:
    """Fraction of pixels within ``tolerance`` (per channel) of a colour (floats in [0, 1] or
    0–255 integers)."""
    target = np.array([c * 255 if isinstance(c, float) else c for c in rgb])
    return float((np.abs(image.astype(np.int16) - target).max(axis=-1) <= tolerance).mean())


def without_axes(image: np.ndarray) -> np.ndarray:
    """The picture with viser's axes widget (bottom-left corner; its z axis is blue) whited."""
    out = image.copy()
    out[-100:, :100] = 255
    return out


def assert_not_blank(image: np.ndarray) -> None:
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 50 and image.std() > 10


def test_splats_are_drawn_and_the_frame_slider_changes_them(browser, sequence_dir, tmp_path):
    empty = tmp_path / "empty.ply"
    write_ply(empty, Gaussians.empty())
    with ViewerServer(load_scene(empty), port=0) as server:
        nothing = open_viewer(browser, server, "0 Gaussians")
    keep(nothing, "empty.png", tmp_path)
    assert share_of(nothing, BROWN) < 1e-4 and share_of(nothing, PINK) < 1e-4

    with ViewerServer(load_scene(sequence_dir), port=0) as server:
        first = open_viewer(browser, server, "1500 Gaussians")
        keep(first, "frame_0.png", tmp_path)
        assert "mouselift view" in browser.text() and "frame 1 / 2" in browser.text()
        assert_not_blank(first)
        assert changed_fraction(first, nothing) > 0.05
        assert share_of(first, BROWN) > 0.02 and share_of(first, PINK) < 1e-3

        assert browser.evaluate("(() => { const s = document.querySelector('[role=slider]');"
                                " s.focus(); return document.activeElement === s; })()")
        browser.press("ArrowRight", 39)
        deadline = time.monotonic() + 30
        while server.frame_index != 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.frame_index == 1, "the page's slider did not reach the server"
        browser.wait_for("document.body.innerText.includes('1200 Gaussians')")
        second = browser.settled_screenshot()
        keep(second, "frame_1.png", tmp_path)
    assert_not_blank(second)
    assert changed_fraction(first, second) > 0.05
    assert share_of(second, PINK) > 0.02 and share_of(second, BROWN) < 1e-3


def test_cameras_are_drawn_with_their_images(browser, sample, fit_dir, tmp_path):
    with ViewerServer(load_scene(sample, fit=fit_dir), port=0) as server:
        shown = open_viewer(browser, server, "300 Gaussians")
        keep(shown, "sample_fit.png", tmp_path)
        assert "train.psnr" in browser.text() and "21.25" in browser.text()
        server.show_views(HIDDEN)
        hidden = browser.settled_screenshot()
        keep(hidden, "sample_fit_no_cameras.png", tmp_path)
    assert_not_blank(shown)
    assert changed_fraction(shown, hidden) > 0.002
    blue = FRUSTUM_COLOURS[REAL]
    assert share_of(without_axes(shown), blue, 40) > 5e-4
    assert share_of(without_axes(hidden), blue, 40) == 0.0
