"""``mouselift.plots``: round ticks, line charts drawn with Pillow, strips and stacks."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mouselift.plots import PALETTE, line_chart, nice_ticks, stack_vertical, text_strip


@settings(max_examples=80, deadline=None)
@given(lo=st.floats(-1e6, 1e6), span=st.floats(0, 1e6), count=st.integers(2, 8))
def test_ticks_cover_the_range_in_round_steps(lo, span, count):
    hi = lo + span
    ticks = nice_ticks(lo, hi, count)
    steps = np.diff(ticks)
    assert len(ticks) >= 2 and np.allclose(steps, steps[0], rtol=1e-6)
    # covered up to a billionth of a step (invisible on any chart)
    assert ticks[0] <= lo + 1e-9 * steps[0] and ticks[-1] >= hi - 1e-9 * steps[0]
    mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]))
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5, 10))
    assert len(ticks) <= 2 * count + 2


def test_ticks_examples():
    assert nice_ticks(19, 27) == [18.0, 20.0, 22.0, 24.0, 26.0, 28.0]
    assert nice_ticks(4, 7, 6) == [4.0, 5.0, 6.0, 7.0]
    assert nice_ticks(3.0, 3.0)[0] < 3.0 < nice_ticks(3.0, 3.0)[-1]
    with pytest.raises(ValueError):
        nice_ticks(0, math.inf)


def _colour_pixels(image: Image.Image, colour: tuple[int, int, int]) -> np.ndarray:
    a = np.asarray(image)
    return np.argwhere((a == np.array(colour)).all(axis=-1))


def test_line_chart_draws_each_series_and_breaks_at_nan():
    chart = line_chart({"a": ([0, 1, 2, 3], [1.0, 2.0, float("nan"), 4.0]),
                        "b": ([0, 3], [4.0, 1.0]), "none": ([], [])},
                       title="t", x_label="frame", y_label="dB", width=400, height=200)
    assert chart.size == (400, 200) and chart.mode == "RGB"
    buffer = io.BytesIO()
    chart.save(buffer, format="PNG")
    assert Image.open(io.BytesIO(buffer.getvalue())).size == (400, 200)
    a, b = _colour_pixels(chart, PALETTE[0]), _colour_pixels(chart, PALETTE[1])
    assert len(a) > 50 and len(b) > 50
    # series a has no segment from x=1 to x=3 (the NaN at x=2 breaks it): no colour-a pixel in
    # the middle third of its x range away from the legend
    columns = np.unique(a[:, 1])
    plot_columns = columns[columns < 320]  # the legend starts at 322
    assert np.diff(plot_columns).max() > 40


def test_strip_and_stack():
    strip = text_strip("hello", 120)
    assert strip.size == (120, 20) and np.asarray(strip).min() < 255
    stacked = stack_vertical([strip, Image.new("RGB", (50, 30), (0, 0, 0))], gap=4)
    assert stacked.size == (120, 54)
    assert np.asarray(stacked)[24:54, :50].max() == 0
    with pytest.raises(ValueError):
        stack_vertical([])


def test_named_colours_keep_a_series_colour_across_charts():
    colours = {"fit": (10, 20, 30), "stage2": (200, 10, 10)}
    chart = line_chart({"stage2": ([0, 1], [1.0, 2.0])}, colours=colours, width=300, height=150)
    assert len(_colour_pixels(chart, (200, 10, 10))) > 20
    assert len(_colour_pixels(chart, PALETTE[0])) == 0
