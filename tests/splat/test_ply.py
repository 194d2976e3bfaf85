"""Gaussian PLY files: layout, bit-exact round trips, third-party readers and malformed inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from mouselift.errors import MouseliftError, SplatFormatError
from mouselift.splat import Gaussians, read_ply, write_ply
from mouselift.splat.ply import ply_property_names

FIELDS = ("means", "log_scales", "rotations", "opacity_logits", "sh")


def assert_bit_exact(a: Gaussians, b: Gaussians) -> None:
    for name in FIELDS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype == torch.float32 and x.shape == y.shape, name
        assert torch.equal(x.view(torch.int32), y.view(torch.int32)), name


def hand_read_ply(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Minimal independent reader: header lines + little-endian float32 columns by name."""
    raw = path.read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    lines = raw[:end].decode("ascii").splitlines()
    assert lines[0] == "ply" and lines[1] == "format binary_little_endian 1.0"
    count = int(lines[2].split()[2])
    names = [line.split()[2] for line in lines if line.startswith("property float ")]
    table = np.frombuffer(raw[end:], dtype="<f4").reshape(count, len(names))
    return lines, {name: table[:, i] for i, name in enumerate(names)}


def tricky(n: int, degree: int, seed: int = 0) -> Gaussians:
    """Random Gaussians with float32 edge values (signed zero, subnormal, max, tiny)."""
    g = Gaussians.random(n, seed=seed, sh_degree=degree)
    means = g.means.clone()
    specials = [-0.0, 1e-45, -3.4028235e38, 1.1754944e-38, 123456.789]
    means.view(-1)[: len(specials)] = torch.tensor(specials)
    return g.replace(means=means)


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_bit_exact(tmp_path, degree):
    g = tricky(37, degree, seed=degree)
    path = write_ply(tmp_path / "g.ply", g)
    back = read_ply(path)
    assert back.sh_degree == degree
    assert_bit_exact(g, back)
    assert torch.signbit(back.means.view(-1)[0])  # -0.0 survives
    m = 3 * ((degree + 1) ** 2 - 1)
    header_len = path.read_bytes().index(b"end_header\n") + len(b"end_header\n")
    assert path.stat().st_size == header_len + 37 * 4 * (17 + m)


def test_header_is_graphdeco_layout(tmp_path):
    path = write_ply(tmp_path / "g.ply", Gaussians.random(2, sh_degree=1))
    lines, _ = hand_read_ply(path)
    props = [f"property float {name}" for name in ply_property_names(4)]
    assert lines == ["ply", "format binary_little_endian 1.0", "element vertex 2", *props,
                     "end_header"]  # fmt: skip
    assert ply_property_names(4)[:9] == ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1",
                                         "f_dc_2"]  # fmt: skip
    assert ply_property_names(4)[9:] == [*(f"f_rest_{i}" for i in range(9)), "opacity",
        "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]  # fmt: skip


@pytest.mark.parametrize("degree", [1, 2, 3])
def test_f_rest_is_channel_major_by_hand(tmp_path, degree):
    k = (degree + 1) ** 2
    n = 3
    # sh[i, j, c] = 1000 i + 10 j + c, all distinct and exactly representable
    i, j, c = torch.meshgrid(torch.arange(n), torch.arange(k), torch.arange(3), indexing="ij")
    sh = (1000 * i + 10 * j + c).float()
    g = Gaussians.random(n, sh_degree=degree).replace(sh=sh)
    _, cols = hand_read_ply(write_ply(tmp_path / "g.ply", g))
    for vertex in range(n):
        for channel in range(3):
            assert cols[f"f_dc_{channel}"][vertex] == 1000 * vertex + channel
            for coeff in range(1, k):
                index = channel * (k - 1) + (coeff - 1)
                expected = 1000 * vertex + 10 * coeff + channel
                assert cols[f"f_rest_{index}"][vertex] == expected
    np.testing.assert_array_equal(cols["opacity"], g.opacity_logits.numpy())
    np.testing.assert_array_equal(cols["scale_2"], g.log_scales[:, 2].numpy())
    np.testing.assert_array_equal(cols["rot_0"], g.rotations[:, 0].numpy())
    assert (cols["nx"] == 0).all()


@pytest.mark.parametrize("degree", [0, 1, 2])
def test_padding_to_45_reads_back_as_degree_3(tmp_path, degree):
    g = Gaussians.random(9, seed=1, sh_degree=degree)
    path = write_ply(tmp_path / "g.ply", g, pad_sh=True)
    lines, cols = hand_read_ply(path)
    assert sum(line.startswith("property float f_rest_") for line in lines) == 45
    k = (degree + 1) ** 2
    for c in range(3):  # the original coefficients sit at the start of each channel's 15 slots
        for coeff in range(1, 16):
            expected = g.sh[:, coeff, c].numpy() if coeff < k else np.zeros(9, np.float32)
            np.testing.assert_array_equal(cols[f"f_rest_{c * 15 + coeff - 1}"], expected)
    back = read_ply(path)
    assert back.sh_degree == 3
    assert torch.equal(back.sh[:, :k], g.sh) and not back.sh[:, k:].any()
    assert_bit_exact(back.with_sh_degree(degree), g)


def test_plyfile_agrees(tmp_path):
    plyfile = pytest.importorskip("plyfile")
    g = Gaussians.random(20, seed=2, sh_degree=2)
    path = write_ply(tmp_path / "g.ply", g)
    vertex = plyfile.PlyData.read(str(path))["vertex"]
    np.testing.assert_array_equal(np.stack([vertex[a] for a in "xyz"], 1), g.means.numpy())
    np.testing.assert_array_equal(vertex["opacity"], g.opacity_logits.numpy())
    np.testing.assert_array_equal(
        np.stack([vertex[f"f_rest_{i}"] for i in range(24)], 1),
        g.sh[:, 1:].transpose(1, 2).reshape(20, 24).numpy(),
    )


@pytest.mark.parametrize(("degree", "pad"), [(0, False), (1, False), (2, False), (3, False),
                                             (1, True)])  # fmt: skip
def test_splat_transform_reads_our_ply(tmp_path, splat_transform, splat_transform_csv, degree, pad):
    """PlayCanvas' splat-transform (SuperSplat's converter) sees exactly our values."""
    g = tricky(25, degree, seed=10 + degree)
    path = write_ply(tmp_path / "g.ply", g, pad_sh=pad)
    info = json.loads(splat_transform("-q", path, "--info", "json", "null").stdout)
    assert info["format"] == "ply" and info["gaussian"] is True
    assert info["numGaussians"] == 25 and info["shBands"] == (3 if pad else degree)
    cols = splat_transform_csv(path, tmp_path)

    def col(*names: str) -> np.ndarray:
        return np.stack([cols[name] for name in names], axis=1).astype(np.float32)

    np.testing.assert_array_equal(col("x", "y", "z"), g.means.numpy())
    np.testing.assert_array_equal(col("opacity")[:, 0], g.opacity_logits.numpy())
    np.testing.assert_array_equal(col("scale_0", "scale_1", "scale_2"), g.log_scales.numpy())
    np.testing.assert_array_equal(col("rot_0", "rot_1", "rot_2", "rot_3"), g.rotations.numpy())
    np.testing.assert_array_equal(col("f_dc_0", "f_dc_1", "f_dc_2"), g.sh[:, 0].numpy())
    # activated values as viewers show them
    np.testing.assert_allclose(np.exp(col("scale_0", "scale_1", "scale_2")), g.scales, rtol=1e-6)
    np.testing.assert_allclose(1 / (1 + np.exp(-col("opacity")[:, 0])), g.opacities, rtol=1e-6)
    colours = 0.5 + 0.28209479177387814 * col("f_dc_0", "f_dc_1", "f_dc_2")
    np.testing.assert_allclose(colours, g.rgb_dc.numpy(), rtol=1e-6)
    k = 16 if pad else g.num_sh_coeffs
    assert sorted(name for name in cols if name.startswith("f_rest_")) == sorted(
        f"f_rest_{i}" for i in range(3 * (k - 1))
    )
    if k > 1:
        rest = col(*(f"f_rest_{i}" for i in range(3 * (k - 1))))
        expected = g.with_sh_degree(3 if pad else degree).sh[:, 1:].transpose(1, 2)
        np.testing.assert_array_equal(rest, expected.reshape(25, -1).numpy())


def test_splat_transform_band_filter_confirms_channel_major(tmp_path, splat_transform_csv):
    """Dropping bands 2-3 in splat-transform keeps our band-1 coefficients of each channel."""
    g = Gaussians.random(12, seed=4, sh_degree=3)
    cols = splat_transform_csv(write_ply(tmp_path / "g.ply", g), tmp_path, "-H", "1")
    rest = np.stack([cols[f"f_rest_{i}"] for i in range(9)], 1).astype(np.float32)
    np.testing.assert_array_equal(rest.reshape(12, 3, 3), g.sh[:, 1:4].transpose(1, 2).numpy())
    assert "f_rest_9" not in cols


def test_we_read_splat_transform_written_ply(tmp_path, splat_transform):
    """splat-transform writes the properties in another order; our reader finds them by name."""
    g = tricky(30, 2, seed=6)
    ours = write_ply(tmp_path / "g.ply", g)
    theirs = tmp_path / "theirs.ply"
    splat_transform("-q", "-w", ours, theirs)
    assert theirs.read_bytes() != ours.read_bytes()
    assert_bit_exact(read_ply(theirs), g)


def _ply(header: list[str], body: bytes = b"") -> bytes:
    return ("\n".join(header) + "\n").encode("ascii") + body


def _gaussian_header(n: int, fmt: str = "binary_little_endian", kind: str = "float",
                     extra: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    names = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1",
             "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]  # fmt: skip
    return ["ply", f"format {fmt} 1.0", f"element vertex {n}",
            *(f"property {kind} {p}" for p in names), *extra, "end_header"]  # fmt: skip


def test_ascii_double_extra_properties_and_other_elements(tmp_path):
    values = np.arange(2 * 14, dtype=np.float64).reshape(2, 14) / 8 - 1
    header = _gaussian_header(2, fmt="ascii", extra=("property uchar red",))
    header.insert(2, "comment made by hand")
    text = "\n".join(" ".join(str(float(v)) for v in row) + " 7" for row in values) + "\n"
    path = tmp_path / "ascii.ply"
    path.write_bytes(_ply(header, text.encode()))
    g = read_ply(path)
    assert g.sh_degree == 0
    np.testing.assert_array_equal(g.means.numpy(), values[:, :3].astype(np.float32))
    np.testing.assert_array_equal(g.rotations.numpy(), values[:, 10:].astype(np.float32))

    # binary doubles, a fixed-size element before the vertices and a face element after them
    header = _gaussian_header(2, kind="double")
    header[2:2] = ["element camera 1", "property float fx", "property int id"]
    header[-1:-1] = ["element face 1", "property list uchar int vertex_indices"]
    header.append("end_header")
    header.pop(-2)
    body = np.array([500.0], "<f4").tobytes() + np.array([3], "<i4").tobytes()
    body += values.astype("<f8").tobytes() + bytes([3]) + np.arange(3, dtype="<i4").tobytes()
    path = tmp_path / "double.ply"
    path.write_bytes(_ply(header, body))
    g64 = read_ply(path, dtype=torch.float64)
    assert g64.dtype == torch.float64
    np.testing.assert_array_equal(g64.opacity_logits.numpy(), values[:, 6])
    np.testing.assert_array_equal(g64.sh[:, 0].numpy(), values[:, 3:6])


def test_empty_and_float64_containers(tmp_path):
    empty = read_ply(write_ply(tmp_path / "e.ply", Gaussians.empty(1)))
    assert len(empty) == 0 and empty.sh_degree == 1
    g64 = Gaussians.random(5, seed=3, dtype=torch.float64)
    back = read_ply(write_ply(tmp_path / "d.ply", g64))
    assert back.dtype == torch.float32
    assert_bit_exact(back, g64.to(dtype=torch.float32))


def test_write_is_atomic_and_replaces(tmp_path):
    path = tmp_path / "sub" / "g.ply"
    write_ply(path, Gaussians.random(3))
    write_ply(path, Gaussians.random(4))
    assert len(read_ply(path)) == 4
    before = path.read_bytes()
    too_big = Gaussians.random(4, dtype=torch.float64)
    too_big = too_big.replace(means=torch.full((4, 3), 1e300, dtype=torch.float64))
    with pytest.raises(ValueError, match="overflows float32"):
        write_ply(path, too_big)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["g.ply"]


def _valid_bytes(n: int = 3) -> bytes:
    return _ply(_gaussian_header(n), np.ones((n, 14), "<f4").tobytes())


def _with_nan(value: float) -> bytes:
    table = np.ones((3, 14), "<f4")
    table[1, 6] = value  # opacity of vertex 1
    return _ply(_gaussian_header(3), table.tobytes())


MALFORMED = {
    "wrong_magic": (b"PK\x03\x04 not a ply at all", "does not start with the 'ply' magic"),
    "empty": (b"", "does not start with the 'ply' magic"),
    "mesh": (
        _ply(
            [
                "ply",
                "format binary_little_endian 1.0",
                "element vertex 3",
                "property float x",
                "property float y",
                "property float z",
                "element face 1",
                "property list uchar int vertex_indices",
                "end_header",
            ],
            np.zeros(9, "<f4").tobytes() + bytes([3]) + np.arange(3, dtype="<i4").tobytes(),
        ),
        r"not a Gaussian splat PLY: vertex element lacks f_dc_0.*elements: \['vertex', 'face'\]",
    ),
    "ascii_points": (
        _ply(
            [
                "ply",
                "format ascii 1.0",
                "element vertex 2",
                "property float x",
                "property float y",
                "property float z",
                "property uchar red",
                "end_header",
            ],
            b"0 0 0 255\n1 1 1 0\n",
        ),
        "not a Gaussian splat PLY: vertex element lacks f_dc_0",
    ),
    "no_vertex": (
        _ply(["ply", "format ascii 1.0", "element face 0", "end_header"]),
        "no 'vertex' element",
    ),
    "compressed": (
        _ply(
            [
                "ply",
                "format binary_little_endian 1.0",
                "element chunk 0",
                "property float min_x",
                "element vertex 0",
                "property uint packed_position",
                "end_header",
            ]
        ),
        "PlayCanvas compressed PLY",
    ),
    "truncated_data": (_valid_bytes()[:-5], "truncated PLY: 3 vertices need"),
    "trailing_bytes": (_valid_bytes() + b"\0" * 8, "8 unexpected bytes after the vertex data"),
    "truncated_header": (_valid_bytes()[:40], "no 'end_header' line"),
    "big_endian": (
        _ply(_gaussian_header(3, fmt="binary_big_endian"), np.ones((3, 14), ">f4").tobytes()),
        "big-endian PLY is not supported",
    ),
    "bad_header_line": (
        _ply(["ply", "format ascii 1.0", "element vertex x", "end_header"]),
        "malformed PLY header line 'element vertex x'",
    ),
    "nan": (
        _with_nan(np.nan),
        r"1 non-finite \(NaN/Inf\) values in property 'opacity' "
        r"\(first at vertex 1\)",
    ),
    "inf": (_with_nan(-np.inf), "non-finite .* property 'opacity'"),
    "f_rest_12": (
        _ply(
            _gaussian_header(1, extra=tuple(f"property float f_rest_{i}" for i in range(12))),
            np.ones((1, 26), "<f4").tobytes(),
        ),
        "M in 0, 9, 24, 45 .*found 12",
    ),
    "int_opacity": (
        _ply(_gaussian_header(1)).replace(b"property float opacity", b"property uchar opacity"),
        "property 'opacity' must be float or double",
    ),
    "ascii_short_line": (
        _ply(_gaussian_header(1, fmt="ascii"), b"1 2 3\n"),
        "vertex line 0 has 3 values, expected 14",
    ),
    "ascii_not_number": (
        _ply(_gaussian_header(1, fmt="ascii"), (" ".join(["1"] * 13) + " abc\n").encode()),
        "not a number",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_one_line_error_naming_the_file(tmp_path, case):
    data, message = MALFORMED[case]
    path = tmp_path / f"{case}.ply"
    path.write_bytes(data)
    with pytest.raises(SplatFormatError, match=message) as info:
        read_ply(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert isinstance(info.value, MouseliftError)


def test_valid_reference_bytes_read(tmp_path):
    """The hand-made reference used for the malformed cases is itself a valid file."""
    path = tmp_path / "ok.ply"
    path.write_bytes(_valid_bytes())
    g = read_ply(path)
    assert len(g) == 3 and torch.equal(g.means, torch.ones(3, 3))


def test_missing_file(tmp_path):
    with pytest.raises(SplatFormatError, match=re.escape(f"{tmp_path / 'nope.ply'}: no such file")):
        read_ply(tmp_path / "nope.ply")
