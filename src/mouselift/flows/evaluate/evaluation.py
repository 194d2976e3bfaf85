"""What an evaluation of ``mouselift eval`` is: an :class:`Evaluation` subclass (name,
description, what it needs, ``run(sample)``), run on each :class:`EvalSample` of the split with
the run's :class:`EvalSetup`.

An evaluation's entry in ``eval.json`` (per sample): ``views`` → per view group
:func:`~mouselift.metrics.views.score_views`' scores, ``geometry`` (3D metrics or null),
``seconds`` (its wall time on the sample), and what else it reports (``num_gaussians``,
``cameras``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from ...cameras import Similarity
from ...data.layout import EVAL_DIR
from ...data.sample import (
    SampleViews,
    has_eval_views,
    load_sample_record,
    load_sample_views,
    record_similarity,
)
from ...data.synth.ground_truth import DatasetGroundTruth
from ...devices import seconds_since
from ...errors import DatasetError
from ...fit.config import FitConfig
from ...gslrm.inference import SplatFilters
from ...gslrm.model import GSLRM
from ...images import WHITE, composite, to_uint8
from ...metrics import LPIPS, LPIPSUnavailable
from ...metrics.geometry import gaussian_surface_metrics
from ...metrics.views import render_and_score
from ...splat import Gaussians

if TYPE_CHECKING:
    from ..lift import LiftModels


@dataclass(frozen=True)
class EvalSetup:
    """What the run was given, the same for every sample: the fit's config (``fit``), the
    Stage-2 model (``gslrm``; also when it came with Stage 1), both stages (``lift``), LPIPS,
    the device, Stage 1's ``seed`` and resolved ``sampler``, Stage 2's ``filters`` and the
    Gaussians' ``min_opacity`` of the 3D metrics."""

    fit: FitConfig | None
    gslrm: GSLRM | None
    lift: LiftModels | None
    lpips: LPIPS | LPIPSUnavailable | None
    device: torch.device
    seed: int
    sampler: dict[str, Any]
    filters: SplatFilters
    min_opacity: float


@dataclass(frozen=True)
class Generation:
    """Stage 1's views of a sample (:meth:`~mouselift.flows.lift.LiftModels.generate_views` of
    its reference view, rig view 0, at its own cameras): ``ordered`` (the sample's views in the
    rig's order), ``generated`` (V views at the pipeline's resolution) and ``real`` (``ordered``
    resized to it)."""

    ordered: SampleViews
    generated: SampleViews
    real: SampleViews


@dataclass(frozen=True)
class Outcome:
    """An evaluation's result on one sample: ``entry`` (its part of ``eval.json``) and the
    predictions over their real images for the figure, uint8 (N, H, W, 3) each."""

    entry: dict[str, Any]
    predictions: np.ndarray
    targets: np.ndarray


class EvaluationFailed(Exception):
    """An evaluation that could not run on a sample (e.g. a fit whose masks leave an empty
    visual hull): recorded in the sample's ``failed`` with this message, left out of the means,
    not fatal."""


@dataclass
class EvalSample:
    """One prepared sample and what its evaluations share: its views, held-out views, source
    ``frame``, the similarity back to world mm (``to_world``), the ground-truth surface points
    of its frame (``truth_mm``, None without ground truth) and Stage 1's generation."""

    setup: EvalSetup
    directory: Path
    name: str
    frame: int
    views: SampleViews
    held_out: SampleViews | None
    to_world: Similarity
    truth_mm: np.ndarray | None
    centre_offset_mm: float | None

    @classmethod
    def load(cls, directory: Path, name: str, setup: EvalSetup,
             truth: DatasetGroundTruth) -> EvalSample:
        """The sample in ``directory``; a one-line :class:`DatasetError` when its record has no
        source frame or its centre is far from the ground truth's."""
        views = load_sample_views(directory)
        held_out = load_sample_views(directory / EVAL_DIR) if has_eval_views(directory) else None
        record = load_sample_record(directory)
        try:
            frame = int(record["frame"])
        except (KeyError, TypeError, ValueError):
            raise DatasetError(f"{directory}: sample.json has no source 'frame'") from None
        to_world = record_similarity(record, directory / "sample.json").inverse()
        truth_mm = truth.surface_points(frame)
        offset = None
        if truth_mm is not None and "centre_mm" in record:
            offset = truth.check_centre(frame, record["centre_mm"], directory)
        return cls(setup, directory, name, frame, views, held_out, to_world, truth_mm, offset)

    def elapsed(self, started: float) -> float:
        """Seconds since ``started`` (a :func:`time.perf_counter` reading) until the device's
        work is done, as ``eval.json`` writes them (ms)."""
        return round(seconds_since(self.setup.device, started), 3)

    def score_gaussians(self, gaussians: Gaussians, groups: dict[str, SampleViews | None],
                        started: float) -> Outcome:
        """Renders of ``gaussians`` (on the device: gsplat on CUDA when installed) at every
        group's cameras scored against its images (groups None or empty are left out), the 3D
        metrics when there is ground truth, and the seconds since ``started``."""
        setup = self.setup
        gaussians = gaussians.to(setup.device)
        entry: dict[str, Any] = {"num_gaussians": len(gaussians), "views": {}}
        renders, targets = [], []
        for group, views in groups.items():
            if views is None or len(views) == 0:
                continue
            scores, rendered = render_and_score(gaussians, views, setup.lpips)
            entry["views"][group] = scores
            renders.append(rendered)
            targets.append(to_uint8(composite(views.rgba, WHITE)))
        entry["geometry"] = None if self.truth_mm is None else gaussian_surface_metrics(
            gaussians, self.truth_mm, self.to_world, min_opacity=setup.min_opacity)
        entry["seconds"] = self.elapsed(started)
        return Outcome(entry, np.concatenate(renders), np.concatenate(targets))

    @cached_property
    def generation(self) -> Generation:
        """Stage 1's views of the sample (generated once, for every evaluation that uses
        them), with the sample's own cameras as the target cameras."""
        lift = self.setup.lift
        assert lift is not None  # used by evaluations that run with Stage 1 only
        ordered = self.views.in_order(list(lift.rig.names), self.directory)
        image = to_uint8(ordered.rgba[0])  # the reference view, (H, W, 4) uint8
        generated = lift.generate_views(image, cameras=ordered.cameras, seed=self.setup.seed,
                                        **self.setup.sampler)
        return Generation(ordered, generated, ordered.resized(*generated.size))


class Evaluation(ABC):
    """One evaluation of ``mouselift eval``. A new one is a subclass in its own module of this
    package and a line in :data:`~.registry.EVALUATIONS`.

    ``name``: its key in ``eval.json``; ``description``: what it measures (``eval.json``);
    ``skipped``: why it did not run when :meth:`can_run` is False (``eval.json``);
    ``headline_groups``: the view groups its per-sample headline number comes from (first
    present; the figure's line chart and best/worst ranking); ``figure_rank``: which of the
    evaluations that ran has its best and worst samples in the figure (lowest first)."""

    name: ClassVar[str]
    description: ClassVar[str]
    skipped: ClassVar[str]
    headline_groups: ClassVar[tuple[str, ...]]
    figure_rank: ClassVar[int]

    @abstractmethod
    def can_run(self, setup: EvalSetup) -> bool:
        """Whether ``setup`` has what this evaluation needs."""

    @abstractmethod
    def run(self, sample: EvalSample) -> Outcome:
        """The evaluation of ``sample``; :class:`EvaluationFailed` when it cannot run on it."""

    def headline(self, entry: dict[str, Any], key: str = "psnr_masked") -> float | None:
        """A sample's headline number: ``key`` of the first of :attr:`headline_groups` in its
        ``entry`` (None when none is, or the value is)."""
        for group in self.headline_groups:
            if group in entry["views"]:
                value = entry["views"][group].get(key)
                return None if value is None else float(value)
        return None

    def headline_group(self, entry: dict[str, Any]) -> str | None:
        """The view group :meth:`headline` reads in ``entry``."""
        return next((g for g in self.headline_groups if g in entry["views"]), None)


__all__ = [
    "EvalSample",
    "EvalSetup",
    "Evaluation",
    "EvaluationFailed",
    "Generation",
    "Outcome",
]
