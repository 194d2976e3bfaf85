"""Gaussian splat PLY files in the standard graphdeco (3D Gaussian Splatting) layout.

Written files are ``binary_little_endian`` with one ``vertex`` element of float32 properties, in
this order (what SuperSplat, PlayCanvas' ``splat-transform`` and most viewers read)::

    x y z  nx ny nz  f_dc_0 f_dc_1 f_dc_2  f_rest_0 .. f_rest_{M-1}  opacity
    scale_0 scale_1 scale_2  rot_0 rot_1 rot_2 rot_3

- ``x y z``: means; ``nx ny nz``: zeros (unused, kept for compatibility);
- ``f_dc_c``: DC SH coefficient of channel c (colour = 0.5 + C0·f_dc);
- ``f_rest``: the higher SH coefficients, **channel-major**: ``f_rest_{c·(K−1) + k−1}`` holds
  channel ``c`` of coefficient ``k`` (1 ≤ k < K), so M = 3(K−1) ∈ {0, 9, 24, 45} for degree 0–3;
- ``opacity``: logit; ``scale_i``: natural log of the standard deviation; ``rot_0..3``: the
  quaternion w x y z, unnormalised — exactly the raw fields of :class:`~.gaussians.Gaussians`.

The reader parses the header itself and accepts ``binary_little_endian`` and ``ascii`` files with
float or double Gaussian properties in any order, ignores extra properties and elements it does
not need, and derives the SH degree from the number of ``f_rest`` properties. Anything else (mesh
or point-cloud PLYs without the Gaussian fields, big-endian, truncated data, NaN/Inf values)
raises :class:`~mouselift.errors.SplatFormatError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch

from ..atomic import atomic_write
from ..errors import SplatFormatError
from .gaussians import Gaussians

__all__ = ["read_ply", "write_ply"]

_MAX_HEADER_BYTES = 1 << 20
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
_BASE_PROPS = ("x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
               "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3")  # fmt: skip
_F_REST = re.compile(r"f_rest_(\d+)\Z")


def f_rest_names(num_coeffs: int) -> list[str]:
    """Property names of the higher SH coefficients for ``K = num_coeffs`` (3·(K−1) names)."""
    return [f"f_rest_{i}" for i in range(3 * (num_coeffs - 1))]


def ply_property_names(num_coeffs: int) -> list[str]:
    """The vertex properties :func:`write_ply` writes, in order, for ``K = num_coeffs``."""
    return [
        "x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2",
        *f_rest_names(num_coeffs),
        "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3",
    ]  # fmt: skip


def _float32_columns(gaussians: Gaussians) -> dict[str, np.ndarray]:
    """Raw fields as float32 numpy arrays, checked finite after the cast."""
    out = {}
    for name in ("means", "log_scales", "rotations", "opacity_logits", "sh"):
        array = getattr(gaussians, name).detach().to("cpu", torch.float32).numpy()
        if not np.isfinite(array).all():
            raise ValueError(f"Gaussians.{name} overflows float32 (non-finite after the cast)")
        out[name] = array
    return out


def write_ply(path: str | os.PathLike, gaussians: Gaussians, *, pad_sh: bool = False) -> Path:
    """Write ``gaussians`` as a graphdeco binary little-endian float32 PLY, atomically.

    ``pad_sh=True`` zero-pads the SH to degree 3 (45 ``f_rest`` columns) for viewers that only
    handle degree-3 files; without it the file keeps the container's degree (0, 9, 24 or 45
    ``f_rest`` columns). Values are cast to float32; a float32 container round-trips bit-exactly
    through :func:`read_ply`. Returns the path written.
    """
    if pad_sh:
        gaussians = gaussians.with_sh_degree(3)
    cols = _float32_columns(gaussians)
    n, k = len(gaussians), gaussians.num_sh_coeffs
    f_rest = cols["sh"][:, 1:, :].transpose(0, 2, 1).reshape(n, 3 * (k - 1))  # channel-major
    table = np.concatenate(
        [
            cols["means"],
            np.zeros((n, 3), np.float32),
            cols["sh"][:, 0, :],
            f_rest,
            cols["opacity_logits"][:, None],
            cols["log_scales"],
            cols["rotations"],
        ],
        axis=1,
    ).astype("<f4", copy=False)
    names = ply_property_names(k)
    assert table.shape[1] == len(names)
    header = "".join(
        [
            "ply\n",
            "format binary_little_endian 1.0\n",
            f"element vertex {n}\n",
            *(f"property float {name}\n" for name in names),
            "end_header\n",
        ]
    ).encode("ascii")

    def write(f: IO[bytes]) -> None:
        f.write(header)
        f.write(np.ascontiguousarray(table).tobytes())

    return atomic_write(path, write)


# ---------------------------------------------------------------------------------- reading


@dataclass
class _Element:
    name: str
    count: int
    props: list[tuple[str, str]]  # (name, numpy type code); list properties use "list"


def _fail(path: Path, message: str) -> SplatFormatError:
    return SplatFormatError(f"{path}: {message}")


def _read_header(path: Path, f: IO[bytes]) -> tuple[str, list[_Element], int]:
    """Parse the header; returns (format, elements, byte offset of the data)."""
    first = f.readline(16)
    if first.rstrip(b"\r\n") != b"ply":
        raise _fail(path, "not a PLY file (it does not start with the 'ply' magic line)")
    fmt = ""
    elements: list[_Element] = []
    while True:
        raw = f.readline(_MAX_HEADER_BYTES)
        if not raw.endswith(b"\n"):
            raise _fail(path, "PLY header has no 'end_header' line (truncated file?)")
        if f.tell() > _MAX_HEADER_BYTES:
            raise _fail(path, f"PLY header longer than {_MAX_HEADER_BYTES} bytes")
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise _fail(path, "PLY header contains non-ASCII bytes (truncated header?)") from None
        words = line.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        key = words[0]
        if key == "end_header":
            return fmt, elements, f.tell()
        if key == "format" and len(words) == 3:
            fmt = words[1]
        elif key == "element" and len(words) == 3 and words[2].isdigit():
            elements.append(_Element(words[1], int(words[2]), []))
        elif key == "property" and elements and len(words) == 3 and words[1] in _PLY_TYPES:
            elements[-1].props.append((words[2], _PLY_TYPES[words[1]]))
        elif key == "property" and elements and len(words) == 5 and words[1] == "list":
            elements[-1].props.append((words[4], "list"))
        else:
            raise _fail(path, f"malformed PLY header line {line!r}")


def _gaussian_layout(path: Path, elements: list[_Element]) -> tuple[int, _Element, int]:
    """Locate the vertex element; returns (its index, it, number of SH coefficients K)."""
    names = [e.name for e in elements]
    if "vertex" not in names:
        raise _fail(path, f"not a Gaussian splat PLY: no 'vertex' element (elements: {names})")
    index = names.index("vertex")
    vertex = elements[index]
    types = dict(vertex.props)
    rest = sorted(int(m.group(1)) for p, _ in vertex.props if (m := _F_REST.match(p)))
    missing = [p for p in _BASE_PROPS if p not in types]
    if missing:
        hint = " (PlayCanvas compressed PLY: decompress it first)" if "chunk" in names else ""
        raise _fail(
            path,
            f"not a Gaussian splat PLY: vertex element lacks {', '.join(missing)}{hint} "
            f"(elements: {names})",
        )
    if rest != list(range(len(rest))) or len(rest) not in (0, 9, 24, 45):
        raise _fail(
            path,
            f"f_rest properties must be f_rest_0..f_rest_M-1 with M in 0, 9, 24, 45 "
            f"(SH degree 0-3), found {len(rest)}",
        )
    for p in (*_BASE_PROPS, *f_rest_names(len(rest) // 3 + 1)):
        if types[p] not in ("f4", "f8"):
            kind = "a list" if types[p] == "list" else f"type {types[p]}"
            raise _fail(path, f"property {p!r} must be float or double, found {kind}")
    return index, vertex, len(rest) // 3 + 1


def _read_binary(path: Path, f: IO[bytes], data_start: int, elements: list[_Element],
                 index: int) -> np.ndarray:  # fmt: skip
    offset = data_start
    for element in elements[:index]:
        if any(t == "list" for _, t in element.props):
            raise _fail(path, f"cannot skip element {element.name!r} with list properties")
        offset += element.count * sum(np.dtype(t).itemsize for _, t in element.props)
    vertex = elements[index]
    if any(t == "list" for _, t in vertex.props):
        raise _fail(path, "vertex element has list properties (not a Gaussian splat PLY)")
    dtype = np.dtype([(name, "<" + t) for name, t in vertex.props])
    size = os.fstat(f.fileno()).st_size
    expected = offset + vertex.count * dtype.itemsize
    if size < expected:
        raise _fail(
            path,
            f"truncated PLY: {vertex.count} vertices need {expected} bytes, file has {size}",
        )
    if index == len(elements) - 1 and size > expected:
        raise _fail(path, f"{size - expected} unexpected bytes after the vertex data")
    f.seek(offset)
    data = np.fromfile(f, dtype=dtype, count=vertex.count)
    if data.shape[0] != vertex.count:
        raise _fail(path, f"truncated PLY: read {data.shape[0]} of {vertex.count} vertices")
    return data


def _read_ascii(path: Path, f: IO[bytes], elements: list[_Element], index: int) -> np.ndarray:
    skip = sum(e.count for e in elements[:index])
    vertex = elements[index]
    if any(t == "list" for _, t in vertex.props):
        raise _fail(path, "vertex element has list properties (not a Gaussian splat PLY)")
    lines = f.read().decode("ascii", errors="replace").splitlines()
    rows = [line.split() for line in lines[skip : skip + vertex.count]]
    if len(rows) < vertex.count:
        raise _fail(path, f"truncated PLY: {vertex.count} vertices declared, {len(rows)} found")
    dtype = np.dtype([(name, t) for name, t in vertex.props])
    data = np.empty(vertex.count, dtype=dtype)
    for i, row in enumerate(rows):
        if len(row) != len(vertex.props):
            raise _fail(
                path, f"vertex line {i} has {len(row)} values, expected {len(vertex.props)}"
            )
    try:
        values = np.array(rows, dtype=np.float64).reshape(vertex.count, len(vertex.props))
    except ValueError:
        raise _fail(path, "ASCII vertex data contains a value that is not a number") from None
    for j, (name, _) in enumerate(vertex.props):
        data[name] = values[:, j]
    return data


def read_ply(
    path: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Gaussians:
    """Read a Gaussian splat PLY (graphdeco layout; see the module docstring) into Gaussians.

    The SH degree follows the number of ``f_rest`` properties (0, 9, 24, 45 → 0–3); a file padded
    to 45 reads back as degree 3 with zero higher bands. Raises
    :class:`~mouselift.errors.SplatFormatError` for a missing, malformed or non-Gaussian file.
    """
    path = Path(path)
    try:
        f = open(path, "rb")  # closed by the with-block below
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except OSError as exc:
        raise _fail(path, f"cannot open ({exc.strerror})") from None
    with f:
        fmt, elements, data_start = _read_header(path, f)
        if fmt == "binary_big_endian":
            raise _fail(path, "big-endian PLY is not supported (write binary_little_endian)")
        if fmt not in ("binary_little_endian", "ascii"):
            raise _fail(path, f"unknown PLY format {fmt!r}")
        index, vertex, k = _gaussian_layout(path, elements)
        if fmt == "ascii":
            data = _read_ascii(path, f, elements, index)
        else:
            data = _read_binary(path, f, data_start, elements, index)

    rest = f_rest_names(k)
    for name in (*_BASE_PROPS, *rest):
        bad = ~np.isfinite(data[name])
        if bad.any():
            raise _fail(
                path,
                f"{int(bad.sum())} non-finite (NaN/Inf) values in property {name!r} "
                f"(first at vertex {int(np.argmax(bad))})",
            )

    def stack(names: list[str] | tuple[str, ...]) -> torch.Tensor:
        columns = [data[name] for name in names]
        out_type = np.result_type(*columns) if columns else np.float32
        array = np.stack(columns, axis=-1) if columns else np.zeros((vertex.count, 0), out_type)
        return torch.from_numpy(np.ascontiguousarray(array)).to(device=device, dtype=dtype)

    n = vertex.count
    dc = stack(("f_dc_0", "f_dc_1", "f_dc_2"))
    # channel-major f_rest -> (N, 3, K-1) -> (N, K-1, 3)
    higher = stack(rest).reshape(n, 3, k - 1).transpose(1, 2)
    try:
        return Gaussians(
            means=stack(("x", "y", "z")),
            log_scales=stack(("scale_0", "scale_1", "scale_2")),
            rotations=stack(("rot_0", "rot_1", "rot_2", "rot_3")),
            opacity_logits=stack(("opacity",))[:, 0].contiguous(),
            sh=torch.cat([dc[:, None, :], higher], dim=1).contiguous(),
        )
    except ValueError as exc:  # e.g. float64 values that overflow the requested dtype
        raise _fail(path, str(exc)) from None
