"""Every evaluation of ``mouselift eval``, in report order (``eval.json``, the table, the
figure's charts). A new evaluation is an :class:`~.evaluation.Evaluation` subclass in its own
module of this package plus its line here."""

from __future__ import annotations

from .end_to_end import EndToEndEvaluation
from .evaluation import Evaluation
from .fit import FitEvaluation
from .stage1 import Stage1Evaluation
from .stage2 import Stage2Evaluation

EVALUATIONS: tuple[Evaluation, ...] = (
    FitEvaluation(),
    Stage2Evaluation(),
    Stage1Evaluation(),
    EndToEndEvaluation(),
)

__all__ = ["EVALUATIONS"]
