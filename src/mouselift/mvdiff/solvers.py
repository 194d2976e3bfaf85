"""Stage 1's samplers: the one table of solvers, and the sampler settings checked against it.

:data:`SOLVERS` maps a solver name to its :class:`Solver`: how its diffusers scheduler is made
from the pipeline's noise schedule (``scheduler/scheduler_config.json``, FaceLift's DDIM config),
its default number of denoising steps, and whether it takes DDIM's ``eta``. Adding a solver is
one entry here: :class:`SamplingSettings` (and through it the pipeline, ``mouselift infer`` and
``mouselift eval``) accepts every name of the table.

* ``"ddim"`` — FaceLift's sampler: DDIM, 50 steps, **eta 1** (stochastic DDIM: each step adds
  fresh noise drawn from the sampling generator); ``eta=0`` is deterministic DDIM.
* ``"dpm++"`` — DPM-Solver++ (2nd order multistep), good at 20 steps: the fast option; no eta.

Guidance is FaceLift's classifier-free guidance scale, 3 by default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationError, model_validator

from ..config import StrictModel
from ..errors import ConfigError

#: FaceLift's DDIM eta (its inference.py, gradio app and validation all sample with 1.0).
FACELIFT_DDIM_ETA = 1.0
#: FaceLift's classifier-free guidance scale.
DEFAULT_GUIDANCE = 3.0


@dataclass(frozen=True)
class Solver:
    """One sampling method: ``make_scheduler(noise schedule config) → a fresh diffusers
    scheduler``, the steps it runs by default, and whether its ``step`` takes ``eta``."""

    make_scheduler: Callable[[Any], Any]
    default_steps: int
    takes_eta: bool


def _ddim(noise_schedule: Any) -> Any:
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(noise_schedule)


def _dpm_solver_pp(noise_schedule: Any) -> Any:
    from diffusers import DPMSolverMultistepScheduler

    return DPMSolverMultistepScheduler.from_config(noise_schedule, algorithm_type="dpmsolver++",
                                                   solver_order=2)


#: Every solver by name (diffusers is imported when a scheduler is made, so that reading the
#: table — config validation, ``--help`` — stays instant).
SOLVERS: dict[str, Solver] = {
    "ddim": Solver(_ddim, default_steps=50, takes_eta=True),
    "dpm++": Solver(_dpm_solver_pp, default_steps=20, takes_eta=False),
}


def _known_solver(name: str) -> str:
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r} (use one of {', '.join(SOLVERS)})")
    return name


#: A solver name, validated against :data:`SOLVERS`.
SolverName = Annotated[str, AfterValidator(_known_solver)]


class SamplingSettings(StrictModel):
    """How Stage 1 samples: FaceLift's DDIM (50 steps, eta 1, guidance 3) by default.

    ``steps`` ``None`` (or 0): the solver's default; ``eta`` ``None``: FaceLift's 1.0 for DDIM,
    and an error for a solver without eta (never silently ignored). Validated on construction
    (a :class:`pydantic.ValidationError`, a ``ValueError``); :meth:`from_options` reports the
    first problem as a one-line :class:`~mouselift.errors.ConfigError`."""

    solver: SolverName = "ddim"
    steps: int | None = None
    guidance: float = DEFAULT_GUIDANCE
    eta: float | None = None

    @model_validator(mode="after")
    def _eta_and_steps(self) -> SamplingSettings:
        if self.eta is not None:
            if not self.spec.takes_eta:
                raise ValueError(f"eta applies to DDIM only, not to {self.solver}")
            if not 0.0 <= self.eta <= 1.0:
                raise ValueError(f"DDIM eta must be in [0, 1], got {self.eta}")
        if self.num_steps < 1:
            raise ValueError(f"steps must be ≥ 1, got {self.num_steps}")
        return self

    @classmethod
    def from_options(cls, **options: Any) -> SamplingSettings:
        """Settings from command-line options (``None`` = the default); a bad value is a
        one-line :class:`ConfigError` naming the option (``--solver``, ``--steps``, …)."""
        try:
            return cls(**{k: v for k, v in options.items() if v is not None})
        except ValidationError as exc:
            error = exc.errors()[0]
            option = f"--{error['loc'][0]}: " if error["loc"] else ""
            raise ConfigError(option + error["msg"].removeprefix("Value error, ")) from None

    @property
    def spec(self) -> Solver:
        """The solver's entry of :data:`SOLVERS`."""
        return SOLVERS[self.solver]

    @property
    def num_steps(self) -> int:
        """Denoising steps: ``steps``, or the solver's default."""
        return int(self.steps or self.spec.default_steps)

    @property
    def sampling_eta(self) -> float | None:
        """The eta the solver runs with: ``eta``, or FaceLift's 1.0 for a solver that takes one;
        ``None`` for a solver without eta."""
        if not self.spec.takes_eta:
            return None
        return FACELIFT_DDIM_ETA if self.eta is None else float(self.eta)

    def make_scheduler(self, noise_schedule: Any) -> Any:
        """A fresh scheduler of this solver on ``noise_schedule`` (a scheduler config)."""
        return self.spec.make_scheduler(noise_schedule)

    def resolved(self) -> dict[str, Any]:
        """``{"solver", "steps", "guidance", "eta"}`` with the defaults filled in (eta ``None``
        for a solver without eta): what reports record."""
        return {"solver": self.solver, "steps": self.num_steps, "guidance": float(self.guidance),
                "eta": self.sampling_eta}


__all__ = ["DEFAULT_GUIDANCE", "FACELIFT_DDIM_ETA", "SOLVERS", "SamplingSettings", "Solver",
           "SolverName"]
