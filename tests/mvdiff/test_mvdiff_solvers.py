"""Stage 1's solvers and sampler settings: FaceLift's defaults, the schedulers on the
pipeline's noise schedule, and the one check of solver, steps and eta."""

from __future__ import annotations

import pytest
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from mouselift.errors import ConfigError
from mouselift.mvdiff.solvers import SamplingSettings

#: FaceLift's noise schedule (its ``pipeckpts/scheduler/scheduler_config.json``).
FACELIFT_SCHEDULE = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
                                  beta_end=0.012, prediction_type="v_prediction").config


def test_defaults_are_facelifts():
    assert SamplingSettings().resolved() == {"solver": "ddim", "steps": 50, "guidance": 3.0,
                                             "eta": 1.0}
    assert SamplingSettings(solver="dpm++").resolved() == {
        "solver": "dpm++", "steps": 20, "guidance": 3.0, "eta": None}
    assert SamplingSettings(steps=7, eta=0).resolved()["eta"] == 0.0
    assert SamplingSettings(steps=7).num_steps == 7


def test_schedulers_use_the_pipelines_noise_schedule():
    ddim = SamplingSettings().make_scheduler(FACELIFT_SCHEDULE)
    assert type(ddim) is DDIMScheduler
    dpm = SamplingSettings(solver="dpm++").make_scheduler(FACELIFT_SCHEDULE)
    assert type(dpm) is DPMSolverMultistepScheduler
    assert (dpm.config.algorithm_type, dpm.config.solver_order) == ("dpmsolver++", 2)
    for scheduler in (ddim, dpm):
        for key in ("beta_schedule", "beta_start", "beta_end", "prediction_type",
                    "num_train_timesteps"):
            assert scheduler.config[key] == FACELIFT_SCHEDULE[key]
    assert SamplingSettings().make_scheduler(FACELIFT_SCHEDULE) is not ddim  # a fresh one


@pytest.mark.parametrize(("options", "message"), [
    ({"solver": "euler"}, "--solver: unknown solver 'euler' (use one of ddim, dpm++)"),
    ({"solver": "dpm++", "eta": 0.5}, "eta applies to DDIM only, not to dpm++"),
    ({"eta": 1.5}, "DDIM eta must be in [0, 1], got 1.5"),
    ({"steps": -1}, "steps must be ≥ 1, got -1"),
    ({"steps": "many"}, "--steps: "),
])
def test_bad_options_are_one_line_errors(options, message):
    with pytest.raises(ConfigError) as info:
        SamplingSettings.from_options(**options)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_settings_are_checked_when_built_and_changed():
    assert SamplingSettings.from_options(solver="dpm++", steps=None, eta=None).steps is None
    with pytest.raises(ValueError, match="unknown solver"):
        SamplingSettings(solver="euler")
    settings = SamplingSettings(eta=0.5)
    with pytest.raises(ValueError, match="DDIM only"):
        settings.solver = "dpm++"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"validation_solver": "euler"}, "unknown solver 'euler'"),
    ({"validation_solver": "dpm++", "validation_eta": 0.5}, "validation_eta applies to a solver"),
])
def test_training_validation_sampler_is_checked_against_the_table(overrides, message):
    from mouselift.mvdiff.train_config import load_train_mvdiff_config

    assert load_train_mvdiff_config("tiny", {"validation_solver": "ddim",
                                             "validation_eta": 0.5}).validation_eta == 0.5
    with pytest.raises(ConfigError, match=message):
        load_train_mvdiff_config("tiny", overrides)
