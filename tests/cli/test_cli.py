"""The command line: help with examples, one-line errors, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cli_testutils import one_line_error, run_cli


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


def test_demo_refuses_a_folder_it_did_not_make(capsys, tmp_path):
    """`mouselift demo OUT` clears only folders an earlier demo made; anything else is kept."""
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    code, _, err = run_cli(capsys, "demo", str(precious), "-q")
    one_line_error(code, err, "holds files and was not made by `mouselift demo`")
    assert (precious / "chapter1.tex").read_text() == "years of work"
    afile = tmp_path / "file"
    afile.write_text("x")
    code, _, err = run_cli(capsys, "demo", str(afile), "-q")
    one_line_error(code, err, "not a folder")


def test_help_defaults_come_from_the_config_models(capsys):
    from mouselift.data.prepare.config import PrepareConfig
    from mouselift.data.synth.config import SynthConfig
    from mouselift.fit.config import FitConfig

    for command, model, option, field in (("prepare", PrepareConfig, "--radius-mm", "radius_mm"),
                                          ("synth", SynthConfig, "--frames", "frames"),
                                          ("fit", FitConfig, "--steps", "steps")):
        code, out, _ = run_cli(capsys, command, "--help")
        assert code == 0
        text = " ".join(out.replace("│", " ").split())
        default = model.model_fields[field].default
        default = int(default) if float(default).is_integer() else default
        assert option in text and f"[default: {default}]" in text, (command, option)


@pytest.mark.parametrize("command", ["synth", "prepare", "fit"])
def test_config_commands_take_set(capsys, tmp_path, command):
    args = {"synth": [str(tmp_path / "o")], "prepare": [str(tmp_path), str(tmp_path / "o")],
            "fit": [str(tmp_path), str(tmp_path / "o")]}[command]
    code, _, err = run_cli(capsys, command, *args, "--set", "no_such_key=1", "-q")
    one_line_error(code, err, "unknown config key 'no_such_key'")


def test_version_is_the_newest_changelog_entry(capsys):
    """One number, from one place: ``--version`` = ``mouselift.__version__`` = the newest entry of
    CHANGELOG.md, and pyproject.toml reads it from the package."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    newest = re.search(r"^## (\S+)", (root / "CHANGELOG.md").read_text(), re.MULTILINE)
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and newest is not None
    assert out.strip() == f"mouselift {newest.group(1)}"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "mouselift.__version__"}


@pytest.mark.parametrize(("args", "fragments"), [
    (("infer", "--bogus"), ("No such option: --bogus", "`mouselift infer --help`")),
    (("fit", "s", "o", "--steps", "abc"), ("'--steps'", "`mouselift fit --help`")),
    (("train", "mvdiff", "--nope"), ("--nope", "`mouselift train mvdiff --help`")),
    (("nosuch",), ("No such command 'nosuch'", "`mouselift --help`")),
])
def test_usage_errors_are_one_line(capsys, args, fragments):
    code, out, err = run_cli(capsys, *args)
    one_line_error(code, err, *fragments)
    assert out == ""


def test_a_command_given_nothing_shows_its_help(capsys):
    code, _, err = run_cli(capsys, "infer")
    assert code == 2 and err.startswith("Usage: mouselift infer")
