"""``mouselift view``: help, one-line errors, the URL, the 0.0.0.0 warning, a clean Ctrl-C."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cli_testutils import one_line_error, run_cli
from mouselift.splat import Gaussians, write_ply


@pytest.fixture
def ply(tmp_path) -> Path:
    return write_ply(tmp_path / "g.ply", Gaussians.random(40, seed=0, radius=0.5))


def test_help_has_examples(capsys):
    code, out, _ = run_cli(capsys, "view", "--help")
    assert code == 0 and "Examples" in out and "mouselift view out/fit" in out
    assert "ssh -L 8080:127.0.0.1:8080" in out and "--port" in out and "--host" in out


def test_view_is_listed(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "view" in out


def test_missing_path(capsys, tmp_path):
    code, _, err = run_cli(capsys, "view", str(tmp_path / "nope.ply"))
    one_line_error(code, err, "nope.ply", "no such file or folder")


def test_empty_folder(capsys, tmp_path):
    code, _, err = run_cli(capsys, "view", str(tmp_path))
    one_line_error(code, err, "no Gaussian PLY in this folder")


def test_not_a_gaussian_ply(capsys, tmp_path):
    path = tmp_path / "points.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n"
                    "property float y\nproperty float z\nend_header\n0 0 0\n")
    code, _, err = run_cli(capsys, "view", str(path))
    one_line_error(code, err, "points.ply", "not a Gaussian splat PLY")


def test_bad_host(capsys, ply):
    code, out, err = run_cli(capsys, "view", str(ply), "--host", "192.0.2.1", "--port", "0")
    one_line_error(code, err, "--host 192.0.2.1", "cannot listen")
    assert "40 Gaussians" in out  # the scene was read before the server failed to start


def test_bad_port(capsys, ply):
    code, _, err = run_cli(capsys, "view", str(ply), "--port", "70000")
    assert code == 2 and "--port" in err and "65535" in err


def test_all_interfaces_are_warned_about(capsys, ply, monkeypatch):
    """--host 0.0.0.0 warns on stderr; an interrupt while starting still exits cleanly."""
    import mouselift.viewer.server

    class Interrupted:
        def __init__(self, *args, **kwargs):
            raise KeyboardInterrupt

    monkeypatch.setattr(mouselift.viewer.server, "ViewerServer", Interrupted)
    # whatever SIGINT's handler was (a background job starts with it ignored), it comes back
    before = signal.getsignal(signal.SIGINT)
    code, out, err = run_cli(capsys, "view", str(ply), "--host", "0.0.0.0")
    assert code == 0 and out.endswith("viewer stopped\n")
    assert err.startswith("warning: --host 0.0.0.0 serves the viewer to every network")
    assert err.count("\n") == 1
    assert signal.getsignal(signal.SIGINT) is before  # restored


def read_line_with(process: subprocess.Popen, pattern: str, timeout: float = 120.0) -> str:
    """The first stdout line matching ``pattern`` (fails after ``timeout`` seconds)."""
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        if selector.select(timeout=1.0):
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if re.search(pattern, line):
                return line
    raise AssertionError(f"no line matching {pattern!r} in {seen!r}")


def test_serves_until_ctrl_c(ply):
    """A real process: it prints the URL, serves the page, and Ctrl-C stops it with status 0."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "mouselift", "view", str(ply), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        summary = read_line_with(process, r"Gaussians")
        assert summary.startswith("ply ") and "1 frame(s), 40 Gaussians, cameras: none" in summary
        url = re.search(r"http://127\.0\.0\.1:\d+/", read_line_with(process, r"viewer at")).group()
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.status == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out.endswith("viewer stopped\n")
    assert "Traceback" not in err and err == ""
    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=5)


def test_viser_is_imported_only_when_viewing():
    """The CLI imports the viewer (and viser) only when `view` runs: `--help` stays fast."""
    code = ("import sys, mouselift.cli.main; "
            "print('viser' in sys.modules, 'mouselift.viewer' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
