"""``mouselift eval`` on the command line: the table, the files, one-line errors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from cli_testutils import one_line_error, run_cli
from infer_testutils import tiny_gslrm
from mouselift.data.dataset_rig import rig_from_dataset


@pytest.fixture(scope="module")
def checkpoint(mouse_dataset, tmp_path_factory):
    return tiny_gslrm(tmp_path_factory.mktemp("cli_eval") / "model",
                      rig_from_dataset(mouse_dataset))


def test_eval_prints_the_table_and_writes_both_files(capsys, mouse_dataset, checkpoint,
                                                     synthetic_recording, tmp_path):
    out = tmp_path / "eval"
    code, stdout, err = run_cli(capsys, "eval", str(mouse_dataset), str(out), "--gslrm",
                                str(checkpoint), "--samples", "1", "--recording",
                                str(synthetic_recording), "-q")
    assert code in (0, None), err
    lines = stdout.splitlines()
    assert lines[1].split() == ["evaluation", "views", "n", "PSNR", "mouse", "PSNR", "SSIM",
                                "LPIPS", "IoU", "Chamfer", "mm", "F@2mm", "F@5mm"]
    assert lines[2].split()[:3] == ["stage2", "inputs", "6"]
    assert f"3D ground truth: {synthetic_recording} (from --recording)" in stdout
    assert "stage1: skipped (no --mvdiff)" in stdout
    assert f"  gslrm: {checkpoint}\n" in stdout  # the checkpoint it loaded
    report = json.loads((out / "eval.json").read_text())
    assert report["num_samples"] == 1 and report["ground_truth"]["source"] == "--recording"
    with Image.open(out / "eval.png") as figure:
        assert figure.format == "PNG"


def test_help_has_examples(capsys):
    code, stdout, _ = run_cli(capsys, "eval", "--help")
    assert code == 0
    assert "mouselift eval data/mouse512 out/eval --gslrm" in " ".join(stdout.split())


def test_one_line_errors(capsys, mouse_dataset, checkpoint, tmp_path, monkeypatch):
    ds, out = str(mouse_dataset), str(tmp_path / "o")
    monkeypatch.setenv("MOUSELIFT_BUILTIN", str(tmp_path / "no-builtin-models"))
    code, _, err = run_cli(capsys, "eval", str(tmp_path / "missing"), out, "--gslrm",
                           str(checkpoint))
    one_line_error(code, err, "missing: does not exist")
    code, _, err = run_cli(capsys, "eval", ds, out, "--split", "test", "--gslrm",
                           str(checkpoint))
    one_line_error(code, err, "test.txt")
    code, _, err = run_cli(capsys, "eval", ds, out)
    one_line_error(code, err, "nothing to evaluate")
    code, _, err = run_cli(capsys, "eval", ds, out, "--mvdiff", str(tmp_path))
    one_line_error(code, err, "--gslrm too")
    code, _, err = run_cli(capsys, "eval", ds, out, "--gslrm", str(tmp_path))
    one_line_error(code, err, "not a GS-LRM checkpoint")
    code, _, err = run_cli(capsys, "eval", ds, out, "--gslrm", str(checkpoint), "--recording",
                           str(tmp_path))
    one_line_error(code, err, "ground-truth file not found")
    code, _, err = run_cli(capsys, "eval", ds, out, "--fit", "nosuchpreset")
    one_line_error(code, err, "nosuchpreset")
