"""Reading a JSON file with one-line errors (the writers are in :mod:`mouselift.atomic`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import MouseliftError


def read_json(path: str | os.PathLike, error: type[MouseliftError], what: str = "file") -> Any:
    """The content of the JSON file ``path``; ``error`` (one line naming ``path``) when it is
    missing (``"{what} not found"``) or not valid JSON."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise error(f"{path}: not valid JSON") from None


__all__ = ["read_json"]
