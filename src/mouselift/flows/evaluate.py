"""``mouselift eval``: both stages, the whole pipeline and the per-scene fit on a prepared split.

Evaluations (each runs when what it needs is given; the others are listed as skipped, with why):

* ``fit`` — the per-scene fit of :mod:`mouselift.fit` on the sample's rig views (the reference:
  what optimising on all real views reaches). Views: ``inputs`` (the fitted views) and
  ``held_out`` (``eval/`` cameras, or the view ``holdout`` names).
* ``stage2`` — GS-LRM on the sample's real rig views with their own cameras
  (:func:`~mouselift.flows.reconstruct.predict_gaussians`, FaceLift's filters). Views:
  ``inputs`` and ``held_out`` (``eval/``, never seen by the model).
* ``stage1`` — the multi-view diffusion's views generated from the sample's reference view
  (rig view 0, as Stage 1 trains) against the real images of the same rig cameras, at the
  pipeline's resolution. Views: ``input`` (view 0) and ``novel`` (the other rig views).
* ``end_to_end`` — the generated views → GS-LRM → Gaussians rendered at the sample's real
  cameras. Views: ``input``, ``novel`` and ``held_out``.

Stage 1 and end to end share one generation per sample
(:meth:`~mouselift.flows.lift.LiftModels.generate_views`) with the **sample's own cameras**
(the frame's real cameras in its normalised world, rig order) as the target cameras, so the
Gaussians live in the sample's frame like the fit's and Stage 2's.

Image metrics (:func:`mouselift.fit.runner.score_views`): on white, PSNR / SSIM over the image
and over the mouse (real alpha > 0.5), LPIPS-VGG when weights are given. 3D metrics
(:mod:`mouselift.metrics.geometry`: Chamfer distance, accuracy, completeness, F-score at 2 and
5 mm of the opacity-weighted Gaussian centres) where ground truth exists: the centres are
mapped to world mm with the inverse of the sample's stored similarity and compared with the
ground-truth surface points of the sample's source frame (:func:`find_ground_truth`).

Outputs in ``OUT`` (each written atomically): ``eval.json`` (:func:`evaluate_dataset`) and
``eval.png`` (:func:`eval_figure`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from .. import __version__
from ..atomic import atomic_write_json, atomic_write_path
from ..cameras import Similarity
from ..data.layout import EVAL_DIR, SUMMARY_FILE, read_split, split_list
from ..data.sample import (
    SampleViews,
    has_eval_views,
    load_sample_record,
    load_sample_views,
    record_similarity,
)
from ..data.synth.ground_truth import JSON_NAME, NPZ_NAME, GroundTruth, load_ground_truth
from ..devices import resolve_device
from ..errors import ConfigError, DatasetError
from ..fit.config import FitConfig
from ..fit.loop import optimize
from ..fit.runner import evaluate, score_views, split_views
from ..gslrm.model import GSLRM
from ..images import WHITE, composite, image_grid, to_uint8
from ..metrics import LPIPS, LPIPSUnavailable, load_lpips
from ..metrics.geometry import MIN_OPACITY, THRESHOLDS_MM, gaussian_surface_metrics
from ..metrics.geometry import threshold_key as _tk
from ..plots import PALETTE, line_chart, stack_vertical, text_strip
from ..splat import Gaussians
from .reconstruct import SplatFilters, predict_gaussians

EVAL_JSON = "eval.json"
EVAL_PNG = "eval.png"
FORMAT = "mouselift-eval"
VERSION = 1

FIT, STAGE2, STAGE1, END_TO_END = "fit", "stage2", "stage1", "end_to_end"
#: Evaluations in report order.
EVALUATIONS = (FIT, STAGE2, STAGE1, END_TO_END)
DESCRIPTIONS = {
    FIT: "per-scene fit on the sample's real rig views (reference)",
    STAGE2: "GS-LRM from the sample's real rig views and cameras",
    STAGE1: "generated views vs the real images of the same rig cameras",
    END_TO_END: "generated views → GS-LRM → renders at the sample's real cameras",
}
#: Per evaluation, the view group its per-sample headline number comes from (first present):
#: the line chart and the best/worst ranking use it.
HEADLINE = {FIT: ("held_out", "inputs"), STAGE2: ("held_out", "inputs"),
            STAGE1: ("novel", "input"), END_TO_END: ("novel", "held_out", "input")}
#: The evaluation whose best and worst samples the figure shows (first that ran).
GRID_PREFERENCE = (END_TO_END, STAGE2, FIT, STAGE1)
IMAGE_KEYS = ("psnr", "psnr_masked", "ssim", "ssim_masked", "lpips")
#: A sample's centre and the ground truth's centre of its frame must agree this well (mm), or
#: the ground truth is not of the recording the dataset was prepared from.
GT_CENTRE_TOLERANCE_MM = 20.0
#: Best and worst samples shown in the figure (each); tiles are at most this many pixels.
GRID_SAMPLES = 2
GRID_TILE = 128
CHART_WIDTH = 760
CHART_HEIGHT = 260


# ------------------------------------------------------------------------------ ground truth
@dataclass(frozen=True)
class DatasetGroundTruth:
    """The ground truth of a dataset's source recording (``truth`` None when there is none,
    with ``reason``); ``info`` goes into ``eval.json``."""

    truth: GroundTruth | None
    info: dict[str, Any]

    def surface_points(self, frame: int) -> np.ndarray | None:
        """Ground-truth surface points (P, 3) in world mm of source frame ``frame``."""
        if self.truth is None:
            return None
        return self.truth.surface_points[self.truth.row_of(frame)].astype(np.float64)

    def check_centre(self, frame: int, centre_mm: Sequence[float], where: object) -> float | None:
        """Distance (mm) between a sample's centre and the true centre of its frame; a one-line
        :class:`DatasetError` beyond :data:`GT_CENTRE_TOLERANCE_MM`."""
        if self.truth is None:
            return None
        true = self.truth.centers[self.truth.row_of(frame)]
        offset = float(np.linalg.norm(np.asarray(centre_mm, dtype=np.float64) - true))
        if offset > GT_CENTRE_TOLERANCE_MM:
            raise DatasetError(
                f"{where}: its centre is {offset:.0f} mm from the ground truth's body centre of "
                f"frame {frame} in {self.info.get('recording')}: that is not the recording this "
                "dataset was prepared from")
        return offset


def _has_ground_truth(folder: Path) -> bool:
    return (folder / NPZ_NAME).is_file() and (folder / JSON_NAME).is_file()


def recorded_source(dataset_dir: str | os.PathLike) -> list[Path]:
    """Where the dataset's source recording may be, from ``summary.json``'s ``recording`` (as
    ``prepare`` was given it): the path itself, and — when relative — relative to the folder
    ``prepare`` ran in (found from the dataset's own recorded ``out_dir``) and to the dataset's
    parent folder. Empty when the summary has none."""
    dataset_dir = Path(dataset_dir)
    try:
        summary = json.loads((dataset_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        recording, out_dir = Path(summary["recording"]), Path(summary.get("out_dir", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if recording.is_absolute():
        return [recording]
    candidates = [recording]
    resolved = dataset_dir.resolve()
    parts = out_dir.parts
    if parts and not out_dir.is_absolute() and ".." not in parts and \
            resolved.parts[-len(parts):] == parts:
        candidates.append(resolved.parents[len(parts) - 1] / recording)
    candidates.append(resolved.parent / recording)
    return list(dict.fromkeys(candidates))


def find_ground_truth(dataset_dir: str | os.PathLike,
                      recording: str | os.PathLike | None = None) -> DatasetGroundTruth:
    """The ground truth of the dataset's source recording: ``recording`` when given (its
    ``ground_truth.npz`` / ``.json``; a one-line ``RecordingError`` when it has none), else the
    recording ``summary.json`` names (:func:`recorded_source`), if it is there and synthetic.
    Without it the 3D metrics are omitted, with the reason in ``info``."""
    if recording is not None:
        truth = load_ground_truth(recording)
        return DatasetGroundTruth(truth, {"available": True, "recording": str(recording),
                                          "source": "--recording"})
    candidates = recorded_source(dataset_dir)
    for folder in candidates:
        if _has_ground_truth(folder):
            return DatasetGroundTruth(load_ground_truth(folder), {
                "available": True, "recording": str(folder), "source": SUMMARY_FILE})
    if not candidates:
        reason = f"{SUMMARY_FILE} names no source recording; give --recording"
    elif any(c.is_dir() for c in candidates):
        folder = next(c for c in candidates if c.is_dir())
        reason = f"the source recording {folder} has no ground truth (not synthetic)"
    else:
        reason = (f"the source recording {candidates[0]} named in {SUMMARY_FILE} is not there; "
                  "give --recording")
    return DatasetGroundTruth(None, {"available": False, "reason": reason})


# ------------------------------------------------------------------------------ results
@dataclass
class EvalResult:
    """What :func:`evaluate_dataset` wrote: ``report`` is ``eval.json``'s content."""

    out_dir: Path
    report: dict[str, Any]

    def format(self) -> str:
        """The terminal summary: evaluation × view group means (the table of ``eval.json``'s
        ``means``), what was skipped, where the ground truth came from."""
        r = self.report
        lines = [f"eval {r['dataset']} ({r['split']}: {r['num_samples']} of "
                 f"{r['samples_in_split']} samples) → {self.out_dir}"]
        lines.extend("  " + row for row in format_table(r["means"]))
        for name in EVALUATIONS:
            info = r["evaluations"][name]
            if not info["ran"]:
                lines.append(f"  {name}: skipped ({info['skipped']})")
            failed = [s["sample"] for s in r["samples"] if name in s.get("failed", {})]
            if failed:
                lines.append(f"  {name}: failed on {len(failed)} sample(s), e.g. {failed[0]} "
                             f"(see {EVAL_JSON})")
        gt = r["ground_truth"]
        if gt["available"]:
            lines.append(f"  3D ground truth: {gt['recording']} (from {gt['source']})")
        else:
            lines.append(f"  3D metrics omitted: {gt['reason']}")
        if r.get("lpips_unavailable"):
            lines.append(f"  LPIPS unavailable: {r['lpips_unavailable']}")
        lines.append(f"  wrote {EVAL_JSON}, {EVAL_PNG}")
        return "\n".join(lines)


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return format(value, spec)


def format_table(means: dict[str, Any]) -> list[str]:
    """Rows of the table: one per evaluation and view group, with the image-metric means and,
    on the evaluation's first row, its 3D means (``–``: not available)."""
    header = ("evaluation", "views", "n", "PSNR", "mouse PSNR", "SSIM", "LPIPS",
              "Chamfer mm", "F@2mm", "F@5mm")
    rows = [header]
    for name, entry in means.items():
        geometry = entry.get("geometry") or {}
        for k, (group, m) in enumerate(entry["views"].items()):
            third = [_fmt(geometry.get("chamfer_mm"), ".2f"),
                     _fmt(geometry.get(_tk("fscore", 2.0)), ".3f"),
                     _fmt(geometry.get(_tk("fscore", 5.0)), ".3f")] if k == 0 else [""] * 3
            rows.append((name, group.replace("_", "-"), str(m["num_views"]),
                         _fmt(m["psnr"], ".2f"), _fmt(m["psnr_masked"], ".2f"),
                         _fmt(m["ssim"], ".4f"), _fmt(m["lpips"], ".4f"), *third))
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    return ["  ".join(cell.ljust(w) if c < 2 else cell.rjust(w)
                      for c, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _mean(values: list[Any]) -> float | None:
    """Mean of the numbers among ``values`` (None and NaN left out; an inf stays inf)."""
    numbers = [float(v) for v in values
               if isinstance(v, int | float) and not isinstance(v, bool) and not np.isnan(v)]
    return float(np.mean(numbers)) if numbers else None


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over samples, per evaluation: per view group the mean of each sample's group
    means (``num_views`` per sample, ``num_samples``), and the 3D metrics' means."""
    means: dict[str, Any] = {}
    for name in EVALUATIONS:
        entries = [s["evaluations"][name] for s in samples if name in s["evaluations"]]
        if not entries:
            continue
        groups: dict[str, Any] = {}
        for group in entries[0]["views"]:
            parts = [e["views"][group] for e in entries if group in e["views"]]
            groups[group] = {"num_views": parts[0]["num_views"], "num_samples": len(parts),
                             **{k: _mean([p.get(k) for p in parts]) for k in IMAGE_KEYS}}
        entry: dict[str, Any] = {"views": groups, "seconds": _mean([e["seconds"]
                                                                     for e in entries])}
        geo = [e["geometry"] for e in entries if e.get("geometry")]
        if geo:
            keys = [k for k in geo[0] if k not in ("num_truth",)]
            entry["geometry"] = {k: _mean([g.get(k) for g in geo]) for k in keys}
            entry["geometry"]["num_samples"] = len(geo)
        means[name] = entry
    return means


def headline(entry: dict[str, Any], name: str, key: str = "psnr_masked") -> float | None:
    """A sample's headline number of evaluation ``name`` (:data:`HEADLINE` group)."""
    for group in HEADLINE[name]:
        if group in entry["views"]:
            value = entry["views"][group].get(key)
            return None if value is None else float(value)
    return None


# ------------------------------------------------------------------------------ figure
@dataclass
class _Extremes:
    """Thumbnails of the best and worst samples seen so far (by a score; higher is better)."""

    count: int
    items: list[tuple[float, str, np.ndarray]] = field(default_factory=list)

    def add(self, score: float | None, label: str, sheet: np.ndarray) -> None:
        if score is None or np.isnan(score):
            return
        self.items.append((float(score), label, sheet))
        self.items.sort(key=lambda item: -item[0])
        if len(self.items) > 2 * self.count:  # one that is neither can never become either
            self.items = self.items[:self.count] + self.items[-self.count:]

    def chosen(self) -> list[tuple[str, float, str, np.ndarray]]:
        """``(rank label, score, label, sheet)``: all samples when there are few, else the best
        ``count`` then the worst ``count``."""
        n = len(self.items)
        if n <= 2 * self.count:
            return [(f"#{k + 1} of {n}", *item) for k, item in enumerate(self.items)]
        best = [(f"best {k + 1}", *item) for k, item in enumerate(self.items[:self.count])]
        worst = [(f"worst {self.count - k}", *item)
                 for k, item in enumerate(self.items[-self.count:])]
        return best + worst


def _thumb(image: np.ndarray, tile: int) -> np.ndarray:
    h, w = image.shape[:2]
    if max(h, w) <= tile:
        return image
    scale = tile / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def _sheet(predictions: np.ndarray, targets: np.ndarray, tile: int) -> np.ndarray:
    """Predictions (top row) over targets (bottom row), uint8 (V, H, W, 3) each."""
    rows = [[_thumb(p, tile) for p in predictions], [_thumb(t, tile) for t in targets]]
    return np.asarray(image_grid(rows))


def eval_figure(samples: list[dict[str, Any]], extremes: list[tuple[str, float, str, np.ndarray]],
                grid_name: str | None, *, title: str) -> Image.Image:
    """``eval.png``: the headline masked PSNR per sample against the source frame (one line per
    evaluation), the Chamfer distance likewise when there are 3D metrics, and the best / worst
    samples of ``grid_name`` (predictions over real images)."""
    frames = [s["frame"] for s in samples]
    ran = [n for n in EVALUATIONS if any(n in s["evaluations"] for s in samples)]
    colours = {name: PALETTE[k] for k, name in enumerate(EVALUATIONS)}  # the same in each chart

    def series(value: Callable[[dict[str, Any], str], float | None]
               ) -> dict[str, tuple[list[int], list[float]]]:
        out = {}
        for name in ran:
            ys = [value(s["evaluations"][name], name) if name in s["evaluations"] else None
                  for s in samples]
            out[name] = (frames, [float("nan") if y is None else y for y in ys])
        return out

    parts = [text_strip(title, CHART_WIDTH, height=24, size=14)]
    parts.append(line_chart(series(headline), title="masked PSNR per sample (headline views)",
                            x_label="source frame", y_label="dB", width=CHART_WIDTH,
                            height=CHART_HEIGHT, colours=colours))

    def chamfer(entry: dict[str, Any], _name: str) -> float | None:
        geo = entry.get("geometry")
        return None if not geo else geo.get("chamfer_mm")

    chamfers = {k: v for k, v in series(chamfer).items() if np.isfinite(v[1]).any()}
    if chamfers:
        parts.append(line_chart(chamfers, title="Chamfer distance to the ground-truth surface",
                                x_label="source frame", y_label="mm", width=CHART_WIDTH,
                                height=CHART_HEIGHT, colours=colours))
    if grid_name is not None and extremes:
        width = max(CHART_WIDTH, max(sheet.shape[1] for *_, sheet in extremes))
        first = next(s["evaluations"][grid_name] for s in samples
                     if grid_name in s["evaluations"])
        group = next(g for g in HEADLINE[grid_name] if g in first["views"])
        parts.append(text_strip(f"best and worst samples of {grid_name} by masked PSNR of its "
                                f"{group.replace('_', '-')} views", width, height=22, size=13))
        what = DESCRIPTIONS[grid_name].replace("→", "->")  # Pillow's built-in font lacks arrows
        parts.append(text_strip(f"{what}: predictions (top) over the real images (bottom)",
                                width, height=18, size=12))
        for rank, score, label, sheet in extremes:
            parts.append(text_strip(f"{rank}: {label}, masked PSNR {score:.2f} dB",
                                    sheet.shape[1], height=18, size=12))
            parts.append(Image.fromarray(sheet))
    return stack_vertical(parts, gap=6)


# ------------------------------------------------------------------------------ evaluation
@dataclass
class _Models:
    gslrm: GSLRM | None = None
    lift: Any = None  # LiftModels (imported lazily: diffusers)
    info: dict[str, Any] = field(default_factory=dict)


def _load_models(gslrm: str | os.PathLike | None, mvdiff: str | os.PathLike | None,
                 device: torch.device, dtype: str | None) -> _Models:
    models = _Models()
    if mvdiff is not None:
        if gslrm is None:
            raise ConfigError(
                "--mvdiff needs --gslrm too: Stage 1 is evaluated through LiftModels, which "
                "loads both checkpoints and checks that they share a rig")
        from .lift import LiftModels

        models.lift = LiftModels.load(mvdiff, gslrm, device=str(device), dtype=dtype)
        models.gslrm = models.lift.gslrm
        models.info = models.lift.describe()
    elif gslrm is not None:
        from .lift import Stage2Model

        stage2 = Stage2Model.load(gslrm, device=device)
        models.gslrm = stage2.gslrm
        models.info = stage2.describe()
    return models


def _choose(samples: list[str], count: int | None) -> list[str]:
    """``count`` samples evenly spaced over the split (all when None or more)."""
    if count is None or count >= len(samples):
        return samples
    picks = np.unique(np.linspace(0, len(samples) - 1, count).round().astype(int))
    return [samples[i] for i in picks]


def _score_gaussians(gaussians: Gaussians, groups: dict[str, SampleViews | None],
                     lpips: LPIPS | LPIPSUnavailable | None, truth_mm: np.ndarray | None,
                     to_world: Similarity, min_opacity: float, device: torch.device
                     ) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Renders of ``gaussians`` (on ``device``: gsplat on CUDA when installed) at every group's
    cameras scored against its images; 3D metrics when ``truth_mm``. Returns ``(entry, renders
    uint8, targets uint8)`` of all groups."""
    gaussians = gaussians.to(device)
    entry: dict[str, Any] = {"num_gaussians": len(gaussians), "views": {}}
    renders, targets = [], []
    for group, views in groups.items():
        if views is None or len(views) == 0:
            continue
        summary, rendered = evaluate(gaussians, views, lpips)
        entry["views"][group] = summary
        renders.append(rendered)
        targets.append(to_uint8(composite(views.rgba, WHITE)))
    entry["geometry"] = None if truth_mm is None else gaussian_surface_metrics(
        gaussians, truth_mm, to_world, min_opacity=min_opacity)
    return entry, np.concatenate(renders), np.concatenate(targets)


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
) -> EvalResult:
    """Evaluate on ``split`` of the prepared ``dataset_dir`` and write ``eval.json`` and
    ``eval.png`` to ``out_dir`` (module docstring: evaluations, metrics).

    ``gslrm``: Stage-2 checkpoint (``stage2``); ``mvdiff``: Stage-1 pipeline folder, with
    ``gslrm`` (``stage1`` and ``end_to_end``, through :class:`~mouselift.flows.lift.LiftModels`);
    ``fit``: a :class:`FitConfig` to run the per-scene fit (``fit``). ``samples``: at most this
    many samples, evenly spaced over the split. ``recording``: the source recording holding the
    ground truth (default: the one ``summary.json`` names). ``sampler``: ``solver``, ``steps``,
    ``guidance``, ``eta`` of Stage 1 (FaceLift's DDIM by default); ``seed`` seeds each sample's
    generation. ``filters``: Stage 2's inference filters (FaceLift's by default).
    ``min_opacity``: Gaussians kept for the 3D metrics.

    ``eval.json``: ``format``, ``version``, ``mouselift``, ``torch``, ``dataset``, ``split``,
    ``samples_in_split``, ``num_samples``, ``device``, ``seed``, ``models`` (checkpoints, rig),
    ``fit`` (config or null), ``sampler``, ``filters``, ``evaluations`` (per name: ``ran``,
    ``description`` or ``skipped`` with the reason), ``ground_truth`` (``available``,
    ``recording`` and ``source``, or ``reason``), ``geometry`` (definition, thresholds,
    ``min_opacity``), ``lpips_unavailable`` (when so), ``means`` (:func:`summarize`) and
    ``samples``: per sample ``sample``, ``frame``, ``gt_centre_offset_mm`` and ``evaluations``
    → per name ``seconds``, ``views`` → per group :func:`~mouselift.fit.runner.evaluate`'s
    summary (means and ``per_view``), ``geometry`` (:func:`~mouselift.metrics.geometry.
    surface_metrics`, or null), ``num_gaussians`` (not for ``stage1``); ``failed`` → per name
    the reason, for a fit that could not start (an empty visual hull), left out of the means.
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(f"{dataset_dir}: dataset folder not found")
    names = read_split(dataset_dir, split)
    if not names:
        raise DatasetError(f"{split_list(dataset_dir, split)}: lists no samples")
    if gslrm is None and mvdiff is None and fit is None:
        raise ConfigError("nothing to evaluate: give --gslrm (Stage 2), --mvdiff with --gslrm "
                          "(Stage 1 and end to end) and/or --fit PRESET (per-scene fit)")
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetError(f"{out_dir}: exists and is not a folder")
    chosen = _choose(names, samples)
    torch_device = resolve_device(device)
    lpips = load_lpips(vgg_weights, lpips_weights)
    if isinstance(lpips, LPIPS):
        lpips = lpips.to(torch_device)
    truth = find_ground_truth(dataset_dir, recording)
    models = _load_models(gslrm, mvdiff, torch_device, dtype)
    filters = filters or SplatFilters()
    if models.lift is not None:
        from .lift import Sampler

        given = {k: v for k, v in (sampler or {}).items() if v is not None}
        try:
            sampler = Sampler(**given).resolved()
        except ValueError as exc:  # pydantic's: an unknown key or a wrong type
            raise ConfigError(f"sampler: {str(exc).splitlines()[0]}") from None
    else:
        sampler = {}

    skipped = {FIT: "no --fit", STAGE2: "no --gslrm",
               STAGE1: "no --mvdiff", END_TO_END: "needs --mvdiff and --gslrm"}
    ran = {FIT: fit is not None, STAGE2: models.gslrm is not None,
           STAGE1: models.lift is not None, END_TO_END: models.lift is not None}
    grid_name = next((n for n in GRID_PREFERENCE if ran[n]), None)
    extremes = _Extremes(GRID_SAMPLES)
    results: list[dict[str, Any]] = []
    for name in tqdm(chosen, desc="eval", unit="sample", disable=not progress):
        entry, sheets = _evaluate_sample(
            dataset_dir / name, name, truth=truth, fit=fit, models=models, lpips=lpips,
            device=torch_device, seed=seed, sampler=sampler, filters=filters,
            min_opacity=min_opacity)
        results.append(entry)
        if grid_name is not None and grid_name in entry["evaluations"]:
            extremes.add(headline(entry["evaluations"][grid_name], grid_name),
                         f"{name} (frame {entry['frame']})", sheets[grid_name])

    report: dict[str, Any] = {
        "format": FORMAT, "version": VERSION, "mouselift": __version__,
        "torch": torch.__version__, "dataset": str(dataset_dir), "split": split,
        "samples_in_split": len(names), "num_samples": len(chosen), "device": str(torch_device),
        "seed": seed, "models": models.info,
        "fit": None if fit is None else fit.model_dump(),
        "sampler": sampler if models.lift is not None else None,
        "filters": filters.model_dump() if models.gslrm is not None else None,
        "metric_background": "white",
        "evaluations": {n: ({"ran": True, "description": DESCRIPTIONS[n]} if ran[n] else
                            {"ran": False, "skipped": skipped[n]}) for n in EVALUATIONS},
        "ground_truth": truth.info,
        "geometry": {
            "definition": "Chamfer = (accuracy + completeness) / 2, mm; accuracy = opacity-"
                          "weighted mean distance of the Gaussian centres to the nearest "
                          "ground-truth surface point; completeness = mean distance of the "
                          "ground-truth points to the nearest centre; F-score at each "
                          "threshold from opacity-weighted precision and recall",
            "thresholds_mm": list(THRESHOLDS_MM), "min_opacity": min_opacity,
            "frame": "world mm (Gaussian centres mapped with the inverse of each sample's "
                     "similarity)",
        },
    }
    if isinstance(lpips, LPIPSUnavailable):
        report["lpips_unavailable"] = lpips.reason
    report["means"] = summarize(results)
    report["samples"] = results

    out_dir.mkdir(parents=True, exist_ok=True)
    figure = eval_figure(results, extremes.chosen(), grid_name,
                         title=f"mouselift eval: {dataset_dir.name} ({split}, "
                               f"{len(chosen)} samples)")
    atomic_write_path(out_dir / EVAL_PNG, lambda tmp: figure.save(tmp, format="PNG"))
    atomic_write_json(out_dir / EVAL_JSON, report)
    return EvalResult(out_dir, report)


def _evaluate_sample(sample_dir: Path, name: str, *, truth: DatasetGroundTruth,
                     fit: FitConfig | None, models: _Models,
                     lpips: LPIPS | LPIPSUnavailable | None, device: torch.device, seed: int,
                     sampler: dict[str, Any], filters: SplatFilters, min_opacity: float
                     ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """One sample's entry of ``eval.json`` and, per evaluation, its prediction-over-real
    thumbnail sheet."""
    views = load_sample_views(sample_dir)
    held_out = load_sample_views(sample_dir / EVAL_DIR) if has_eval_views(sample_dir) else None
    record = load_sample_record(sample_dir)
    try:
        frame = int(record["frame"])
    except (KeyError, TypeError, ValueError):
        raise DatasetError(f"{sample_dir}: sample.json has no source 'frame'") from None
    to_world = record_similarity(record, sample_dir / "sample.json").inverse()
    truth_mm = truth.surface_points(frame)
    offset = None
    if truth_mm is not None and "centre_mm" in record:
        offset = truth.check_centre(frame, record["centre_mm"], sample_dir)
    entry: dict[str, Any] = {"sample": name, "frame": frame, "gt_centre_offset_mm": offset,
                             "evaluations": {}}
    sheets: dict[str, np.ndarray] = {}

    def scored(key: str, gaussians: Gaussians, groups: dict[str, SampleViews | None],
               started: float) -> None:
        result, renders, targets = _score_gaussians(gaussians, groups, lpips, truth_mm,
                                                    to_world, min_opacity, device)
        result["seconds"] = round(time.perf_counter() - started, 3)
        entry["evaluations"][key] = result
        sheets[key] = _sheet(renders, targets, GRID_TILE)

    if fit is not None:
        started = time.perf_counter()
        train, held_fit, _ = split_views(sample_dir, views, fit.holdout)
        try:
            fitted = optimize(train, fit, device=device, progress=False).gaussians
        except ValueError as exc:  # e.g. the masks leave an empty visual hull
            entry.setdefault("failed", {})[FIT] = str(exc)
        else:
            scored(FIT, fitted, {"inputs": train, "held_out": held_fit}, started)
    if models.gslrm is not None:
        started = time.perf_counter()
        predicted = predict_gaussians(models.gslrm, views, device=device)
        scored(STAGE2, filters.apply(predicted), {"inputs": views, "held_out": held_out},
               started)
    if models.lift is not None:
        lift = models.lift
        started = time.perf_counter()
        ordered = views.in_order(list(lift.rig.names), sample_dir)
        image = to_uint8(ordered.rgba[0])  # the reference view, (H, W, 4) uint8
        generated = lift.generate_views(image, cameras=ordered.cameras, seed=seed, **sampler)
        real = ordered.resized(*generated.size)
        v = len(real)
        stage1_views = {"input": score_views(generated.rgba[:1, ..., :3], real.subset([0]),
                                             lpips),
                        "novel": score_views(generated.rgba[1:, ..., :3],
                                             real.subset(list(range(1, v))), lpips)}
        entry["evaluations"][STAGE1] = {
            "views": stage1_views, "geometry": None,
            "cameras": lift.stage1_cameras(True),
            "seconds": round(time.perf_counter() - started, 3)}
        sheets[STAGE1] = _sheet(to_uint8(generated.rgba[..., :3]),
                                to_uint8(composite(real.rgba, WHITE)), GRID_TILE)
        started = time.perf_counter()
        gaussians = lift.reconstruct(generated, filters=filters)
        scored(END_TO_END, gaussians, {"input": ordered.subset([0]),
                                       "novel": ordered.subset(list(range(1, v))),
                                       "held_out": held_out}, started)
        entry["evaluations"][END_TO_END]["cameras"] = "the sample's own (its real cameras)"
    return entry, sheets


__all__ = [
    "EVALUATIONS",
    "EVAL_JSON",
    "EVAL_PNG",
    "DatasetGroundTruth",
    "EvalResult",
    "eval_figure",
    "evaluate_dataset",
    "find_ground_truth",
    "format_table",
    "recorded_source",
    "summarize",
]
