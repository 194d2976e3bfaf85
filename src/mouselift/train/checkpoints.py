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
    """A checkpoint (to load, or to resume from) is missing or incomplete (one-line message)."""


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


def resolve_checkpoint(path: str | os.PathLike, payload_dir: str | None = None
                       ) -> tuple[Path | None, str]:
    """The checkpoint folder ``path`` names, and how it was found: a run folder (holding
    ``checkpoints/``) → its newest complete checkpoint (``"latest checkpoint of run …"``); a
    checkpoint folder → itself; a checkpoint's ``payload_dir`` → that checkpoint (how: ``""``).
    ``None`` for anything else (a payload saved on its own, FaceLift's ``.pt`` file or
    ``pipeckpts`` folder). A path that does not exist is a one-line :class:`CheckpointError`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: does not exist")
    if not path.is_dir():
        return None, ""
    required = (payload_dir,) if payload_dir else ()
    if (path / STATE_FILE).is_file() or (payload_dir and (path / payload_dir).is_dir()):
        return path, "from the checkpoint folder given"
    if (path / CHECKPOINTS_DIR).is_dir():
        found = list_checkpoints(path, required)
        if not found:
            holding = f"{payload_dir}/ and {STATE_FILE}" if payload_dir else STATE_FILE
            raise CheckpointError(f"{path}: a run folder without a complete checkpoint (no "
                                  f"{CHECKPOINTS_DIR}/checkpoint-NNNNNN/ with {holding})")
        return found[-1][1], f"latest checkpoint of run {path}"
    if payload_dir and path.name == payload_dir and (path.parent / STATE_FILE).is_file():
        return path.parent, ""
    return None, ""


def resolve_payload(path: str | os.PathLike, payload_dir: str) -> tuple[Path, str]:
    """What to load when a user names ``path``: ``(the payload, how it was found)``. A run
    folder gives its newest complete checkpoint's ``payload_dir``, a checkpoint folder its
    ``payload_dir``; anything else is loaded as given (how: ``""``) — the payload folder itself,
    FaceLift's ``.pt`` file or ``pipeckpts`` folder. See :func:`resolve_checkpoint`."""
    checkpoint, how = resolve_checkpoint(path, payload_dir)
    if checkpoint is None or not how:
        return Path(path), ""
    if not (checkpoint / payload_dir).is_dir():
        raise CheckpointError(f"{checkpoint}: a checkpoint without {payload_dir}/ (one of the "
                              "other stage?)")
    return checkpoint / payload_dir, how


def loaded_from(path: str | os.PathLike, how: str) -> str:
    """``path (how)`` — the line a command prints for a checkpoint it loaded."""
    return f"{path} ({how})" if how else str(path)


def resolve_resume(output_dir: Path, resume: str | Path, required: Sequence[str] = ()) -> Path:
    """``"latest"`` → the newest complete checkpoint of the run; otherwise a run folder (its
    newest complete checkpoint), a checkpoint folder, or a checkpoint's payload folder."""
    if str(resume) == "latest":
        found = list_checkpoints(output_dir, required)
        if not found:
            raise CheckpointError(f"{checkpoints_root(output_dir)}: no complete checkpoint to "
                                  "resume from")
        return found[-1][1]
    given = Path(resume).absolute()
    path, _ = resolve_checkpoint(given, required[0] if required else None)
    if path is None:
        raise CheckpointError(f"{given}: not a checkpoint folder (nor a run folder holding "
                              f"{CHECKPOINTS_DIR}/)")
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
