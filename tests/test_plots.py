"""``mouselift.plots``: line charts on matplotlib (Agg, no pyplot), figures stacked from rows of
text, charts and images at exact pixel sizes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from mouselift.plots import (
    PALETTE,
    ChartRow,
    ImageRow,
    TextRow,
    line_chart,
    new_figure,
    save_png,
    stacked_figure,
)


def _png(figure) -> np.ndarray:
    """The figure saved as a PNG and read back, RGB uint8."""
    buffer = io.BytesIO()
    save_png(figure, buffer)
    with Image.open(io.BytesIO(buffer.getvalue())) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def _near(pixels: np.ndarray, colour: str, tolerance: int = 40) -> np.ndarray:
    """``(row, column)`` of the pixels within ``tolerance`` of ``colour``."""
    rgb = np.array(to_rgb(colour)) * 255
    return np.argwhere(np.abs(pixels.astype(float) - rgb).max(axis=-1) <= tolerance)


def test_a_chart_has_the_requested_size_and_one_colour_per_series():
    figure = stacked_figure([ChartRow({"a": ([0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0]),
                                       "b": ([0, 3], [4.0, 1.0])},
                                      width=400, height=200, title="t", x_label="frame",
                                      y_label="dB")])
    pixels = _png(figure)
    assert pixels.shape == (200, 400, 3)
    assert pixels.min() < 100  # text and axes drawn, not blank
    (ax,) = figure.axes
    colours = [line.get_color() for line in ax.get_lines()]
    assert colours == [PALETTE[0], PALETTE[1]] and len(set(colours)) == 2
    assert len(_near(pixels, PALETTE[0])) > 50 and len(_near(pixels, PALETTE[1])) > 50
    assert ax.get_xlabel() == "frame" and ax.get_ylabel() == "dB"
    assert all(float(tick).is_integer() for tick in ax.get_xticks())  # frames: integer ticks
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_a_line_breaks_at_a_non_finite_value():
    figure = new_figure(400, 200)
    ax = figure.add_axes([0.1, 0.1, 0.8, 0.8])
    line_chart(ax, {"a": ([3, 0, 1, 2], [4.0, 1.0, 2.0, float("inf")])})
    ax.set_xlim(-0.5, 3.5)
    pixels = _png(figure)
    x, _ = ax.get_lines()[0].get_data()
    assert list(x) == [0, 1, 2, 3]  # sorted by x
    # no pixel of the line between x = 1 and x = 3 (the inf at x = 2 breaks it)
    to_column = ax.transData.transform
    left = int(to_column((1.2, 0))[0]) + 1
    right = int(to_column((2.8, 0))[0]) - 1
    columns = _near(pixels, PALETTE[0])[:, 1]
    assert len(columns) > 20
    assert not ((columns > left) & (columns < right)).any()


def test_named_colours_and_series_without_data():
    colours = {"fit": "#0a141e", "stage2": "#c80a0a"}
    figure = new_figure(300, 150)
    ax = line_chart(figure.add_axes([0.1, 0.1, 0.5, 0.8]),
                    {"stage2": ([0, 1], [1.0, 2.0]), "none": ([], [])}, colours=colours)
    assert ax.get_lines()[0].get_color() == "#c80a0a"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["stage2", "none (no data)"]
    pixels = _png(figure)
    assert len(_near(pixels, "#c80a0a", tolerance=20)) > 20
    assert len(_near(pixels, PALETTE[0], tolerance=20)) == 0


def test_rows_stack_at_exact_pixel_sizes():
    image = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    figure = stacked_figure([TextRow("hello", height=20), ImageRow(image),
                             TextRow("below", height=10)], gap=4)
    pixels = _png(figure)
    assert pixels.shape == (20 + 4 + 30 + 4 + 10, 50, 3)
    assert pixels[:20].min() < 128  # the text is drawn
    assert np.array_equal(pixels[24:54], image)  # the image pixel for pixel
    with pytest.raises(ValueError):
        stacked_figure([])
