"""``mouselift fit`` and ``mouselift turntable``: help, a tiny end-to-end run, one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from cli_testutils import one_line_error, run_cli
from mouselift.cli.main import main
from mouselift.data.video import probe_video


@pytest.fixture(scope="module")
def sample(mouse_dataset) -> Path:
    return mouse_dataset / "sample_000000"


@pytest.fixture(scope="module")
def fitted(sample, tmp_path_factory) -> Path:
    """``mouselift fit SAMPLE OUT --config tiny --holdout 2`` (a few seconds)."""
    out = tmp_path_factory.mktemp("cli_fit_out") / "fit"
    with pytest.raises(SystemExit) as info:
        main(["fit", str(sample), str(out), "--config", "tiny", "--holdout", "2", "-q"])
    assert info.value.code in (0, None)
    return out


@pytest.mark.parametrize("command", ["fit", "turntable"])
def test_help_has_examples(capsys, command):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0 and "Examples" in out and f"mouselift {command}" in out


def test_fit_writes_every_output(fitted):
    assert sorted(p.name for p in fitted.iterdir()) == [
        ".mouselift-result.json", "gaussians.ply", "metrics.json", "turntable.mp4", "views.png",
    ]  # fmt: skip
    metrics = json.loads((fitted / "metrics.json").read_text())
    assert metrics["steps"] == 30  # mouselift/configs/fit/tiny.yaml
    assert metrics["train"]["num_views"] == 5
    assert metrics["held_out"]["source"] == "training view 2"
    assert metrics["held_out"]["per_view"][0]["view"] == "images/cam_002.png"
    info = probe_video(fitted / "turntable.mp4")
    assert (info.width, info.height, info.num_frames) == (64, 64, 8)


def test_turntable_video_and_grid(capsys, fitted, sample, tmp_path):
    video, grid = tmp_path / "orbit.mp4", tmp_path / "grid.png"
    code, out, _ = run_cli(
        capsys, "turntable", str(fitted / "gaussians.ply"), str(video), "--frames", "6",
        "--size", "48x32", "--elevation", "35", "--bg", "black", "--fov", "40",
        "--grid", str(sample / "opencv_cameras.json"), str(grid), "--columns", "3", "-q",
    )  # fmt: skip
    assert code in (0, None), out
    info = probe_video(video)
    assert (info.width, info.height, info.num_frames) == (48, 32, 6)
    with Image.open(grid) as sheet:
        assert sheet.size == (3 * 64, 2 * 64)  # 6 views of 64×64 in rows of 3
    assert "wrote" in out


def test_turntable_grid_only(capsys, fitted, sample, tmp_path):
    grid = tmp_path / "g.png"
    cameras = str(sample / "opencv_cameras.json")
    code, _, _ = run_cli(
        capsys, "turntable", str(fitted / "gaussians.ply"), "--grid", cameras, str(grid), "-q"
    )
    assert code in (0, None)
    with Image.open(grid) as sheet:
        assert sheet.size == (6 * 64, 64)
    assert not list(tmp_path.glob("*.mp4"))


def test_missing_sample_dir(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code, _, err = run_cli(capsys, "fit", str(missing), str(tmp_path / "out"), "-q")
    one_line_error(code, err, str(missing), "sample folder not found")
    assert not (tmp_path / "out").exists()


def test_sample_without_cameras_json(capsys, sample, tmp_path):
    broken = tmp_path / "sample"
    shutil.copytree(sample, broken)
    (broken / "opencv_cameras.json").unlink()
    code, _, err = run_cli(capsys, "fit", str(broken), str(tmp_path / "out"), "-q")
    one_line_error(code, err, "no opencv_cameras.json")


def test_holdout_out_of_range(capsys, sample, tmp_path):
    code, _, err = run_cli(capsys, "fit", str(sample), str(tmp_path / "o"), "--holdout", "9")
    one_line_error(code, err, "holdout 9")


def test_bad_ply(capsys, tmp_path):
    bad = tmp_path / "mesh.ply"
    bad.write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n0\n")
    code, _, err = run_cli(capsys, "turntable", str(bad), str(tmp_path / "o.mp4"), "-q")
    one_line_error(code, err, str(bad))
    code, _, err = run_cli(capsys, "turntable", str(tmp_path / "none.ply"), str(tmp_path / "o.mp4"))
    one_line_error(code, err, "none.ply")
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--size", "33"], "--size '33'"),
        (["--bg", "purple"], "--background 'purple'"),
        (["--fov", "200"], "--fov '200'"),
        (["--up", "w"], "--up 'w'"),
    ],
)
def test_bad_turntable_options(capsys, fitted, tmp_path, args, fragment):
    ply = str(fitted / "gaussians.ply")
    code, _, err = run_cli(capsys, "turntable", ply, str(tmp_path / "o.mp4"), *args, "-q")
    one_line_error(code, err, fragment)


def test_turntable_needs_an_output(capsys, fitted):
    code, _, err = run_cli(capsys, "turntable", str(fitted / "gaussians.ply"))
    one_line_error(code, err, "nothing to do")
