"""A small, fast PNG writer for RGBA uint8 arrays.

Pillow's PNG encoder chooses a filter per row adaptively, which costs more than the compression
at low zlib levels. Images here are written with the "Up" filter on every row (the difference
to the row above, vectorised in numpy) and deflated by ISA-L at levels 1–3 (zlib otherwise):
a 512×512 crop takes about 1 ms instead of ~7 ms with Pillow, with files of about the same
size. Output is a standard 8-bit RGBA PNG (colour type 6, no interlace) that every reader decodes
bit-exactly.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
from isal import isal_zlib

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_FILTER_UP = 2


def _deflate(raw: bytes, level: int) -> bytes:
    """zlib stream of ``raw``: levels 1–3 through ISA-L (several times faster than zlib at
    comparable size), 0 (stored) and 4–9 through zlib."""
    if 1 <= level <= 3:
        return isal_zlib.compress(raw, level)
    return zlib.compress(raw, level)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(rgba: np.ndarray, level: int = 1) -> bytes:
    """PNG bytes of an RGBA uint8 image (H, W, 4), zlib ``level`` 0–9."""
    image = np.asarray(rgba)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 4:
        raise ValueError(f"expected an RGBA uint8 array (H, W, 4), got {image.dtype} {image.shape}")
    height, width, _ = image.shape
    flat = image.reshape(height, width * 4)
    rows = np.empty((height, 1 + width * 4), dtype=np.uint8)
    rows[:, 0] = _FILTER_UP
    rows[0, 1:] = flat[0]  # "Up" on the first row subtracts an implicit row of zeros
    np.subtract(flat[1:], flat[:-1], out=rows[1:, 1:])  # modulo 256, as PNG specifies
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    data = _deflate(rows.tobytes(), level)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def write_png(path: str | os.PathLike, rgba: np.ndarray, level: int = 1) -> None:
    """Write an RGBA uint8 image (H, W, 4) as PNG to ``path``."""
    with open(path, "wb") as f:
        f.write(encode_png(rgba, level))


__all__ = ["encode_png", "write_png"]
