"""``mouselift reconstruct``: a tiny GS-LRM checkpoint on a prepared sample; every output file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from plyfile import PlyData

from cli_testutils import one_line_error, run_cli
from mouselift.data.dataset_rig import rig_from_dataset
from mouselift.data.video import probe_video
from mouselift.flows.reconstruct import reconstruct
from mouselift.gslrm.checkpoints import save_gslrm
from mouselift.gslrm.config import load_gslrm_config
from mouselift.gslrm.model import GSLRM
from mouselift.splat import read_ply


@pytest.fixture(scope="module")
def checkpoint(mouse_dataset, tmp_path_factory):
    torch.manual_seed(0)
    model = GSLRM(load_gslrm_config("tiny"))
    return save_gslrm(model, tmp_path_factory.mktemp("gslrm") / "model",
                      rig_from_dataset(mouse_dataset))


def test_reconstruct_writes_every_output(capsys, mouse_dataset, checkpoint, tmp_path):
    sample = mouse_dataset / "sample_000000"
    out = tmp_path / "rec"
    code, stdout, err = run_cli(capsys, "reconstruct", str(sample), str(out), "--gslrm",
                                str(checkpoint), "--turntable-frames", "4", "-q")
    assert code in (0, None), err
    assert "Gaussians kept" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_predicted"] == 2 + 6 * 64 * 64
    assert 0 < metrics["num_gaussians"] <= metrics["num_predicted"]
    assert metrics["inputs"]["num_views"] == 6 and metrics["held_out"]["num_views"] == 1
    assert np.isfinite(metrics["inputs"]["psnr"]) and metrics["rig_fingerprint"]
    gaussians = read_ply(out / "gaussians.ply")
    assert len(gaussians) == metrics["num_gaussians"]
    assert PlyData.read(str(out / "gaussians.ply"))["vertex"].count == len(gaussians)
    info = probe_video(out / "turntable.mp4")
    assert info.num_frames == 4 and info.codec == "h264"
    assert (info.width, info.height) == (64, 64)  # the model's resolution, by default
    assert set(metrics["output_seconds"]) == {"gaussians.ply", "turntable.mp4", "views.png"}
    from PIL import Image

    with Image.open(out / "views.png") as grid:
        assert grid.size == (7 * 64, 2 * 64)


def test_bad_inputs_are_one_line_errors(capsys, mouse_dataset, checkpoint, tmp_path):
    sample = str(mouse_dataset / "sample_000000")
    code, _, err = run_cli(capsys, "reconstruct", str(tmp_path), str(tmp_path / "o"),
                           "--gslrm", str(checkpoint))
    one_line_error(code, err, "opencv_cameras.json")
    code, _, err = run_cli(capsys, "reconstruct", sample, str(tmp_path / "o"), "--gslrm",
                           str(tmp_path))
    one_line_error(code, err, "not a GS-LRM checkpoint")
    code, _, err = run_cli(capsys, "reconstruct", sample, str(tmp_path / "o"), "--gslrm",
                           str(checkpoint), "--device", "cuda:7")
    one_line_error(code, err, "device")


def test_library_call_equals_cli(mouse_dataset, checkpoint, tmp_path):
    result = reconstruct(mouse_dataset / "sample_000000", tmp_path / "lib", checkpoint,
                         turntable_frames=2, progress=False)
    assert result.metrics["num_gaussians"] == len(result.gaussians)
    assert "held-out views (1)" in result.format()


def test_a_training_run_names_its_latest_checkpoint(capsys, mouse_dataset, checkpoint,
                                                    tmp_path):
    """`--gslrm` takes a run folder (its latest complete checkpoint) and says what it loaded;
    a path that does not exist says so."""
    import shutil

    run = tmp_path / "run"
    latest = run / "checkpoints" / "checkpoint-000004"
    shutil.copytree(checkpoint, latest / "model")
    (latest / "training_state").mkdir()
    (latest / "trainer_state.json").write_text('{"step": 4}')
    sample = mouse_dataset / "sample_000000"
    code, stdout, err = run_cli(capsys, "reconstruct", str(sample), str(tmp_path / "rec"),
                                "--gslrm", str(run), "--turntable-frames", "1", "-q")
    assert code in (0, None), err
    assert f"gslrm: {latest / 'model'} (latest checkpoint of run {run})" in stdout
    metrics = json.loads((tmp_path / "rec" / "metrics.json").read_text())
    assert metrics["checkpoint"] == str(latest / "model")
    code, _, err = run_cli(capsys, "reconstruct", str(sample), str(tmp_path / "o"),
                           "--gslrm", str(tmp_path / "nowhere"))
    one_line_error(code, err, "nowhere: does not exist")
