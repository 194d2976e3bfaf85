"""``--help`` survives a pipe and a paste (issue 22): every example command on one line whatever
the width, readable usage lines, no ``<bool>``; config-driven commands list every key that
``--set`` accepts with its default."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest
import typer

from cli_testutils import run_cli
from mouselift.cli.main import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every command of ``group`` by its words (``("train", "mvdiff")``)."""
    out = {}
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            out.update(_commands(cmd, (*path, name)))
        else:
            out[(*path, name)] = cmd
    return out


COMMANDS = _commands(typer.main.get_command(app))

#: Prints ``{"command words": help}`` of every command, its stdout a pipe.
HELP_SCRIPT = """
import contextlib, io, json, sys
from mouselift.cli.main import main
helps = {}
for words in json.loads(sys.argv[1]):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        main([*words, "--help"])
    helps[" ".join(words)] = buffer.getvalue()
sys.__stdout__.write(json.dumps(helps))
"""


def _piped_help(columns: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    if columns is not None:
        env["COLUMNS"] = columns
    result = subprocess.run([sys.executable, "-c", HELP_SCRIPT, json.dumps(list(COMMANDS))],
                            stdout=subprocess.PIPE, text=True, env=env, check=True)
    return json.loads(result.stdout)


def _examples(command: Any) -> list[str]:
    """The example command lines of a command's epilog (its indented lines)."""
    lines = [line.strip() for line in (command.epilog or "").splitlines()
             if line.startswith("    ")]
    return [line for line in lines if line.startswith(("mouselift", "accelerate", "ssh"))]


@pytest.fixture(scope="module", params=[None, "60"], ids=["COLUMNS unset", "COLUMNS=60"])
def piped_help(request):
    return _piped_help(request.param)


def test_every_example_is_one_line_through_a_pipe(piped_help):
    for words, command in COMMANDS.items():
        text = piped_help[" ".join(words)]
        lines = {line.strip() for line in text.splitlines()}
        examples = _examples(command)
        assert examples, f"mouselift {' '.join(words)} --help has no examples"
        for example in examples:
            assert example in lines, f"{' '.join(words)}: wrapped example {example!r}"


def test_usage_lines_are_readable(piped_help):
    for words in COMMANDS:
        text = piped_help[" ".join(words)]
        usage = text.splitlines()[0]
        assert usage.startswith(f"Usage: mouselift {' '.join(words)} [OPTIONS]"), usage
        assert not any(mark in usage for mark in "{}<>"), usage
        assert not re.search(r"<(bool|path|str|int|float|list)", text), " ".join(words)


def test_infer_usage_names_its_arguments(piped_help):
    assert piped_help["infer"].splitlines()[0] == "Usage: mouselift infer [OPTIONS] [INPUT] OUT"


@pytest.mark.parametrize("words,model", [
    (("synth",), "mouselift.data.synth.config.SynthConfig"),
    (("prepare",), "mouselift.data.prepare.config.PrepareConfig"),
    (("fit",), "mouselift.fit.config.FitConfig"),
    (("train", "mvdiff"), "mouselift.mvdiff.train_config.TrainMVDiffConfig"),
    (("train", "gslrm"), "mouselift.gslrm.train_config.TrainGSLRMConfig"),
])
def test_help_lists_every_config_key_with_its_default(capsys, words, model):
    from mouselift.config.base import config_keys

    module, _, name = model.rpartition(".")
    keys = config_keys(getattr(importlib.import_module(module), name))
    code, out, _ = run_cli(capsys, *words, "--help")
    assert code == 0
    rows = " ".join(out.split())
    for key in keys:
        assert f" {key.name} " in f" {rows} ", f"{' '.join(words)}: key {key.name} not listed"
    if words[0] == "train":  # loads the `mouse` preset by default: what it changes is marked
        assert "preset 'mouse', which changes the values marked" in rows
        assert "checkpoint_every [default: 1000]" in rows
    if words == ("train", "mvdiff"):
        assert "mixed_precision [default: no; mouse: bf16]" in rows
