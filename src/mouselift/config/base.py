"""Strict config models and YAML preset loading.

A preset is ``mouselift/configs/<group>/<name>.yaml`` inside the package (group = the command,
e.g. ``prepare``), read through :mod:`importlib.resources` so an installed wheel has them too. A
config argument is either a preset name or a path to a YAML file. Command-line options override
keys of the loaded file; the result is validated once, so a typo in either place is reported.
A renamed key is refused with a hint naming its new name (:attr:`StrictModel.renamed_keys`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_args

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError, PydanticUndefined

from ..errors import ConfigError

M = TypeVar("M", bound=BaseModel)


#: Error type of a renamed key (see :attr:`StrictModel.renamed_keys`).
RENAMED_KEY = "renamed_key"


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, values are validated on assignment.

    ``renamed_keys`` (old name → new name, per model) lists keys renamed since an earlier
    release: a file or option still giving an old key is refused with a hint naming the new one,
    before the unknown-key check would reject it without one."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
    renamed_keys: ClassVar[dict[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _refuse_renamed_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for old, new in cls.renamed_keys.items():
                if old in data:
                    raise PydanticCustomError(RENAMED_KEY, "`{old}` was renamed `{new}`",
                                              {"old": old, "new": new})
        return data


def upgrade_renamed_keys(model: type[BaseModel], data: Any) -> Any:
    """``data`` as a file written by an earlier release holds it (a dataset's
    ``prepare_config.yaml``, a checkpoint's saved config), with every renamed key of ``model``
    and of its nested config models under its new name — our own files keep loading, while a
    user's file or option that gives an old key is refused with the hint."""
    if not isinstance(data, dict) or not isinstance(model, type) or not issubclass(
            model, StrictModel):
        return data
    upgraded = {model.renamed_keys.get(key, key): value for key, value in data.items()}
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        if name in upgraded and nested is not None:
            upgraded[name] = upgrade_renamed_keys(nested, upgraded[name])
    return upgraded


def _nested_model(annotation: Any) -> type[StrictModel] | None:
    """The config model a field holds (``Model``, ``Model | None``), else ``None``."""
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, StrictModel):
            return candidate
    return None


#: The default of a config key that has none (it must be given).
REQUIRED: Any = PydanticUndefined


@dataclass(frozen=True)
class ConfigKey:
    """One key of a config model: its dotted ``name``, ``default`` (:data:`REQUIRED` when it has
    none) and ``description`` (``None`` when the model gives none)."""

    name: str
    default: Any
    description: str | None


def config_keys(model: type[BaseModel], prefix: str = "") -> list[ConfigKey]:
    """Every key of ``model`` in declaration order, the keys of nested config models dotted
    (``augment.brightness``): what ``--set`` accepts, for ``--help``."""
    keys = []
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        if nested is not None:
            keys.extend(config_keys(nested, f"{prefix}{name}."))
        else:
            default = (REQUIRED if field.is_required()
                       else field.get_default(call_default_factory=True))
            keys.append(ConfigKey(prefix + name, default, field.description))
    return keys


def flat_keys(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``: a config mapping by dotted key."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat_keys(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def presets_dir() -> Traversable:
    """Folder of the YAML presets shipped in the package: ``mouselift/configs/``."""
    return files("mouselift") / "configs"


def list_presets(group: str) -> list[str]:
    """Names of the presets available for ``group`` (sorted)."""
    folder = presets_dir() / group
    if not folder.is_dir():
        return []
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def find_preset(group: str, name_or_path: str | os.PathLike) -> Path | Traversable:
    """Resolve a preset name of ``group`` (a resource of the package) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.is_file():
            raise ConfigError(f"{candidate}: config file not found")
        return candidate
    preset = presets_dir() / group / f"{name_or_path}.yaml"
    if not preset.is_file():
        known = ", ".join(list_presets(group)) or "none"
        raise ConfigError(f"unknown {group} preset {str(name_or_path)!r} (known: {known})")
    return preset


def read_yaml_mapping(path: Path | Traversable) -> dict[str, Any]:
    """The mapping a YAML config file holds (empty file: ``{}``); a one-line
    :class:`ConfigError` when it is not valid YAML or not a mapping."""
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping of keys to values")
    return loaded


def _format_validation_error(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "<root>"
    if err["type"] == RENAMED_KEY:
        prefix = "".join(f"{p}." for p in err["loc"])
        old, new = (prefix + err["ctx"][k] for k in ("old", "new"))
        return f"{source}: config key {old!r} was renamed {new!r}"
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown config key {where!r}"
    return f"{source}: invalid value for {where!r}: {err['msg']}"


def merge_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``overrides`` into a copy of ``base``; ``None`` values are ignored."""
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_overrides(out[key], value)
        else:
            out[key] = value
    return out


def load_config(
    model: type[M],
    group: str,
    name_or_path: str | os.PathLike | None = None,
    overrides: dict[str, Any] | None = None,
    unset: tuple[str, ...] = (),
) -> M:
    """Load preset or file ``name_or_path`` (default: the model's defaults), drop the top-level
    keys ``unset`` (back to their defaults), apply ``overrides``, validate against ``model`` and
    return it. Errors are :class:`ConfigError` in one line."""
    data: dict[str, Any] = {}
    source = "defaults"
    if name_or_path is not None:
        path = find_preset(group, name_or_path)
        source = str(path)
        data = {k: v for k, v in read_yaml_mapping(path).items() if k not in unset}
    if overrides:
        data = merge_overrides(data, overrides)
        source = f"{source} + command-line options"
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, source)) from None
