"""Training checkpoints of Stage 1: naming, listing, atomic publication, pruning.

A run's folder (``output_dir``, resolved once to an absolute path) holds::

    checkpoints/checkpoint-000500/
        pipeline/          the full pipeline in diffusers layout, EMA weights (load it with
                           MultiViewDiffusionPipeline.from_pretrained or `mouselift infer`)
        training_state/    accelerate state: raw weights, optimizer, LR schedule, EMA, RNG
        trainer_state.json step, config, rig fingerprint — written last: a checkpoint without it
                           is incomplete and ignored
    validation/step-000500.png
    logs/                  tensorboard

A checkpoint is assembled in ``checkpoints/.checkpoint-000500.partial`` and renamed into place,
so a killed run leaves either a complete checkpoint or a hidden partial folder (removed by the
next save), never a ``checkpoint-*`` folder that looks complete but is not.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

from ..errors import MouseliftError

CHECKPOINTS_DIR = "checkpoints"
STATE_FILE = "trainer_state.json"
PIPELINE_DIR = "pipeline"
TRAINING_STATE_DIR = "training_state"
_NAME = re.compile(r"^checkpoint-(\d{6,})$")


class CheckpointError(MouseliftError):
    """A checkpoint to resume from is missing or incomplete (one-line message)."""


def checkpoint_name(step: int) -> str:
    return f"checkpoint-{step:06d}"


def checkpoints_root(output_dir: Path) -> Path:
    return output_dir / CHECKPOINTS_DIR


def partial_path(output_dir: Path, step: int) -> Path:
    return checkpoints_root(output_dir) / f".{checkpoint_name(step)}.partial"


def is_complete(folder: Path) -> bool:
    return (folder / STATE_FILE).is_file() and (folder / PIPELINE_DIR).is_dir()


def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first."""
    root = checkpoints_root(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_dir() and is_complete(path):
            found.append((int(match.group(1)), path))
    return sorted(found)


def resolve_resume(output_dir: Path, resume: str | Path) -> Path:
    """``"latest"`` → the newest complete checkpoint of the run; otherwise a checkpoint path."""
    if str(resume) == "latest":
        found = list_checkpoints(output_dir)
        if not found:
            raise CheckpointError(f"{checkpoints_root(output_dir)}: no complete checkpoint to "
                                  "resume from")
        return found[-1][1]
    path = Path(resume).absolute()
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint folder not found")
    if not is_complete(path):
        raise CheckpointError(f"{path}: incomplete checkpoint (no {STATE_FILE})")
    return path


def read_state(checkpoint: Path) -> dict[str, Any]:
    try:
        return json.loads((checkpoint / STATE_FILE).read_text())
    except (OSError, ValueError):
        raise CheckpointError(f"{checkpoint / STATE_FILE}: unreadable") from None


def publish(partial: Path, final: Path, state: dict[str, Any]) -> None:
    """Write ``trainer_state.json`` into ``partial`` and rename it to ``final``."""
    (partial / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    if final.exists():
        shutil.rmtree(final)
    partial.rename(final)


def prune(output_dir: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` complete checkpoints (and stale partial folders);
    returns what was deleted."""
    removed = []
    for _, path in list_checkpoints(output_dir)[:-keep_last]:
        shutil.rmtree(path)
        removed.append(path)
    return removed


def clear_partials(output_dir: Path) -> None:
    root = checkpoints_root(output_dir)
    if root.is_dir():
        for path in root.glob(".checkpoint-*.partial"):
            shutil.rmtree(path, ignore_errors=True)
