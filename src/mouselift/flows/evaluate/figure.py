"""``eval.png``: the headline masked PSNR per sample against its source frame (one line per
evaluation), the Chamfer distance likewise when there are 3D metrics, and the best and worst
samples of one evaluation (its predictions over the real images), on matplotlib
(:mod:`mouselift.plots`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from ...images import image_grid
from ...plots import PALETTE, ChartRow, ImageRow, Row, TextRow, stacked_figure
from .evaluation import Evaluation
from .registry import EVALUATIONS

#: Best and worst samples shown in the figure (each); tiles are at most this many pixels.
GRID_SAMPLES = 2
GRID_TILE = 128
#: Size of each chart (pixels).
CHART_WIDTH = 760
CHART_HEIGHT = 260


@dataclass
class Extremes:
    """Thumbnail sheets of the best and worst samples seen so far (by a score; higher is
    better), ``count`` of each."""

    count: int
    items: list[tuple[float, str, np.ndarray]] = field(default_factory=list)
    seen: int = 0  # samples with a score added so far (``items`` keeps only the extremes)

    def add(self, score: float | None, label: str, sheet: np.ndarray) -> None:
        if score is None or np.isnan(score):
            return
        self.seen += 1
        self.items.append((float(score), label, sheet))
        self.items.sort(key=lambda item: -item[0])
        if len(self.items) > 2 * self.count:  # one that is neither can never become either
            self.items = self.items[:self.count] + self.items[-self.count:]

    def chosen(self) -> list[tuple[str, float, str, np.ndarray]]:
        """``(rank label, score, label, sheet)``: all samples when there are few, else the best
        ``count`` then the worst ``count``."""
        n = self.seen
        if n <= 2 * self.count:
            return [(f"#{k + 1} of {n}", *item) for k, item in enumerate(self.items)]
        best = [(f"best {k + 1} of {n}", *item)
                for k, item in enumerate(self.items[:self.count])]
        worst = [(f"worst {self.count - k} of {n}", *item)
                 for k, item in enumerate(self.items[-self.count:])]
        return best + worst


def _thumb(image: np.ndarray, tile: int) -> np.ndarray:
    h, w = image.shape[:2]
    if max(h, w) <= tile:
        return image
    scale = tile / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def sheet(predictions: np.ndarray, targets: np.ndarray, tile: int = GRID_TILE) -> np.ndarray:
    """Predictions (top row) over targets (bottom row), uint8 (V, H, W, 3) each, as thumbnails
    of at most ``tile`` px."""
    rows = [[_thumb(p, tile) for p in predictions], [_thumb(t, tile) for t in targets]]
    return np.asarray(image_grid(rows))


def eval_figure(samples: list[dict[str, Any]], extremes: list[tuple[str, float, str, np.ndarray]],
                grid: Evaluation | None, *, title: str) -> Figure:
    """``eval.png`` of ``eval.json``'s ``samples`` (module docstring); ``extremes``:
    :meth:`Extremes.chosen` of evaluation ``grid``."""
    frames = [s["frame"] for s in samples]
    ran = [e for e in EVALUATIONS if any(e.name in s["evaluations"] for s in samples)]
    colours = {e.name: PALETTE[k] for k, e in enumerate(EVALUATIONS)}  # the same in each chart

    def series(value: Callable[[Evaluation, dict[str, Any]], float | None]
               ) -> dict[str, tuple[list[int], list[float]]]:
        out = {}
        for evaluation in ran:
            ys = [value(evaluation, s["evaluations"][evaluation.name])
                  if evaluation.name in s["evaluations"] else None for s in samples]
            out[evaluation.name] = (frames, [float("nan") if y is None else y for y in ys])
        return out

    def chamfer(_evaluation: Evaluation, entry: dict[str, Any]) -> float | None:
        geo = entry.get("geometry")
        return None if not geo else geo.get("chamfer_mm")

    rows: list[Row] = [
        TextRow(title, height=24, size=10.5),
        ChartRow(series(lambda e, entry: e.headline(entry)), CHART_WIDTH, CHART_HEIGHT,
                 title="masked PSNR per sample (headline views)", x_label="source frame",
                 y_label="dB", colours=colours)]
    chamfers = {k: v for k, v in series(chamfer).items() if np.isfinite(v[1]).any()}
    if chamfers:
        rows.append(ChartRow(chamfers, CHART_WIDTH, CHART_HEIGHT,
                             title="Chamfer distance to the ground-truth surface",
                             x_label="source frame", y_label="mm", colours=colours))
    if grid is not None and extremes:
        first = next(s["evaluations"][grid.name] for s in samples
                     if grid.name in s["evaluations"])
        group = grid.headline_group(first) or ""
        rows.append(TextRow(f"best and worst samples of {grid.name} by masked PSNR of its "
                            f"{group.replace('_', '-')} views", height=22, size=9.5))
        rows.append(TextRow(f"{grid.description}: predictions (top) over the real images "
                            "(bottom)", height=18))
        for rank, score, label, image in extremes:
            rows.append(TextRow(f"{rank}: {label}, masked PSNR {score:.2f} dB", height=18))
            rows.append(ImageRow(image))
    return stacked_figure(rows, gap=6)


__all__ = ["CHART_HEIGHT", "CHART_WIDTH", "GRID_SAMPLES", "GRID_TILE", "Extremes", "eval_figure",
           "sheet"]
