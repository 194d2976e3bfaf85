"""Atomic file writes: a crash leaves the previous file (or none), never a half-written one.

Each writer writes a uniquely named temporary file next to the target (same file system) and
renames it into place with ``os.replace``. Parent folders are created. That survives a killed
process; to survive a power cut as well, pass ``durable=True`` (the data is fsynced before the
rename), which costs a few milliseconds per file — worth it for checkpoints, not for each of the
many small files of a dataset sample (those are written inside a temporary folder that is renamed
as a whole).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO


def temporary_name(target: Path) -> Path:
    """A fresh hidden name next to ``target`` (creating the parent folder)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")


def atomic_write_path(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` (for libraries that want a file name), then rename into place."""
    target = Path(path)
    tmp = temporary_name(target)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def atomic_write(
    path: str | os.PathLike, write: Callable[[IO[bytes]], None], *, durable: bool = False
) -> Path:
    """Call ``write(file)`` on a temporary binary file, then rename it into place."""

    def to_file(tmp: Path) -> None:
        with open(tmp, "xb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())

    return atomic_write_path(path, to_file)


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(data), durable=durable)


def atomic_write_text(path: str | os.PathLike, text: str, *, durable: bool = False) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), durable=durable)
