"""Contact sheets of prepared samples, for a quick look at what a dataset holds."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..images import image_grid


def checkerboard(size: int, cell: int = 16) -> Image.Image:
    """A light-grey checkerboard (RGB) of ``size``×``size`` that shows transparency."""
    idx = (np.arange(size) // cell)[:, None] + (np.arange(size) // cell)[None, :]
    tile = np.where(idx % 2 == 0, 235, 200).astype(np.uint8)
    return Image.fromarray(np.repeat(tile[..., None], 3, axis=2))


def sample_contact_sheet(sample_dir: str | os.PathLike, tile: int = 192) -> Image.Image:
    """All views of one prepared sample side by side, composited over a checkerboard.

    A red cross marks each tile's centre, where the mouse's 3D centre projects by construction.
    """
    sample_dir = Path(sample_dir)
    views = sorted((sample_dir / "images").glob("cam_*.png"))
    if not views:
        raise FileNotFoundError(f"{sample_dir}: no images/cam_*.png")
    return image_grid([[np.asarray(_labelled_tile(path, tile)) for path in views]])


def _labelled_tile(path: Path, tile: int) -> Image.Image:
    """One view over a checkerboard, a red cross at its centre, its name underneath."""
    cell = Image.new("RGB", (tile, tile + 18), "white")
    rgba = Image.open(path).convert("RGBA").resize((tile, tile), Image.Resampling.BILINEAR)
    background = checkerboard(tile)
    background.paste(rgba, (0, 0), rgba)
    cell.paste(background, (0, 0))
    draw = ImageDraw.Draw(cell)
    c = tile / 2
    draw.line([(c - 6, c), (c + 6, c)], fill=(220, 0, 0))
    draw.line([(c, c - 6), (c, c + 6)], fill=(220, 0, 0))
    draw.text((4, tile + 3), path.stem, fill=(0, 0, 0))
    return cell
