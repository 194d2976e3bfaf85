"""Lazy package exports (PEP 562), so that light modules of a package (its config models) can be
imported without importing its heavy ones (torch, video codecs) — the CLI reads option defaults
from the config models at start-up."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``name`` from the submodule
    ``exports[name]`` (relative, e.g. ``".config"``) on first access."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        importlib.import_module(package).__dict__[name] = value
        return value

    return __getattr__
