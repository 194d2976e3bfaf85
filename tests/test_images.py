"""The shared image helpers: backgrounds, compositing, uint8 conversion, grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mouselift.errors import MouseliftError
from mouselift.images import (
    BACKGROUNDS,
    chunk_rows,
    composite,
    image_grid,
    parse_background,
    to_uint8,
)


def test_composite_blends_straight_alpha():
    rgba = torch.tensor([[[[1.0, 0.0, 0.0, 0.25]]]])
    out = composite(rgba, torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(out, torch.tensor([[[[0.25, 0.0, 0.75]]]]))
    per_image = composite(rgba.expand(2, 1, 1, 4), torch.tensor([[0.0, 0, 0], [1.0, 1, 1]]))
    torch.testing.assert_close(per_image[1, 0, 0], torch.tensor([1.0, 0.75, 0.75]))
    assert torch.equal(composite(rgba[..., :3], "black"), rgba[..., :3])  # RGB passes through


def test_composite_channels_first_equals_channels_last():
    gen = torch.Generator().manual_seed(0)
    rgba = torch.rand(3, 5, 7, 4, generator=gen)
    bg = torch.rand(3, 3, generator=gen)
    last = composite(rgba, bg)
    first = composite(rgba.permute(0, 3, 1, 2), bg, channels_last=False)
    torch.testing.assert_close(first.permute(0, 2, 3, 1), last)
    grey = composite(rgba.permute(0, 3, 1, 2), "grey", channels_last=False)
    expected = rgba[..., :3] * rgba[..., 3:] + 0.5 * (1 - rgba[..., 3:])
    torch.testing.assert_close(grey.permute(0, 2, 3, 1), expected)
    with pytest.raises(ValueError, match="3 or 4 channels"):
        composite(torch.rand(2, 5, 5), "white")


def test_backgrounds_have_one_spelling_and_one_parser():
    assert set(BACKGROUNDS) == {"white", "black", "grey"}
    assert parse_background("Grey") == (0.5, 0.5, 0.5)
    assert parse_background("#ff8000") == (1.0, 128 / 255, 0.0)
    assert parse_background("0.1, 0.2,0.3") == (0.1, 0.2, 0.3)
    assert parse_background([0, 1, 0]) == (0.0, 1.0, 0.0)
    assert parse_background(torch.tensor([0.2, 0.2, 0.2])) == pytest.approx((0.2,) * 3)
    for bad in ("gray", "pink", "1,2,3", "#12345", "0.5,0.5"):
        with pytest.raises(MouseliftError, match="white, black, grey"):
            parse_background(bad)
    with pytest.raises(ValueError):  # also a ValueError, for library callers
        parse_background("purple")


def test_to_uint8_rounds_and_clamps():
    x = torch.tensor([-0.5, 0.0, 0.5 / 255, 0.499 / 255, 0.5, 1.0, 2.0])
    assert to_uint8(x).tolist() == [0, 0, 1, 0, 128, 255, 255]
    assert to_uint8(np.array([0.25])).dtype == np.uint8


def test_image_grid_places_cells_top_left_on_the_background():
    red = np.zeros((2, 3, 3), np.uint8)
    red[..., 0] = 255
    small = np.full((1, 1, 3), 7, np.uint8)
    sheet = np.asarray(image_grid([[red, small], [None, red]], background="black"))
    assert sheet.shape == (4, 6, 3)  # 2 rows × 2 columns of 2×3 cells
    assert (sheet[0:2, 0:3, 0] == 255).all()
    assert sheet[0, 3].tolist() == [7, 7, 7] and sheet[1, 4].tolist() == [0, 0, 0]
    assert (sheet[2:4, 0:3] == 0).all() and (sheet[2:4, 3:6, 0] == 255).all()
    rgba = np.zeros((2, 2, 4), np.uint8)  # transparent cell shows the background
    assert (np.asarray(image_grid([[rgba]], background="white")) == 255).all()
    assert [len(r) for r in chunk_rows([red] * 5, 2)] == [2, 2, 1]
    assert [len(r) for r in chunk_rows([red] * 5, None)] == [5]


def test_resize_rgba_goes_through_premultiplied_colour():
    """Compositing the resized RGBA equals resizing the composite: no colour of transparent
    pixels bleeds into the edges."""
    from mouselift.images import resize, resize_rgba

    gen = torch.Generator().manual_seed(0)
    rgba = torch.rand(2, 16, 12, 4, generator=gen)
    rgba[..., 3] = (rgba[..., 3] > 0.5).float()
    rgba[..., :3] *= rgba[..., 3:]  # garbage colour only where opaque …
    rgba[0, :, :, :3] += (1 - rgba[0, :, :, 3:]) * 0.9  # … except a bright fringe in image 0
    rgba = rgba.clamp(0, 1)
    small = resize_rgba(rgba, 8, 6)
    assert small.shape == (2, 8, 6, 4)
    for bg in ("white", "black"):
        lhs = composite(small, bg)
        rhs = resize(composite(rgba, bg).permute(0, 3, 1, 2), 8, 6).permute(0, 2, 3, 1)
        torch.testing.assert_close(lhs, rhs, atol=1e-5, rtol=0)
    assert resize_rgba(rgba, 16, 12) is rgba
