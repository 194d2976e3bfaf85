"""Small report figures drawn with Pillow (no plotting library): line charts, text strips, and
vertical stacks of images.

Coordinates: a chart's data are ``(x, y)`` floats; non-finite values (NaN, ±inf) are left out
(the line breaks there). Images are RGB :class:`PIL.Image.Image` on white.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from PIL import Image, ImageDraw, ImageFont

#: Line colours, one per series in order (colour-blind-friendly, Okabe–Ito).
PALETTE = ((0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (230, 159, 0),
           (86, 180, 233), (0, 0, 0), (240, 228, 66))
WHITE_RGB = (255, 255, 255)
AXIS_RGB = (60, 60, 60)
GRID_RGB = (225, 225, 225)


def font(size: int = 12) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's built-in font at ``size`` px (its bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):  # Pillow without FreeType
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"nice_ticks: non-finite range [{lo}, {hi}]")
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo <= 1e-9 * max(1.0, abs(lo), abs(hi)):  # one value (or nearly): pad around it
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(1, count - 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [float(f"{k * step:.12g}") for k in range(first, last + 1)]


def _finite_runs(xs: Sequence[float], ys: Sequence[float]) -> list[list[tuple[float, float]]]:
    """The points sorted by x, split into runs of finite values (a non-finite y breaks the
    line; a non-finite x drops the point)."""
    pairs = sorted((float(x), float(y)) for x, y in zip(xs, ys, strict=True)
                   if math.isfinite(float(x)))
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in pairs:
        if math.isfinite(y):
            runs[-1].append((x, y))
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _label(value: float) -> str:
    return f"{value:.6g}"


def line_chart(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, title: str = "",
               x_label: str = "", y_label: str = "", width: int = 640, height: int = 280,
               colours: Mapping[str, tuple[int, int, int]] | None = None) -> Image.Image:
    """A line chart of ``{name: (xs, ys)}``, one colour per series (``colours[name]``, else
    :data:`PALETTE` in order), points marked, a legend on the right; axes span the finite data
    with round ticks. Series without a finite point are listed in the legend as "(no data)"."""
    small, large = font(11), font(13)
    image = Image.new("RGB", (width, height), WHITE_RGB)
    draw = ImageDraw.Draw(image)
    runs = {name: _finite_runs(*xy) for name, xy in series.items()}
    points = [p for name in runs for run in runs[name] for p in run]
    legend_w = min(width // 3, 12 + 7 * max((len(n) for n in series), default=0) + 40)
    left, right, top, bottom = 66, width - legend_w - 8, 24 if title else 10, height - 36
    if title:
        draw.text((left, 4), title, fill=AXIS_RGB, font=large)
    if points:
        xt = nice_ticks(min(p[0] for p in points), max(p[0] for p in points), 6)
        yt = nice_ticks(min(p[1] for p in points), max(p[1] for p in points), 5)
    else:
        xt, yt = [0.0, 1.0], [0.0, 1.0]

    def to_px(x: float, y: float) -> tuple[float, float]:
        u = left + (x - xt[0]) / (xt[-1] - xt[0]) * (right - left)
        v = bottom - (y - yt[0]) / (yt[-1] - yt[0]) * (bottom - top)
        return u, v

    for y in yt:
        _, v = to_px(xt[0], y)
        draw.line([(left, v), (right, v)], fill=GRID_RGB)
        draw.text((left - 4, v), _label(y), fill=AXIS_RGB, font=small, anchor="rm")
    for x in xt:
        u, _ = to_px(x, yt[0])
        draw.line([(u, bottom), (u, bottom + 4)], fill=AXIS_RGB)
        draw.text((u, bottom + 6), _label(x), fill=AXIS_RGB, font=small, anchor="mt")
    draw.rectangle([left, top, right, bottom], outline=AXIS_RGB)
    if x_label:
        draw.text(((left + right) / 2, height - 3), x_label, fill=AXIS_RGB, font=small,
                  anchor="md")
    if y_label:
        strip = text_strip(y_label, bottom - top, height=16, size=11, centred=True)
        strip = strip.rotate(90, expand=True)
        image.paste(strip, (2, top))
    for k, (name, name_runs) in enumerate(runs.items()):
        colour = (colours or {}).get(name, PALETTE[k % len(PALETTE)])
        for run in name_runs:
            pixels = [to_px(x, y) for x, y in run]
            if len(pixels) > 1:
                draw.line(pixels, fill=colour, width=2)
            for u, v in pixels:
                draw.ellipse([u - 3, v - 3, u + 3, v + 3], fill=colour)
        ly = top + 6 + 16 * k
        draw.line([(right + 10, ly), (right + 28, ly)], fill=colour, width=3)
        draw.text((right + 32, ly), name if name_runs else f"{name} (no data)", fill=AXIS_RGB,
                  font=small, anchor="lm")
    return image


def text_strip(text: str, width: int, *, height: int = 20, size: int = 12,
               centred: bool = False) -> Image.Image:
    """A white strip ``width × height`` with ``text`` left-aligned (or ``centred``),
    vertically centred."""
    strip = Image.new("RGB", (width, height), WHITE_RGB)
    x, anchor = (width / 2, "mm") if centred else (6, "lm")
    ImageDraw.Draw(strip).text((x, height / 2), text, fill=AXIS_RGB, font=font(size),
                               anchor=anchor)
    return strip


def stack_vertical(images: Sequence[Image.Image], *, gap: int = 8) -> Image.Image:
    """``images`` one below the other, left-aligned, on white, ``gap`` px apart."""
    if not images:
        raise ValueError("stack_vertical needs at least one image")
    width = max(im.width for im in images)
    height = sum(im.height for im in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (width, height), WHITE_RGB)
    y = 0
    for im in images:
        out.paste(im.convert("RGB"), (0, y))
        y += im.height + gap
    return out


__all__ = ["PALETTE", "font", "line_chart", "nice_ticks", "stack_vertical", "text_strip"]
