"""Shared option parsing of the CLI."""

from __future__ import annotations

from typing import Any

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
