"""``eval.png``: its layout in pixels (title, charts, best and worst samples), the charts it
leaves out, and the choice of the best and worst samples."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from mouselift.flows.evaluate.figure import (
    CHART_HEIGHT,
    CHART_WIDTH,
    GRID_TILE,
    Extremes,
    eval_figure,
    sheet,
)
from mouselift.flows.evaluate.registry import EVALUATIONS
from mouselift.plots import save_png


def _png(figure) -> Image.Image:
    buffer = io.BytesIO()
    save_png(figure, buffer)
    image = Image.open(io.BytesIO(buffer.getvalue()))
    image.load()
    return image


def test_figure(stage2_eval):
    with Image.open(stage2_eval.out_dir / "eval.png") as figure:
        figure.load()
        assert figure.format == "PNG"
        size = figure.size
        pixels = np.asarray(figure.convert("RGB"))
    # title, two charts (PSNR and Chamfer), two header strips, per sample a label and a sheet
    # of 7 renders over 7 images (64 px tiles), 6 px apart
    tile = 2 * min(64, GRID_TILE)
    heights = [24, CHART_HEIGHT, CHART_HEIGHT, 22, 18] + [18, tile] * 2
    assert size == (max(CHART_WIDTH, 7 * 64), sum(heights) + 6 * (len(heights) - 1))
    assert pixels.min() < 128  # drawn, not blank


def _sample(frame: int, psnr: float | None, chamfer: float | None) -> dict:
    entry = {"views": {"held_out": {"psnr_masked": psnr}},
             "geometry": None if chamfer is None else {"chamfer_mm": chamfer}}
    return {"frame": frame, "evaluations": {"stage2": entry}}


def test_without_3d_metrics_there_is_no_chamfer_chart():
    samples = [_sample(0, 12.0, None), _sample(4, 13.5, None)]
    figure = _png(eval_figure(samples, [], None, title="t"))
    assert figure.size == (CHART_WIDTH, 24 + 6 + CHART_HEIGHT)
    with_chamfer = _png(eval_figure([_sample(0, 12.0, 3.0)], [], None, title="t"))
    assert with_chamfer.size == (CHART_WIDTH, 24 + 2 * (6 + CHART_HEIGHT))


def test_sheets_are_drawn_pixel_for_pixel():
    rng = np.random.default_rng(0)
    predictions = rng.integers(0, 256, (3, 40, 30, 3), dtype=np.uint8)
    targets = rng.integers(0, 256, (3, 40, 30, 3), dtype=np.uint8)
    grid = sheet(predictions, targets)
    assert grid.shape[0] >= 80 and grid.shape[1] >= 90
    stage2 = next(e for e in EVALUATIONS if e.name == "stage2")
    figure = np.asarray(_png(eval_figure([_sample(0, 12.0, None)],
                                         [("#1 of 1", 12.0, "s (frame 0)", grid)], stage2,
                                         title="t")).convert("RGB"))
    top = 24 + 6 + CHART_HEIGHT + 6 + 22 + 6 + 18 + 6 + 18 + 6
    assert np.array_equal(figure[top:top + grid.shape[0], :grid.shape[1]], grid)


def test_extremes_keep_the_best_and_the_worst():
    extremes = Extremes(2)
    for k, score in enumerate([3.0, 9.0, float("nan"), 1.0, 7.0, 5.0]):
        extremes.add(score, f"s{k}", np.zeros((1, 1, 3), np.uint8))
    extremes.add(None, "none", np.zeros((1, 1, 3), np.uint8))
    assert [score for _, score, *_ in extremes.chosen()] == [9.0, 7.0, 3.0, 1.0]
    assert [rank for rank, *_ in extremes.chosen()] == [
        "best 1 of 5", "best 2 of 5", "worst 2 of 5", "worst 1 of 5"]
    few = Extremes(2)
    few.add(1.0, "a", np.zeros((1, 1, 3), np.uint8))
    assert [rank for rank, *_ in few.chosen()] == ["#1 of 1"]
