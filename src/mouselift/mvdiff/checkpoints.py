"""Training checkpoints of Stage 1: the engine's (:mod:`mouselift.train.checkpoints`) with the
pipeline as payload.

A run's folder (``output_dir``, resolved once to an absolute path) holds::

    checkpoints/checkpoint-000500/
        pipeline/          the full pipeline in diffusers layout, EMA weights (load it with
                           MultiViewDiffusionPipeline.from_pretrained)
        training_state/    accelerate state: raw weights, optimizer, LR schedule, EMA, RNG
        trainer_state.json step, config, rig fingerprint — written last: a checkpoint without it
                           is incomplete and ignored
    validation/step-000500.png
    logs/                  tensorboard

Checkpoints are assembled in hidden folders and moved into place atomically (an existing folder
of the same name is swapped out, not deleted first), so a killed run leaves either a complete
checkpoint or hidden folders (removed by the next save), never a ``checkpoint-*`` folder that
looks complete but is not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..train import checkpoints as _engine
from ..train.checkpoints import CHECKPOINTS_DIR as CHECKPOINTS_DIR
from ..train.checkpoints import STATE_FILE as STATE_FILE
from ..train.checkpoints import TRAINING_STATE_DIR as TRAINING_STATE_DIR
from ..train.checkpoints import CheckpointError as CheckpointError
from ..train.checkpoints import checkpoint_name as checkpoint_name
from ..train.checkpoints import checkpoints_root as checkpoints_root
from ..train.checkpoints import clear_partials as clear_partials
from ..train.checkpoints import partial_path as partial_path

PIPELINE_DIR = "pipeline"
#: What Stage 1 exports into a checkpoint (the engine's ``Stage.payload_dirs``).
PAYLOAD_DIRS = (PIPELINE_DIR,)


def is_complete(folder: Path) -> bool:
    return _engine.is_complete(folder, PAYLOAD_DIRS)


def list_checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints of a run, oldest first."""
    return _engine.list_checkpoints(output_dir, PAYLOAD_DIRS)


def resolve_resume(output_dir: Path, resume: str | Path) -> Path:
    """``"latest"`` → the newest complete checkpoint of the run; otherwise a checkpoint path."""
    return _engine.resolve_resume(output_dir, resume, PAYLOAD_DIRS)


def read_state(checkpoint: Path) -> dict[str, Any]:
    return _engine.read_state(checkpoint)


def prune(output_dir: Path, keep_last: int) -> list[Path]:
    """Delete all but the newest ``keep_last`` complete checkpoints; returns what was deleted."""
    return _engine.prune(output_dir, keep_last, PAYLOAD_DIRS)
