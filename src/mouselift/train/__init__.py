"""The training engine both stages use (accelerate; CPU, one or many GPUs, many nodes).

* :mod:`~mouselift.train.stage` — :class:`Stage`: what a stage supplies (models, data, the loss
  of one micro-batch, validation, its checkpoint payload); :class:`Run`: what the engine gives it.
* :mod:`~mouselift.train.engine` — :func:`train_stage`: the loop (optimizer groups, schedule,
  EMA, accumulation, clipping, the stop on a non-finite loss, exact resume, validation cadence,
  tensorboard / wandb, progress bar).
* :mod:`~mouselift.train.config` — :class:`TrainLoopConfig`, the base of every stage's config.
* :mod:`~mouselift.train.checkpoints` — checkpoint folders: naming, listing, atomic publication.
* :mod:`~mouselift.train.sampling` — seeded data order and per-step random generators.

Nothing here knows a stage: stages import this package, never the other way round.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "CheckpointError": ".checkpoints",
    "EpochSampler": ".sampling",
    "LossNotFiniteError": ".engine",
    "Run": ".stage",
    "Stage": ".stage",
    "TrainLoopConfig": ".config",
    "TrainResult": ".engine",
    "TrainingEngine": ".engine",
    "Validation": ".stage",
    "step_generator": ".sampling",
    "train_stage": ".engine",
    "trainable_parameters": ".stage",
    "weight_decay_groups": ".stage",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "CheckpointError",
    "EpochSampler",
    "LossNotFiniteError",
    "Run",
    "Stage",
    "TrainLoopConfig",
    "TrainResult",
    "TrainingEngine",
    "Validation",
    "step_generator",
    "train_stage",
    "trainable_parameters",
    "weight_decay_groups",
]
