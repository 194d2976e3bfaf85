""":func:`evaluate_dataset`: every evaluation that can run (:data:`~.registry.EVALUATIONS`) on
each chosen sample of a prepared split; writes ``eval.json`` (:mod:`.report`) and ``eval.png``
(:mod:`.figure`) into a result folder that appears whole
(:func:`mouselift.atomic.result_folder`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ... import __version__
from ...atomic import atomic_write_json, atomic_write_path, check_result_folder, result_folder
from ...data.layout import read_split, split_list
from ...data.synth.ground_truth import find_ground_truth
from ...devices import resolve_device
from ...errors import ConfigError, DatasetError
from ...fit.config import FitConfig
from ...gslrm.inference import SplatFilters, Stage2Model
from ...gslrm.model import GSLRM
from ...metrics import LPIPS, LPIPSUnavailable, load_lpips
from ...metrics.geometry import MIN_OPACITY
from ...plots import save_png
from ...weights import find_builtin, require_builtin
from .evaluation import EvalSample, EvalSetup, EvaluationFailed
from .figure import GRID_SAMPLES, Extremes, eval_figure, sheet
from .localisation import score_localisation
from .registry import EVALUATIONS
from .report import EVAL_JSON, EVAL_PNG, FORMAT, VERSION, EvalResult, geometry_info, summarize


@dataclass
class _Models:
    gslrm: GSLRM | None = None
    lift: Any = None  # LiftModels (imported lazily: diffusers)
    info: dict[str, Any] = field(default_factory=dict)
    rig: Any = None  # the checkpoints' Rig


def _load_models(gslrm: str | os.PathLike | None, mvdiff: str | os.PathLike | None,
                 device: torch.device, dtype: str | None) -> _Models:
    models = _Models()
    if mvdiff is not None:
        if gslrm is None:
            raise ConfigError(
                "--mvdiff needs --gslrm too: Stage 1 is evaluated through LiftModels, which "
                "loads both checkpoints and checks that they share a rig")
        from ..lift import LiftModels

        models.lift = LiftModels.load(mvdiff, gslrm, device=str(device), dtype=dtype)
        models.gslrm = models.lift.gslrm
        models.info = models.lift.describe()
        models.rig = models.lift.rig
    elif gslrm is not None:
        stage2 = Stage2Model.load(gslrm, device=device)
        models.gslrm = stage2.gslrm
        models.info = stage2.describe()
        models.rig = stage2.rig
    return models


def _choose(samples: list[str], count: int | None) -> list[str]:
    """``count`` samples evenly spaced over the split (all when None or more)."""
    if count is None or count >= len(samples):
        return samples
    picks = np.unique(np.linspace(0, len(samples) - 1, count).round().astype(int))
    return [samples[i] for i in picks]


def evaluate_dataset(
    dataset_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    split: str = "val",
    gslrm: str | os.PathLike | None = None,
    mvdiff: str | os.PathLike | None = None,
    fit: FitConfig | None = None,
    samples: int | None = None,
    recording: str | os.PathLike | None = None,
    vgg_weights: str | os.PathLike | None = None,
    lpips_weights: str | os.PathLike | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    seed: int = 0,
    sampler: dict[str, Any] | None = None,
    filters: SplatFilters | None = None,
    min_opacity: float = MIN_OPACITY,
    progress: bool = True,
    overwrite: bool = False,
    builtin: bool | None = None,
) -> EvalResult:
    """Evaluate on ``split`` of the prepared ``dataset_dir`` and write ``eval.json`` and
    ``eval.png`` to ``out_dir`` (package docstring: evaluations, metrics).

    ``gslrm``: Stage-2 checkpoint (``stage2``); ``mvdiff``: Stage-1 pipeline folder, with
    ``gslrm`` (``stage1`` and ``end_to_end``, through :class:`~mouselift.flows.lift.LiftModels`);
    ``fit``: a :class:`FitConfig` to run the per-scene fit (``fit``). ``samples``: at most this
    many samples, evenly spaced over the split. ``recording``: the source recording holding the
    ground truth (default: the one ``summary.json`` names). ``sampler``: ``solver``, ``steps``,
    ``guidance``, ``eta`` of Stage 1 (FaceLift's DDIM by default); ``seed`` seeds each sample's
    generation. ``filters``: Stage 2's inference filters (FaceLift's by default).
    ``min_opacity``: Gaussians kept for the 3D metrics. ``builtin``: evaluate the built-in
    models (:mod:`mouselift.weights`; ``None``: when nothing else is given and they are
    installed). ``out_dir`` must be new, empty or an earlier evaluation's (replaced when this
    one finishes); another folder only with ``overwrite``.

    ``eval.json``: ``format``, ``version``, ``mouselift``, ``torch``, ``dataset``, ``split``,
    ``samples_in_split``, ``num_samples``, ``device``, ``seed``, ``models`` (checkpoints, rig),
    ``fit`` (config or null), ``sampler``, ``filters``, ``evaluations`` (per name: ``ran``,
    ``description`` or ``skipped`` with the reason), ``ground_truth`` (``available``,
    ``recording`` and ``source``, or ``reason``), ``geometry`` (definition, thresholds,
    ``min_opacity``), ``lpips_unavailable`` (when so), ``means``
    (:func:`~.report.summarize`) and ``samples``: per sample ``sample``, ``frame``,
    ``gt_centre_offset_mm``, ``localisation`` (each camera's one-view centres vs the
    all-view centre, :mod:`.localisation`; the per-camera means in the top-level
    ``localisation``) and ``evaluations`` → per name ``seconds``, ``views`` → per group
    :func:`~mouselift.metrics.views.score_views`' scores (means and ``per_view``),
    ``geometry`` (:func:`~mouselift.metrics.geometry.surface_metrics`, or null),
    ``num_gaussians`` (not for ``stage1``); ``failed`` → per name the reason, for an
    evaluation that could not run on the sample (a fit whose masks leave an empty visual
    hull), left out of the means.
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    builtin_models = None
    if builtin and (gslrm is not None or mvdiff is not None):
        raise ConfigError("--builtin evaluates the built-in models: leave out --gslrm and "
                          "--mvdiff")
    if builtin or (builtin is None and gslrm is None and mvdiff is None and fit is None
                   and find_builtin() is not None):
        builtin_models = require_builtin()
        mvdiff, gslrm = builtin_models.stage1, builtin_models.stage2
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir}: dataset folder not found")
    names = read_split(dataset_dir, split)
    if not names:
        raise DatasetError(f"{split_list(dataset_dir, split)}: lists no samples")
    if gslrm is None and mvdiff is None and fit is None:
        raise ConfigError("nothing to evaluate: give --gslrm (Stage 2), --mvdiff with --gslrm "
                          "(Stage 1 and end to end) and/or --fit PRESET (per-scene fit)")
    inputs = (dataset_dir, gslrm, mvdiff, recording, vgg_weights, lpips_weights)
    check_result_folder(out_dir, "eval", overwrite=overwrite, inputs=inputs)
    chosen = _choose(names, samples)
    torch_device = resolve_device(device)
    lpips = load_lpips(vgg_weights, lpips_weights)
    if isinstance(lpips, LPIPS):
        lpips = lpips.to(torch_device)
    truth = find_ground_truth(dataset_dir, recording)
    models = _load_models(gslrm, mvdiff, torch_device, dtype)
    filters = filters or SplatFilters()
    if models.lift is not None:
        from ...mvdiff.solvers import SamplingSettings

        sampler = SamplingSettings.from_options(**(sampler or {})).resolved()
    else:
        sampler = {}
    setup = EvalSetup(fit=fit, gslrm=models.gslrm, lift=models.lift, lpips=lpips,
                      device=torch_device, seed=seed, sampler=sampler, filters=filters,
                      min_opacity=min_opacity)

    carried = models.rig.locator if models.rig is not None else None
    localisation, located = score_localisation(dataset_dir, chosen, carried)
    active = [e for e in EVALUATIONS if e.can_run(setup)]
    grid = min(active, key=lambda e: e.figure_rank, default=None)
    extremes = Extremes(GRID_SAMPLES)
    results: list[dict[str, Any]] = []
    for name in tqdm(chosen, desc="eval", unit="sample", disable=not progress):
        sample = EvalSample.load(dataset_dir / name, name, setup, truth)
        entry: dict[str, Any] = {"sample": name, "frame": sample.frame,
                                 "gt_centre_offset_mm": sample.centre_offset_mm,
                                 "localisation": located.get(name), "evaluations": {}}
        for evaluation in active:
            try:
                outcome = evaluation.run(sample)
            except EvaluationFailed as exc:
                entry.setdefault("failed", {})[evaluation.name] = str(exc)
                continue
            entry["evaluations"][evaluation.name] = outcome.entry
            if evaluation is grid:
                extremes.add(grid.headline(outcome.entry), f"{name} (frame {sample.frame})",
                             sheet(outcome.predictions, outcome.targets))
        results.append(entry)

    report: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "mouselift": __version__,
        "torch": torch.__version__, "dataset": str(dataset_dir), "split": split,
        "samples_in_split": len(names), "num_samples": len(chosen), "device": str(torch_device),
        "seed": seed, "models": models.info,
        "fit": None if fit is None else fit.model_dump(),
        "sampler": sampler if models.lift is not None else None,
        "filters": filters.model_dump() if models.gslrm is not None else None,
        "metric_background": "white",
        "evaluations": {e.name: ({"ran": True, "description": e.description} if e in active
                                 else {"ran": False, "skipped": e.skipped})
                        for e in EVALUATIONS},
        "ground_truth": truth.info,
        "geometry": geometry_info(min_opacity),
        "localisation": localisation,
        "builtin": builtin_models.describe() if builtin_models is not None else None,
    }
    if isinstance(lpips, LPIPSUnavailable):
        report["lpips_unavailable"] = lpips.reason
    report["means"] = summarize(results)
    report["samples"] = results

    figure = eval_figure(results, extremes.chosen(), grid,
                         title=f"mouselift eval: {dataset_dir.name} ({split}, "
                               f"{len(chosen)} samples)")
    with result_folder(out_dir, "eval", overwrite=overwrite, inputs=inputs) as folder:
        atomic_write_path(folder / EVAL_PNG, lambda tmp: save_png(figure, tmp))
        atomic_write_json(folder / EVAL_JSON, report)
    return EvalResult(out_dir, report)


__all__ = ["evaluate_dataset"]
