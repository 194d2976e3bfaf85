"""Shared option parsing of the CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
import yaml
from pydantic import BaseModel

from ..errors import ConfigError


def parse_set_options(items: list[str]) -> dict[str, Any]:
    """``["a.b=1", "c=[1, 2]"]`` → ``{"a": {"b": 1}, "c": [1, 2]}`` (values parsed as YAML)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML") from None
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is set twice")
        node[parts[-1]] = value
    return out


def require_existing(*paths: tuple[str, str | os.PathLike | None]) -> None:
    """A one-line :class:`ConfigError` for the first ``(option, path)`` whose path is given but
    does not exist: commands check their paths before they import torch or load a model."""
    for option, path in paths:
        if path is not None and not Path(path).exists():
            raise ConfigError(f"{option} {path}: does not exist")


def default_of(model: type[BaseModel], field: str) -> Any:
    """The default of ``model.field`` (factories called)."""
    return model.model_fields[field].get_default(call_default_factory=True)


def help_with_default(text: str, model: type[BaseModel], field: str) -> str:
    """``text`` followed by the config model's default, so --help never drifts from the code."""
    value = default_of(model, field)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{text} [default: {value}]"


#: The ``--set`` option every config-driven command takes.
SET_HELP = "Override any config key: KEY=VALUE (YAML value; nested keys with dots), repeatable."

#: ``--threads`` of the commands that compute on the CPU (see README, "Running two jobs side by
#: side"); applied by :func:`mouselift.threads.use_threads`.
THREADS_OPTION = typer.Option(
    None, "--threads", min=1,
    help="Threads of this process (torch, OpenCV, BLAS). [default: OMP_NUM_THREADS when set, "
    "else the available cores; under torchrun / accelerate launch: cores / processes per machine]",
)

#: ``--overwrite`` of the commands that write a result folder (``fit``, ``reconstruct``,
#: ``infer``, ``eval``, ``demo``): the policy of :func:`mouselift.atomic.check_result_folder`.
OVERWRITE_OPTION = typer.Option(
    False, "--overwrite",
    help="Replace OUT even when it holds files that are not this command's result (all its "
    "contents are deleted). Without it such a folder is refused. An earlier result of the same "
    "command is replaced without it, once the new one is complete (infer --video continues it).",
)
