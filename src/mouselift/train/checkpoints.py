"""Training checkpoints: naming, listing, resolving a resume, atomic publication, pruning.

A run's folder (``output_dir``, resolved once to an absolute path) holds::

    checkpoints/checkpoint-000500/
        <payload>/         what the stage exports (Stage 1: ``pipeline/``), EMA weights
        training_state/    accelerate state: raw weights, optimizer, LR schedule, EMA, RNG of
                           every process
        trainer_state.json step, config, the stage's own fields — written last: a checkpoint
                           without it (or without one of its folders) is incomplete and ignored

Every process writes its part of ``training_state/`` into the shared hidden folder
``checkpoints/.checkpoint-000500.partial``; the main process then assembles the checkpoint in a
second hidden folder (:func:`mouselift.atomic.atomic_dir`) and moves it into place in one atomic
step — swapping it with an existing folder of that name, never deleting the old one first — so
there is no moment without a complete checkpoint, and a killed run leaves only hidden folders
(removed by the next save). Pruning renames a checkpoint to a hidden name before deleting it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_dir, temporary_name
from ..errors import MouseliftError

CHECKPOINTS_DIR = "checkpoints"
STATE_FILE = "trainer_state.json"
TRAINING_STATE_DIR = "training_state"
_NAME = re.compile(r"^checkpoint-(\d{6,})$")
_HIDDEN = ".checkpoint-*.partial"


class CheckpointError(MouseliftError):
    """A checkpoint to resume from is missing or incomplete (one-line message)."""


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{step:06d}"


def checkpoints_root(output_dir: Path) -> Path:
    return output_dir / CHECKPOINTS_DIR


def checkpoint_path(output_dir: Path, step: int) -> Path:
    return checkpoints_root(output_dir) / checkpoint_name(step)


def partial_path(output_dir: Path, step: int) -> Path:
    """The hidden folder all processes write their training state into before publication."""
    return checkpoints_root(output_dir) / f".{checkpoint_name(step)}.partial"


def is_complete(folder: Path, required: Sequence[str] = ()) -> bool:
    """``trainer_state.json``, ``training_state/`` and the stage's ``required`` folders are
    there."""
    return (folder / STATE_FILE).is_file() and all(
        (folder / name).is_dir() for name in (TRAINING_STATE_DIR, *required))


def list_checkpoints(output_dir: Path, required: Sequence[str] = ()) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run as ``(step, folder)``, oldest first."""
    root = checkpoints_root(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_dir() and is_complete(path, required):
            found.append((int(match.group(1)), path))
    return sorted(found)


def resolve_resume(output_dir: Path, resume: str | Path, required: Sequence[str] = ()) -> Path:
    """``"latest"`` → the newest complete checkpoint of the run; otherwise a checkpoint path."""
    if str(resume) == "latest":
        found = list_checkpoints(output_dir, required)
        if not found:
            raise CheckpointError(f"{checkpoints_root(output_dir)}: no complete checkpoint to "
                                  "resume from")
        return found[-1][1]
    path = Path(resume).absolute()
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint folder not found")
    if not is_complete(path, required):
        missing = [name for name in (STATE_FILE, TRAINING_STATE_DIR, *required)
                   if not (path / name).exists()]
        raise CheckpointError(f"{path}: incomplete checkpoint (no {', '.join(missing)})")
    return path


def read_state(checkpoint: Path) -> dict[str, Any]:
    try:
        return json.loads((checkpoint / STATE_FILE).read_text())
    except (OSError, ValueError):
        raise CheckpointError(f"{checkpoint / STATE_FILE}: unreadable") from None


def publish(partial: Path, final: Path, state: dict[str, Any],
            export: Callable[[Path], None] | None = None) -> Path:
    """Assemble the checkpoint ``final`` and move it into place atomically: the contents of
    ``partial`` (the processes' training state), then what ``export(folder)`` writes, then
    ``trainer_state.json``. An existing ``final`` is swapped out, not deleted first; on an
    exception ``final`` is left as it was. ``partial`` is removed."""
    with atomic_dir(final, replace=True) as folder:
        for item in sorted(partial.iterdir()):
            os.rename(item, folder / item.name)
        if export is not None:
            export(folder)
        (folder / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    shutil.rmtree(partial, ignore_errors=True)
    return final


def _remove(path: Path) -> None:
    """Hide ``path`` under a name no listing takes for a checkpoint, then delete it: an
    interrupted deletion never leaves a half-deleted folder that looks complete."""
    hidden = temporary_name(path)
    os.rename(path, hidden)
    shutil.rmtree(hidden, ignore_errors=True)


def prune(output_dir: Path, keep_last: int, required: Sequence[str] = ()) -> list[Path]:
    """Delete all but the newest ``keep_last`` complete checkpoints; returns what was deleted."""
    removed = []
    for _, path in list_checkpoints(output_dir, required)[:-keep_last]:
        _remove(path)
        removed.append(path)
    return removed


def clear_partials(output_dir: Path) -> None:
    """Remove the hidden folders an interrupted save or deletion left behind."""
    root = checkpoints_root(output_dir)
    if root.is_dir():
        for path in root.glob(_HIDDEN):
            shutil.rmtree(path, ignore_errors=True)
