"""Image helpers shared by every layer: named backgrounds, alpha compositing, float → uint8,
image grids.

Conventions (see ``docs/conventions.md``): colours are RGB floats in [0, 1]; alpha is straight
(not premultiplied); a background is a name (``white``, ``black``, ``grey``), an ``R,G,B`` string
of floats in [0, 1], ``#rrggbb``, or three numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import MouseliftError

#: The named backgrounds (one spelling each). FaceLift renders, trains and evaluates on white.
BACKGROUNDS: dict[str, tuple[float, float, float]] = {
    "white": (1.0, 1.0, 1.0),
    "black": (0.0, 0.0, 0.0),
    "grey": (0.5, 0.5, 0.5),
}
BackgroundName = Literal["white", "black", "grey"]
WHITE: tuple[float, float, float] = BACKGROUNDS["white"]
#: Alpha above which a pixel belongs to the mouse: the masked metrics' masks, the visual hull's
#: silhouettes.
MOUSE_ALPHA_THRESHOLD = 0.5


class BackgroundError(MouseliftError, ValueError):
    """A background colour that cannot be read (one-line message)."""


def parse_background(value: str | Sequence[float] | np.ndarray | torch.Tensor,
                     what: str = "background") -> tuple[float, float, float]:
    """RGB in [0, 1] of a named background, an ``"R,G,B"`` / ``"#rrggbb"`` string or three
    numbers. ``what`` names the value in the error (e.g. the CLI option)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in BACKGROUNDS:
            return BACKGROUNDS[text]
        try:
            if text.startswith("#") and len(text) == 7:
                rgb = tuple(int(text[i:i + 2], 16) / 255.0 for i in (1, 3, 5))
            else:
                rgb = tuple(float(part) for part in text.split(","))
        except ValueError:
            rgb = ()
    else:
        rgb = tuple(float(x) for x in np.asarray(
            value.detach().cpu() if isinstance(value, torch.Tensor) else value,
            dtype=np.float64).reshape(-1))
    if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
        raise BackgroundError(f"{what} {value!r}: use {', '.join(BACKGROUNDS)}, R,G,B in "
                              "[0, 1] or #rrggbb")
    return rgb  # type: ignore[return-value]


def background_tensor(value: str | Sequence[float] | np.ndarray | torch.Tensor) -> torch.Tensor:
    """:func:`parse_background` as a float32 ``(3,)`` tensor."""
    return torch.tensor(parse_background(value), dtype=torch.float32)


def composite(rgba: torch.Tensor, background: torch.Tensor | Sequence[float] | str, *,
              channels_last: bool = True) -> torch.Tensor:
    """RGB of straight-alpha RGBA over ``background``; RGB input is returned as it is.

    ``channels_last``: images ``(…, H, W, 4)`` → ``(…, H, W, 3)``; otherwise ``(…, 4, H, W)`` →
    ``(…, 3, H, W)``. ``background``: one colour (name, ``(3,)``) for all images, or ``(…, 3)``
    with the leading dimensions of ``rgba`` (one colour per image)."""
    channel = -1 if channels_last else -3
    if rgba.shape[channel] == 3:
        return rgba
    if rgba.shape[channel] != 4:
        raise ValueError(f"expected 3 or 4 channels, got shape {tuple(rgba.shape)}")
    bg = (background if isinstance(background, torch.Tensor)
          else background_tensor(background)).to(rgba)
    if bg.ndim > 1:
        bg = bg[..., None, None, :] if channels_last else bg[..., :, None, None]
    elif not channels_last:
        bg = bg.view(3, 1, 1)
    rgb, alpha = rgba.split([3, 1], dim=channel)
    return rgb * alpha + bg * (1.0 - alpha)


def resize(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Antialiased bilinear resize of ``(…, C, H, W)`` to ``height × width``; image edges map
    onto image edges (``align_corners=False``), the convention of
    :meth:`mouselift.cameras.Camera.crop_and_resize`. Resize premultiplied colour, not straight
    RGBA (:func:`resize_rgba`)."""
    if tuple(images.shape[-2:]) == (height, width):
        return images
    lead = images.shape[:-3]
    flat = images.reshape(-1, *images.shape[-3:])
    out = F.interpolate(flat, size=(height, width), mode="bilinear", align_corners=False,
                        antialias=True)
    return out.reshape(*lead, *out.shape[-3:])


def resize_rgba(rgba: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Straight-alpha RGBA ``(…, H, W, 4)`` resized through premultiplied colour, so no colour
    of fully transparent pixels bleeds in: compositing the result equals resizing the
    composite."""
    if tuple(rgba.shape[-3:-1]) == (height, width):
        return rgba
    x = rgba.movedim(-1, -3)
    alpha = x[..., 3:, :, :]
    premultiplied = resize(torch.cat([x[..., :3, :, :] * alpha, alpha], dim=-3), height, width)
    a = premultiplied[..., 3:, :, :].clamp(0.0, 1.0)
    rgb = torch.where(a > 1e-6, premultiplied[..., :3, :, :] / a.clamp_min(1e-6),
                      torch.zeros_like(premultiplied[..., :3, :, :]))
    return torch.cat([rgb.clamp(0.0, 1.0), a], dim=-3).movedim(-3, -1)


def to_uint8(rgb: torch.Tensor | np.ndarray) -> np.ndarray:
    """Float image(s) in [0, 1] → uint8 numpy of the same shape, rounded to nearest."""
    tensor = torch.as_tensor(rgb).detach()
    return (tensor.clamp(0, 1) * 255 + 0.5).to(torch.uint8).cpu().numpy()


def chw_to_uint8(image: torch.Tensor) -> np.ndarray:
    """uint8 ``(…, H, W, C)`` of a float image ``(…, C, H, W)`` in [0, 1]."""
    return to_uint8(image.float().movedim(-3, -1))


def image_grid(rows: Sequence[Sequence[np.ndarray | None]], *,
               background: str | Sequence[float] = "white") -> Image.Image:
    """A contact sheet: ``rows`` of uint8 ``(H, W, 3|4)`` images (``None`` = empty cell).

    Every cell is as large as the largest image; an image sits at its cell's top-left corner and
    the rest is ``background``. Returns an RGB PIL image."""
    cells = [im for row in rows for im in row if im is not None]
    if not cells:
        raise ValueError("image_grid needs at least one image")
    cell_h = max(im.shape[0] for im in cells)
    cell_w = max(im.shape[1] for im in cells)
    columns = max(len(row) for row in rows)
    fill = tuple(round(255 * c) for c in parse_background(background))
    sheet = Image.new("RGB", (columns * cell_w, len(rows) * cell_h), fill)
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            if image is None:
                continue
            tile = Image.fromarray(np.asarray(image, dtype=np.uint8))
            if tile.mode == "RGBA":
                base = Image.new("RGB", tile.size, fill)
                base.paste(tile, (0, 0), tile)
                tile = base
            sheet.paste(tile.convert("RGB"), (c * cell_w, r * cell_h))
    return sheet


def chunk_rows(images: Sequence[np.ndarray], columns: int | None) -> list[list[np.ndarray]]:
    """``images`` in rows of ``columns`` (default: one row)."""
    columns = max(1, min(columns or len(images), len(images)))
    return [list(images[i:i + columns]) for i in range(0, len(images), columns)]


__all__ = [
    "BACKGROUNDS",
    "MOUSE_ALPHA_THRESHOLD",
    "WHITE",
    "BackgroundError",
    "BackgroundName",
    "background_tensor",
    "chunk_rows",
    "chw_to_uint8",
    "composite",
    "image_grid",
    "parse_background",
    "resize",
    "resize_rgba",
    "to_uint8",
]
