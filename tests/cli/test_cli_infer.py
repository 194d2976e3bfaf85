"""``mouselift infer`` on the command line: a tiny checkpoint pair → every output file; a
mismatching pair → one line naming both rigs; ``--video``; usage errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cli_testutils import one_line_error, run_cli
from infer_testutils import (
    FAST_MIN_OPACITY,
    STEPS,
    read_finite_ply,
    rgba_of,
    tiny_gslrm,
    video_frames,
)
from mouselift import __version__
from mouselift.cameras import read_opencv_cameras
from mouselift.cameras.rig import facelift_rig
from mouselift.data.dataset_rig import rig_from_dataset
from mouselift.data.video import probe_video
from mouselift.viewer.scene import load_scene

TURNTABLE_FRAMES = 3


@pytest.fixture(scope="module")
def facelift_gslrm(tmp_path_factory):
    """A tiny GS-LRM with the same rig as ``tiny_pipeline_dir`` (FaceLift's, 64 px)."""
    return tiny_gslrm(tmp_path_factory.mktemp("cli_infer") / "gslrm", facelift_rig(64))


@pytest.fixture(scope="module")
def mouse_gslrm(mouse_dataset, tmp_path_factory):
    """A tiny GS-LRM made for the dataset's rig: another rig than the pipeline's."""
    return tiny_gslrm(tmp_path_factory.mktemp("cli_infer_mouse") / "gslrm",
                      rig_from_dataset(mouse_dataset))


@pytest.fixture(scope="module")
def rgba_image(tmp_path_factory):
    """A 160×120 RGBA image with a mouse-like blob (alpha = its mask)."""
    image = np.zeros((120, 160, 4), np.uint8)
    yy, xx = np.mgrid[:120, :160]
    blob = ((xx - 90) / 30.0) ** 2 + ((yy - 60) / 15.0) ** 2 <= 1
    image[blob] = (110, 95, 80, 255)
    path = tmp_path_factory.mktemp("cli_infer_input") / "mouse.png"
    Image.fromarray(image).save(path)
    return path


@pytest.mark.slow  # ~20 s on 2 busy cores: the session's first sampling, renders, the video
def test_infer_writes_every_output(capsys, tiny_pipeline_dir, facelift_gslrm, rgba_image,
                                   tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        capsys, "infer", str(rgba_image), str(out), "--mvdiff", str(tiny_pipeline_dir),
        "--gslrm", str(facelift_gslrm), "--steps", STEPS, "--seed", "7",
        "--turntable-frames", str(TURNTABLE_FRAMES), "--min-opacity", FAST_MIN_OPACITY, "-q")
    assert code in (0, None), err
    assert f"infer → {out}" in stdout and "cameras: rig average" in stdout
    report = json.loads((out / "report.json").read_text())

    crop = rgba_of(out / "input.png")  # the crop Stage 1 got, at the rig's resolution
    assert crop.shape == (64, 64, 4) and crop[..., 3].any()
    with Image.open(out / "multiview.png") as sheet:
        assert sheet.size == (7 * 64, 64)  # input | 6 views
    names = facelift_rig(64).names
    for name in names:
        with Image.open(out / "views" / f"{name}.png") as view:
            assert view.size == (64, 64)
    cameras = read_opencv_cameras(out / "opencv_cameras.json")
    assert [c.name for c in cameras] == names
    assert all(c.allclose(r, atol=1e-4) for c, r in zip(cameras, facelift_rig(64).cameras,
                                                        strict=True))
    gaussians = read_finite_ply(out / "gaussians.ply")
    assert len(gaussians) == report["num_gaussians"] <= report["num_predicted"] == 2 + 6 * 64**2
    assert video_frames(out / "turntable.mp4") == TURNTABLE_FRAMES
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["inputs"]["num_views"] == 6

    assert report["mouselift"] == __version__ and report["torch"] == torch.__version__
    assert report["checkpoints"] == {"mvdiff": str(tiny_pipeline_dir),
                                     "gslrm": str(facelift_gslrm)}
    assert report["rig_fingerprint"] == facelift_rig(64).fingerprint()
    assert report["rig"] == facelift_rig(64).summary()
    assert report["seed"] == 7
    assert report["sampler"] == {"solver": "ddim", "steps": int(STEPS), "guidance": 3.0,
                                 "eta": 1.0}
    assert report["device"] == "cpu" and report["dtype"]["stage1"] == "fp32"
    assert set(report["seconds"]) == {"load", "input", "stage1", "stage2", "write", "outputs"}
    # every output is timed; the turntable defaults to the models' resolution (64² here)
    outputs = report["seconds"]["outputs"]
    assert {"input.png", "multiview.png", "gaussians.ply", "turntable.mp4", "views.png",
            "metrics.json", "consistency"} <= set(outputs)
    assert all(v >= 0 for v in outputs.values())
    assert sum(outputs.values()) <= report["seconds"]["write"] + 1e-3
    assert report["turntable"] == {"frames": TURNTABLE_FRAMES, "size": 64}
    info = probe_video(out / "turntable.mp4")
    assert (info.width, info.height) == (64, 64)
    assert "turntable.mp4 64²" in stdout
    assert report["cameras"] == "rig average" and report["stage1_cameras"] == "rig prompts only"
    assert report["crop"]["method"] == "2d mask coverage"
    assert report["input"] == {"kind": "image", "image": str(rgba_image), "mask": None}
    assert report["filters"]["min_opacity"] == float(FAST_MIN_OPACITY)
    scene = load_scene(out)  # `mouselift view OUT`: Gaussians, generated views with cameras
    assert len(scene.views["generated"]) == 6 and scene.metrics["num_gaussians"] == len(gaussians)


def test_rig_mismatch_is_one_line(capsys, tiny_pipeline_dir, mouse_gslrm, rgba_image, tmp_path):
    code, _, err = run_cli(capsys, "infer", str(rgba_image), str(tmp_path / "o"), "--mvdiff",
                           str(tiny_pipeline_dir), "--gslrm", str(mouse_gslrm))
    one_line_error(code, err, "rigs differ", str(tiny_pipeline_dir), str(mouse_gslrm),
                   facelift_rig(64).fingerprint(), "'mouse:ds'")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow  # ~15 s on 2 busy cores
def test_video_and_resume(capsys, tiny_pipeline_dir, facelift_gslrm, synthetic_recording,
                          tmp_path):
    """Two frames of camera 0 with FaceLift's rig (no calibration camera of the rig: the rig's
    average cameras), one per run; the second run resumes."""
    args = ["infer", str(tmp_path / "video"), "--video", "--recording", str(synthetic_recording),
            "--camera", "0", "--every", "6", "--mvdiff", str(tiny_pipeline_dir), "--gslrm",
            str(facelift_gslrm), "--steps", STEPS, "--solver", "dpm++", "--min-opacity",
            FAST_MIN_OPACITY, "--turntable-size", "64", "--max-frames", "1", "-q"]
    code, stdout, err = run_cli(capsys, *args)
    assert code in (0, None), err
    assert "1 frames written" in stdout and not (tmp_path / "video/turntable.mp4").exists()
    code, stdout, err = run_cli(capsys, *args)
    assert code in (0, None), err
    assert "1 frames written" in stdout and "1 already done" in stdout
    assert "all 2 selected frames done" in stdout
    assert video_frames(tmp_path / "video/turntable.mp4") == 2
    frame = json.loads((tmp_path / "video/frames/frame_000006/report.json").read_text())
    assert frame["cameras"] == "rig average"


@pytest.mark.parametrize(("args", "fragments"), [
    (["OUT"], ["give one input"]),
    (["A", "B", "C"], ["INPUT OUT"]),
    (["OUT", "--video"], ["--video needs"]),
    (["IMG", "OUT", "--solver", "euler"], ["--solver"]),
    (["IMG", "OUT", "--solver", "dpm++", "--eta", "0.5"], ["eta applies to DDIM only"]),
    (["IMG", "OUT", "--crop", "tight"], ["crop 'tight'"]),
    (["IMG", "OUT", "--device", "cuda:7"], ["device"]),
])
def test_usage_errors_are_one_line(capsys, tiny_pipeline_dir, facelift_gslrm, rgba_image,
                                   tmp_path, args, fragments):
    paths = {"IMG": str(rgba_image), **{a: str(tmp_path / a) for a in ("A", "B", "C", "OUT")}}
    args = [paths.get(a, a) for a in args]
    code, _, err = run_cli(capsys, "infer", *args, "--mvdiff", str(tiny_pipeline_dir),
                           "--gslrm", str(facelift_gslrm), "--steps", STEPS, "-q")
    one_line_error(code, err, *fragments)


@pytest.mark.parametrize(("size", "mask_side", "fragments"), [
    (1, 1, ["1×1 pixels", "too small", "at least 32 pixels"]),
    (4, 4, ["4×4 pixels", "too small", "at least 32 pixels"]),
    (160, 5, ["the mask covers 25 pixels", "at least 64"]),
])
def test_inputs_too_small_for_a_mouse_are_refused(capsys, tiny_pipeline_dir, facelift_gslrm,
                                                  tmp_path, size, mask_side, fragments):
    """A 1×1 or 4×4 image, or a mask of a few pixels, is not upsampled into a "mouse"."""
    image = np.zeros((size, size, 4), np.uint8)
    image[:mask_side, :mask_side] = (110, 95, 80, 255)
    Image.fromarray(image).save(tmp_path / "tiny.png")
    code, _, err = run_cli(capsys, "infer", str(tmp_path / "tiny.png"), str(tmp_path / "out"),
                           "--mvdiff", str(tiny_pipeline_dir), "--gslrm", str(facelift_gslrm),
                           "--steps", STEPS, "-q")
    one_line_error(code, err, *fragments)
    assert not (tmp_path / "out").exists()


def test_help_has_examples(capsys):
    code, stdout, _ = run_cli(capsys, "infer", "--help")
    assert code == 0
    for text in ("--recording", "--views", "--video", "--shard", "accelerate launch",
                 "pipeckpts", "ckpt_0000000000021125.pt"):
        assert text in stdout
