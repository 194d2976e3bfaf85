"""The ``.splat`` export: byte layout, sort order, decoding and splat-transform agreement."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
import torch

from mouselift.errors import SplatFormatError
from mouselift.splat import Gaussians, read_splat, splat_sort_order, write_splat
from mouselift.splat.splat_format import to_splat_bytes


def two_splats() -> Gaussians:
    """A: volume 0.25 · opacity 0.731 = 0.183; B: volume 1 · opacity 0.2 = 0.2 (B sorts first)."""
    t = lambda *rows: torch.tensor(rows, dtype=torch.float64)  # noqa: E731
    return Gaussians.from_activated(
        means=t([1.0, 2.0, 3.0], [-1.5, 0.25, 10.0]),
        scales=t([0.5, 0.25, 2.0], [1.0, 1.0, 1.0]),
        rotations=t([2.0, 0.0, 0.0, 0.0], [3.0, -3.0, 0.0, 0.0]),
        opacities=torch.tensor([1 / (1 + math.exp(-1.0)), 0.2], dtype=torch.float64),
        colors=t([1.3, -0.2, 0.2], [0.4, 0.6, 0.0]),
    )


def test_byte_layout_matches_hand_packed_struct(tmp_path):
    g = two_splats()
    path = write_splat(tmp_path / "two.splat", g)
    record = struct.Struct("<3f3f4B4B")
    assert record.size == 32
    # B: 0.4·255 = 102, 0.6·255 = 153, α 0.2·255 = 51; q = (1,-1,0,0)/√2 → 128 ± 90.51
    b = record.pack(-1.5, 0.25, 10.0, 1.0, 1.0, 1.0, 102, 153, 0, 51, 219, 37, 128, 128)
    # A: colour clipped (1.3 → 255, -0.2 → 0), 0.2·255 = 51, α 0.731·255 = 186.4;
    #    q = (1,0,0,0): 128 + 128 = 256 clipped to 255
    a = record.pack(1.0, 2.0, 3.0, 0.5, 0.25, 2.0, 255, 0, 51, 186, 255, 128, 128, 128)
    assert path.read_bytes() == b + a
    assert to_splat_bytes(g, sort=False) == a + b


def test_sort_is_descending_volume_times_opacity_and_stable():
    g = Gaussians.random(200, seed=7)
    order = splat_sort_order(g)
    key = (g.scales.prod(dim=1) * g.opacities).double().numpy()[order]
    assert (np.diff(key) <= 1e-12 * key[:-1]).all()
    twins = Gaussians.cat([g[5], g[5], g[5]])
    assert splat_sort_order(twins).tolist() == [0, 1, 2]
    records = np.frombuffer(to_splat_bytes(g), dtype="<f4").reshape(200, 8)
    np.testing.assert_array_equal(records[:, :3], g.means.numpy()[order])


def test_read_splat_decodes_within_quantisation(tmp_path):
    g = Gaussians.random(300, seed=8, sh_degree=2)
    back = read_splat(write_splat(tmp_path / "g.splat", g, sort=False))
    assert back.sh_degree == 0 and back.dtype == torch.float32 and len(back) == 300
    assert torch.equal(back.means, g.means)
    torch.testing.assert_close(back.scales, g.scales, rtol=1e-6, atol=0)
    assert (back.rgb_dc - g.rgb_dc).abs().max() <= 0.5 / 255 + 1e-6
    assert (back.opacities - g.opacities).abs().max() <= 0.5 / 255 + 1e-6
    dots = (back.normalized_rotations * g.normalized_rotations).sum(dim=1).abs()
    assert dots.min() > 0.999


def test_splat_transform_reads_our_splat(tmp_path, splat_transform_csv):
    g = Gaussians.random(64, seed=9)
    path = write_splat(tmp_path / "g.splat", g)
    cols = splat_transform_csv(path, tmp_path)
    ours = read_splat(path)  # our decoding of the same bytes

    def col(*names: str) -> np.ndarray:
        return np.stack([cols[name] for name in names], axis=1)

    np.testing.assert_array_equal(col("x", "y", "z").astype(np.float32), ours.means.numpy())
    np.testing.assert_array_equal(col("x", "y", "z").astype(np.float32),
                                  g.means.numpy()[splat_sort_order(g)])  # fmt: skip
    np.testing.assert_allclose(np.exp(col("scale_0", "scale_1", "scale_2")), ours.scales,
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_allclose(0.5 + 0.28209479177387814 * col("f_dc_0", "f_dc_1", "f_dc_2"),
                               ours.rgb_dc, atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(1 / (1 + np.exp(-cols["opacity"])), ours.opacities, atol=1e-6)
    # splat-transform decodes rotation bytes as b/127.5 - 1 (antimatter15: (b-128)/128, like us);
    # either way the decoded rotation is the original one up to 8-bit quantisation
    theirs_q = col("rot_0", "rot_1", "rot_2", "rot_3")
    np.testing.assert_allclose(np.linalg.norm(theirs_q, axis=1), 1.0, atol=1e-6)
    original_q = g.normalized_rotations.double().numpy()[splat_sort_order(g)]
    assert np.abs((theirs_q * original_q).sum(axis=1)).min() > 0.999
    assert np.abs(theirs_q - ours.normalized_rotations.numpy()).max() < 0.01


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\0" * 33, "size 33 bytes is not a multiple of 32"),
        (struct.pack("<3f3f8B", math.nan, 0, 0, 1, 1, 1, *[0] * 8), r"non-finite .* in position"),
        (struct.pack("<3f3f8B", 0, 0, 0, 1, 0, 1, *[0] * 8), "non-positive scale"),
    ],
)
def test_bad_splat_files(tmp_path, data, message):
    path = tmp_path / "bad.splat"
    path.write_bytes(data)
    with pytest.raises(SplatFormatError, match=message) as info:
        read_splat(path)
    assert str(info.value).startswith(f"{path}: ")
    with pytest.raises(SplatFormatError, match="no such file"):
        read_splat(tmp_path / "missing.splat")
