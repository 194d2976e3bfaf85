"""Report figures on matplotlib: line charts, and figures stacked from rows of text, charts and
images, laid out in pixels.

Figures are :class:`matplotlib.figure.Figure` on an Agg canvas (no pyplot, no global state), so a
caller may restyle any axes, label or legend before saving, and matplotlib's ``rcParams`` (fonts,
line widths, ``axes.*``) apply. Sizes are pixels at :data:`DPI` (text sizes are points, as in
matplotlib). A chart's data are ``(x, y)`` floats; a non-finite y breaks its line there, a point
with a non-finite x is left out.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

#: Pixels per inch of every figure: its size in pixels is its size in inches × DPI.
DPI = 100
#: Line colours, one per series in order (colour-blind-friendly, Okabe–Ito).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")
#: A chart row's margins around its axes (pixels): room for the title, tick labels and axis
#: labels; the legend, right of the axes, takes what it needs from the right margin on.
CHART_MARGINS = {"left": 70, "right": 10, "top": 26, "bottom": 44}


def new_figure(width: int, height: int) -> Figure:
    """A white ``width × height`` pixel figure on an Agg canvas."""
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def _points(xs: Sequence[float], ys: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The points sorted by x (non-finite x left out), non-finite y as NaN (a break)."""
    pairs = sorted((float(x), float(y)) for x, y in zip(xs, ys, strict=True)
                   if math.isfinite(float(x)))
    x = np.array([p[0] for p in pairs], dtype=np.float64)
    y = np.array([p[1] if math.isfinite(p[1]) else np.nan for p in pairs], dtype=np.float64)
    return x, y


def line_chart(ax: Axes, series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *,
               title: str = "", x_label: str = "", y_label: str = "",
               colours: Mapping[str, str] | None = None) -> Axes:
    """A line chart of ``{name: (xs, ys)}`` on ``ax``: one colour per series (``colours[name]``,
    else :data:`PALETTE` in order), points marked, a grid, a legend right of the axes; x ticks
    at integers when every x is one (frames). A series without a finite point is listed in the
    legend as "(no data)". Returns ``ax``."""
    integer_x = True
    for k, (name, (xs, ys)) in enumerate(series.items()):
        x, y = _points(xs, ys)
        integer_x &= bool(np.all(x == np.round(x)))
        colour = (colours or {}).get(name, PALETTE[k % len(PALETTE)])
        label = name if np.isfinite(y).any() else f"{name} (no data)"
        ax.plot(x, y, color=colour, marker="o", markersize=4, label=label)
    ax.set_title(title, loc="left")
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(True, alpha=0.3)
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if series:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


@dataclass(frozen=True)
class TextRow:
    """A line of ``text`` (``size`` points), left-aligned, vertically centred in ``height`` px."""

    text: str
    height: int = 20
    size: float = 9.0


@dataclass(frozen=True)
class ChartRow:
    """A :func:`line_chart` of ``width × height`` px (margins and legend included)."""

    series: Mapping[str, tuple[Sequence[float], Sequence[float]]]
    width: int
    height: int
    title: str = ""
    x_label: str = ""
    y_label: str = ""
    colours: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ImageRow:
    """An RGB image ``(H, W, 3)`` uint8, drawn pixel for pixel (not resampled)."""

    image: np.ndarray


Row = TextRow | ChartRow | ImageRow


def _row_size(row: Row) -> tuple[int, int]:
    """``(width, height)`` px of a row; a text row takes any width (0)."""
    if isinstance(row, ImageRow):
        return row.image.shape[1], row.image.shape[0]
    if isinstance(row, ChartRow):
        return row.width, row.height
    return 0, row.height


def stacked_figure(rows: Sequence[Row], *, gap: int = 6) -> Figure:
    """A figure of ``rows`` one below the other, left-aligned on white, ``gap`` px apart: as
    wide as the widest row, as high as the rows and gaps."""
    if not rows:
        raise ValueError("stacked_figure needs at least one row")
    sizes = [_row_size(row) for row in rows]
    width = max(1, max(w for w, _ in sizes))
    height = sum(h for _, h in sizes) + gap * (len(rows) - 1)
    figure = new_figure(width, height)
    top = 0
    for row, (_, row_height) in zip(rows, sizes, strict=True):
        bottom = height - top - row_height  # matplotlib's y runs upwards
        if isinstance(row, TextRow):
            figure.text(6 / width, (bottom + row_height / 2) / height, row.text,
                        fontsize=row.size, va="center", ha="left")
        elif isinstance(row, ImageRow):
            figure.figimage(row.image, xo=0, yo=bottom, origin="upper")
        else:
            _chart_row(figure, row, bottom)
        top += row_height + gap
    return figure


def _chart_row(figure: Figure, row: ChartRow, bottom: int) -> None:
    """``row``'s chart with its lower edge ``bottom`` px above the figure's: the axes fill the
    row less :data:`CHART_MARGINS` and the legend's measured width."""
    width, height = figure.canvas.get_width_height()
    m = CHART_MARGINS
    plot_width = row.width - m["left"] - m["right"]
    ax = figure.add_axes([m["left"] / width, (bottom + m["bottom"]) / height, plot_width / width,
                          (row.height - m["top"] - m["bottom"]) / height])
    line_chart(ax, row.series, title=row.title, x_label=row.x_label, y_label=row.y_label,
               colours=row.colours)
    legend = ax.get_legend()
    if legend is not None:
        legend_width = legend.get_window_extent(figure.canvas.get_renderer()).width
        position = ax.get_position()
        ax.set_position([position.x0, position.y0,
                         max(plot_width / 2, plot_width - legend_width - 8) / width,
                         position.height])


def save_png(figure: Figure, target: str | os.PathLike | IO[bytes]) -> None:
    """Write ``figure`` as a PNG of exactly its pixel size."""
    figure.savefig(target, format="png", dpi=DPI, facecolor=figure.get_facecolor())


__all__ = [
    "DPI",
    "PALETTE",
    "ChartRow",
    "ImageRow",
    "Row",
    "TextRow",
    "line_chart",
    "new_figure",
    "save_png",
    "stacked_figure",
]
