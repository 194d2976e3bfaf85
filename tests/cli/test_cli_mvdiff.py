"""``mouselift train mvdiff`` and ``mouselift embeds``: help, tiny runs, one-line errors."""

from __future__ import annotations

import pytest
from cli_testutils import one_line_error, run_cli


@pytest.mark.parametrize("command", [["train", "mvdiff"], ["embeds"]])
def test_help_has_examples(capsys, command):
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0 and "Examples" in out and "mouselift" in out


def test_train_then_embeds_then_resume(capsys, mouse_dataset, tmp_path):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                             str(mouse_dataset), "--output", str(run), "--max-steps", "2",
                             "--log-with", "none", "--set", "validation_samples=0", "-q")
    assert code == 0, err
    assert "trained steps 0 → 2" in out and "checkpoint-000002" in out
    pipeline = run / "checkpoints" / "checkpoint-000002" / "pipeline"

    code, out, err = run_cli(capsys, "embeds", "--pipeline", str(pipeline), "--rig", "facelift",
                             "--resolution", "64", "--out", str(tmp_path / "rig"))
    assert code == 0, err
    assert "rig 'facelift' (6 views, 64×64" in out and "(6, 77, 32)" in out
    assert (tmp_path / "rig" / "prompt_embeds.safetensors").is_file()

    code, out, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                             str(mouse_dataset), "--output", str(run), "--max-steps", "3",
                             "--log-with", "none", "--set", "validation_samples=0",
                             "--resume", "latest", "-q")
    assert code == 0, err
    assert "trained steps 2 → 3" in out


def test_one_line_errors(capsys, mouse_dataset, tmp_path):
    code, _, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                           str(mouse_dataset), "--output", str(tmp_path / "r"),
                           "--set", "lerning_rate=1")
    one_line_error(code, err, "unknown config key 'lerning_rate'")
    code, _, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--output",
                           str(tmp_path / "r"))
    one_line_error(code, err, "no dataset")
    code, _, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                           str(tmp_path), "--output", str(tmp_path / "r"))
    one_line_error(code, err, "train.txt")
    code, _, err = run_cli(capsys, "train", "mvdiff", "--pipeline", str(tmp_path / "none"),
                           "--dataset", str(mouse_dataset), "--output", str(tmp_path / "r"))
    one_line_error(code, err, "pipeline folder not found")
    code, _, err = run_cli(capsys, "embeds", "--pipeline", str(tmp_path), "--rig", "nowhere",
                           "--out", str(tmp_path / "x"))
    one_line_error(code, err, "not 'facelift', a prepared dataset, or a rig")
    code, _, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                           str(mouse_dataset), "--output", str(tmp_path / "r"), "--set", "oops")
    one_line_error(code, err, "expected KEY=VALUE")
