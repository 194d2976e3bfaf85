"""``--help`` of every command: plain text that survives a pipe and a paste.

Rich's panels re-wrap an example command at the terminal's width (80 columns when piped), so
one command became two lines when copied. Help here is click's plain text instead: prose wraps
at the terminal's width (at most :data:`HELP_WIDTH`), while the examples — the indented lines of
a command's ``EPILOG`` — are written as they are, one command per line, however long. Options
are shown as ``--name TYPE`` (flags without one), arguments by their upper-case names, and a
config-driven command lists every key that ``--set`` accepts, with its default and description
(:class:`ConfigHelp`).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import click
from typer.core import TyperArgument, TyperCommand

from ..config.base import REQUIRED, config_keys, find_preset, flat_keys, read_yaml_mapping

#: Widest help text in columns: a narrower terminal wraps prose at its own width (examples never).
HELP_WIDTH = 100

#: Click's marker of a paragraph that is never re-wrapped.
NO_REWRAP = "\b"


def plain_text(text: str) -> str:
    """A command's help text (``**Examples**``, indented example lines, `code`) as click's plain
    text: ``**Title**`` → ``Title:``, and every paragraph of indented lines (examples) marked
    never to be re-wrapped."""
    paragraphs = []
    for paragraph in text.strip("\n").split("\n\n"):
        lines = paragraph.split("\n")
        if all(line.startswith("    ") for line in lines):
            paragraph = "\n".join([NO_REWRAP, *lines])
        elif paragraph.startswith("**") and paragraph.endswith("**"):
            paragraph = paragraph.strip("*") + ":"
        paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)


@dataclass(frozen=True)
class ConfigHelp:
    """The config model a command's ``--config`` and ``--set`` fill: ``model`` as
    ``"module.Class"`` (imported only when the help is shown: some pull in torch) and its preset
    ``group``."""

    model: str
    group: str

    def rows(self, preset_name: str | None) -> tuple[str, list[tuple[str, str]]]:
        """The introduction and ``(key, description [default: …])`` of every key; ``preset_name``:
        the preset the command loads when ``--config`` is not given (``None``: the model's
        defaults)."""
        module, _, name = self.model.rpartition(".")
        model = getattr(importlib.import_module(module), name)
        preset: dict[str, Any] = {}
        if preset_name is None:
            intro = ("Config keys (--set KEY=VALUE; nested keys with dots; YAML values) and their "
                     "defaults, used when --config is not given:")
        else:
            intro = (f"Config keys (--set KEY=VALUE; nested keys with dots; YAML values). The "
                     f"defaults are the config model's; without --config the command loads the "
                     f"preset '{preset_name}', which changes the values marked "
                     f"[{preset_name}: …]:")
            preset = flat_keys(read_yaml_mapping(find_preset(self.group, preset_name)))
        rows = []
        for key in config_keys(model):
            default = "required" if key.default is REQUIRED else f"default: {_value(key.default)}"
            if key.name in preset and preset[key.name] != _plain(key.default):
                default += f"; {preset_name}: {_value(preset[key.name])}"
            rows.append((key.name, f"{key.description or ''}  [{default}]".strip()))
        return intro, rows


def _plain(value: Any) -> Any:
    """``value`` as YAML reads it back (tuples as lists), to compare a preset's value with it."""
    return json.loads(json.dumps(value, default=str))


def _value(value: Any) -> str:
    """A default as one would write it after ``--set KEY=`` (YAML)."""
    if isinstance(value, str):
        return value or "''"
    if isinstance(value, Path):
        return str(value)
    return json.dumps(value, default=str, ensure_ascii=False)


class PlainHelpCommand(TyperCommand):
    """A typer command whose ``--help`` is plain, pipe- and paste-safe text (module docstring)."""

    #: The config model whose keys the help lists (config-driven commands; see :func:`command`).
    config: ClassVar[ConfigHelp | None] = None

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(_argument_usage(param))
        return pieces

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if isinstance(param, TyperArgument):
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append((_option_label(param), record[1]))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.epilog:
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(plain_text(self.epilog))
        if self.config is not None:
            preset = next((p.default for p in self.params if p.name == "config"), None)
            intro, rows = self.config.rows(preset)
            formatter.write_paragraph()
            with formatter.indentation():
                formatter.write_text(intro)
                formatter.write_paragraph()
                formatter.write_dl(rows)


def command(config: ConfigHelp | None = None) -> type[PlainHelpCommand]:
    """The command class of a command (``app.command(cls=…)``); with ``config``, its help also
    lists that model's keys."""
    if config is None:
        return PlainHelpCommand
    return type("ConfigCommand", (PlainHelpCommand,), {"config": config})


def _argument_name(param: TyperArgument) -> str:
    return param.metavar or (param.name or "").upper()


def _argument_usage(param: TyperArgument) -> str:
    """``NAME``, ``[NAME]`` when optional, ``NAME...`` when repeated; a metavar as it is."""
    if param.metavar:
        return param.metavar
    name = _argument_name(param) + ("..." if param.nargs != 1 else "")
    return name if param.required else f"[{name}]"


_TYPE_NAMES = {int: "INTEGER", float: "FLOAT", str: "TEXT", bool: "BOOLEAN"}


def _option_label(param: click.Parameter) -> str:
    """``-n, --frames INTEGER``; a flag without a value type."""
    names = sorted([*param.opts, *param.secondary_opts],
                   key=lambda opt: len(opt) - len(opt.lstrip("-")))
    label = ", ".join(names)
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return label
    if param.metavar:
        return f"{label} {param.metavar}"
    descriptor = param.type_descriptor
    if descriptor.is_path:
        kind = "PATH"
    else:
        annotation = descriptor.annotation
        element = getattr(annotation, "__args__", (annotation,))[0]
        kind = _TYPE_NAMES.get(element, "TEXT")
    return f"{label} {kind}"
