"""The PNG writer of ``mouselift prepare``: standard files, decoded bit-exactly by Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mouselift.data.png import encode_png, write_png


@pytest.mark.parametrize("level", [0, 1, 6])
def test_png_round_trip(level, tmp_path):
    rng = np.random.default_rng(level)
    rgba = rng.integers(0, 256, size=(37, 53, 4), dtype=np.uint8)
    rgba[:10, :, 3] = 0  # transparent rows
    rgba[20:] = rgba[19]  # repeated rows (the "Up" filter gives zeros)
    image = Image.open(io.BytesIO(encode_png(rgba, level)))
    assert image.mode == "RGBA" and image.size == (53, 37)
    np.testing.assert_array_equal(np.asarray(image), rgba)
    write_png(tmp_path / "x.png", rgba, level)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "x.png")), rgba)


def test_png_rejects_other_arrays():
    with pytest.raises(ValueError, match="RGBA uint8"):
        encode_png(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="RGBA uint8"):
        encode_png(np.zeros((4, 4, 4), np.float32))
