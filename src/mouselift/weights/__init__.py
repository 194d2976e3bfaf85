"""The built-in models: small Stage-1 and Stage-2 models shipped inside the package.

They are made by one command (``mouselift train builtin``, :mod:`mouselift.flows.builtin`) from
synthetic recordings only, and installed here by ``make weights`` (``python -m mouselift.weights
install BUILD/models``) as ``mouselift/weights/small/stage1/`` (a Stage-1 pipeline folder) and
``stage2/`` (a GS-LRM folder), each with its ``mouselift.json``: the command, recipe, seed and
data that made it and the SHA-256 of every weight file. ``MOUSELIFT_BUILTIN=DIR`` names another
folder holding ``stage1/`` and ``stage2/`` (a build not installed yet).

They know the synthetic mouse, not a real lab's mice: for those, the training recipes with
FaceLift's weights on GPUs (README).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WeightsError

#: The file beside each built-in model's weights that says what made it.
MADE_BY_FILE = "mouselift.json"
STAGE1_DIR, STAGE2_DIR = "stage1", "stage2"
#: Where the package keeps them, and the variable naming another folder.
PACKAGE_DIR = Path(__file__).parent / "small"
BUILTIN_ENV = "MOUSELIFT_BUILTIN"
#: File endings whose SHA-256 a built-in model's ``mouselift.json`` records.
WEIGHT_SUFFIXES = (".safetensors",)
#: The most the installed models may take together (MB, 10⁶ bytes).
MAX_INSTALLED_MB = 20.0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weight_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every weight file below ``folder``, by relative path."""
    return {str(p.relative_to(folder)): file_sha256(p)
            for p in sorted(folder.rglob("*")) if p.suffix in WEIGHT_SUFFIXES}


@dataclass(frozen=True)
class BuiltinModels:
    """The two built-in model folders and what made them (``stage1``'s ``mouselift.json``
    ``builtin`` entry)."""

    stage1: Path
    stage2: Path
    made_by: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        """For ``report.json``."""
        return {"stage1": str(self.stage1), "stage2": str(self.stage2),
                "recipe": self.made_by.get("recipe"), "seed": self.made_by.get("seed"),
                "command": self.made_by.get("command"),
                "mouselift": self.made_by.get("mouselift")}

    def line(self) -> str:
        return self.line_of(self.describe())

    @staticmethod
    def line_of(described: dict[str, Any]) -> str:
        """The one line a command prints for the built-in models (from :meth:`describe`)."""
        return (f"using the built-in models (recipe {described.get('recipe')}, seed "
                f"{described.get('seed')}: they know synthetic mice only) from "
                f"{Path(described['stage1']).parent}")


def builtin_dir() -> Path:
    """The folder the built-in models are looked for in (module docstring)."""
    return Path(os.environ.get(BUILTIN_ENV) or PACKAGE_DIR)


def find_builtin() -> BuiltinModels | None:
    """The built-in models, or ``None`` when this installation has none."""
    root = builtin_dir()
    stage1, stage2 = root / STAGE1_DIR, root / STAGE2_DIR
    if not (stage1 / MADE_BY_FILE).is_file() or not (stage2 / MADE_BY_FILE).is_file():
        return None
    try:
        made_by = json.loads((stage1 / MADE_BY_FILE).read_text())["builtin"]
    except (OSError, ValueError, KeyError, TypeError):
        raise WeightsError(f"{stage1 / MADE_BY_FILE}: not a built-in model's record") from None
    return BuiltinModels(stage1, stage2, made_by)


def require_builtin() -> BuiltinModels:
    """:func:`find_builtin`, or a one-line :class:`~mouselift.errors.WeightsError` saying how to
    get them."""
    found = find_builtin()
    if found is None:
        raise WeightsError(f"no built-in models in {builtin_dir()} (`make weights` builds and "
                           "installs them): give --mvdiff and --gslrm checkpoints")
    return found


def verify(folder: Path) -> list[str]:
    """The weight files of a built-in model folder whose SHA-256 differs from (or is missing in)
    its ``mouselift.json``; empty when all match."""
    recorded = json.loads((folder / MADE_BY_FILE).read_text())["builtin"]["weights"]
    actual = weight_digests(folder)
    return sorted(name for name in set(recorded) | set(actual)
                  if recorded.get(name) != actual.get(name))


def install(models: Path, target: Path = PACKAGE_DIR, *,
            max_mb: float = MAX_INSTALLED_MB) -> Path:
    """Copy a build's ``models/`` (``stage1/``, ``stage2/``) to ``target``, replacing what is
    there, after checking each folder's weights against its ``mouselift.json`` and the total
    size against ``max_mb``."""
    from ..atomic import atomic_dir

    size = 0
    for stage in (STAGE1_DIR, STAGE2_DIR):
        folder = models / stage
        if not (folder / MADE_BY_FILE).is_file():
            raise WeightsError(f"{folder}: no {MADE_BY_FILE} (not a built-in model; make one "
                               "with `mouselift train builtin`)")
        if bad := verify(folder):
            raise WeightsError(f"{folder}: weights differ from its {MADE_BY_FILE}: "
                               f"{', '.join(bad)}")
        size += sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    if size / 1e6 > max_mb:
        raise WeightsError(f"{models}: {size / 1e6:.1f} MB, more than the {max_mb:g} MB the "
                           "package may ship")
    with atomic_dir(target, replace=True) as tmp:
        for stage in (STAGE1_DIR, STAGE2_DIR):
            shutil.copytree(models / stage, tmp / stage)
    return target


__all__ = ["BUILTIN_ENV", "MADE_BY_FILE", "MAX_INSTALLED_MB", "PACKAGE_DIR", "STAGE1_DIR",
           "STAGE2_DIR", "BuiltinModels", "builtin_dir", "file_sha256", "find_builtin",
           "install", "require_builtin", "verify", "weight_digests"]
