"""The command line: help with examples, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mouselift.cli.main import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


@pytest.mark.parametrize("command", ["synth", "prepare", "demo"])
def test_every_command_has_help_with_examples(capsys, command):
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    assert "Examples" in out
    assert f"mouselift {command}" in out


def test_version(capsys):
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.startswith("mouselift ")


def test_missing_recording_is_one_line_error(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code, _, err = run_cli(capsys, "prepare", str(missing), str(tmp_path / "out"), "-q")
    assert code == 2
    assert err.startswith("error: ") and str(missing) in err
    assert err.count("\n") == 1


def test_misspelt_option_value_is_one_line_error(capsys, tmp_path):
    code, _, err = run_cli(capsys, "prepare", str(tmp_path), str(tmp_path / "o"), "--shard", "3/2")
    assert code == 2 and "shard 3/2" in err and err.count("\n") == 1


def test_unknown_key_in_config_file(capsys, tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("sise: 256\n")
    code, _, err = run_cli(
        capsys, "prepare", str(tmp_path), str(tmp_path / "o"), "--config", str(cfg)
    )
    assert code == 2 and "unknown config key 'sise'" in err


def test_unknown_option_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "synth", "out", "--framez", "3")
    assert code == 2 and "--framez" in err


def test_console_script_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "mouselift.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "prepare" in result.stdout and "synth" in result.stdout
