"""Read and write any supported calibration format, chosen by the file's extension.

:data:`CALIBRATION_FORMATS` is the one list of formats: each :class:`CalibrationFormat` names
its extensions, its reader and its writer (the format's own module holds the parsing). To add a
format, write its module and add one entry to that list; :func:`read_calibration`,
:func:`write_calibration`, :func:`supported_formats` and the recordings of
:mod:`mouselift.data.recording` all go through it.

All readers return :class:`~mouselift.cameras.Camera` objects in OpenCV conventions (axes and
pixels) and raise a one-line :class:`~mouselift.errors.CalibrationError` naming the file for
anything malformed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import CalibrationError
from .anipose import read_anipose_toml, write_anipose_toml
from .camera import Camera
from .dannce import read_dannce_mat, write_dannce_mat
from .facelift import read_opencv_cameras, write_opencv_cameras
from .mammal import load_mammal_pkl, read_mammal_pkl, write_mammal_pkl
from .pose_splatter import read_pose_splatter_h5, write_pose_splatter_h5

#: ``(width, height)`` in pixels.
ImageSize = tuple[int, int]


@dataclass(frozen=True)
class CalibrationFormat:
    """One calibration file format.

    ``name``: what messages call it; ``extensions``: lower-case file suffixes that select it
    (with the dot); ``read(path, image_size)``: the cameras, using ``image_size`` only where the
    file stores no size; ``write(path, cameras)``: write them atomically (``ValueError`` for
    cameras the format cannot hold). ``read_with_sizes`` (optional): like ``read``, also each
    camera's image size as measured by the file itself (``None`` per camera without one), for
    formats whose data pins the size down (MAMMAL's undistortion maps).
    """

    name: str
    extensions: tuple[str, ...]
    read: Callable[[Path, ImageSize | None], list[Camera]]
    write: Callable[[Path, Sequence[Camera]], None]
    read_with_sizes: Callable[
        [Path, ImageSize | None], tuple[list[Camera], list[ImageSize | None]]
    ] | None = None

    def describe(self) -> str:
        """``".h5/.hdf5 (Pose Splatter camera_params.h5)"``: for messages and ``--help``."""
        return f"{'/'.join(self.extensions)} ({self.name})"


def _read_facelift(path: Path, image_size: ImageSize | None) -> list[Camera]:
    return read_opencv_cameras(path)  # FaceLift's JSON always stores the size


def _write_facelift(path: Path, cameras: Sequence[Camera]) -> None:
    write_opencv_cameras(path, cameras, sample_id=path.parent.name)


#: Every supported format, in the order messages list them.
CALIBRATION_FORMATS: tuple[CalibrationFormat, ...] = (
    CalibrationFormat("MAMMAL new_cam.pkl", (".pkl", ".pickle"), read_mammal_pkl,
                      write_mammal_pkl, read_with_sizes=load_mammal_pkl),
    CalibrationFormat("DANNCE *dannce.mat", (".mat",), read_dannce_mat, write_dannce_mat),
    CalibrationFormat("FaceLift opencv_cameras.json", (".json",), _read_facelift,
                      _write_facelift),
    CalibrationFormat("Anipose calibration.toml", (".toml",), read_anipose_toml,
                      write_anipose_toml),
    CalibrationFormat("Pose Splatter camera_params.h5", (".h5", ".hdf5"), read_pose_splatter_h5,
                      write_pose_splatter_h5),
)


def supported_formats() -> str:
    """A one-line description of the supported extensions, for messages and ``--help``."""
    return ", ".join(fmt.describe() for fmt in CALIBRATION_FORMATS)


def calibration_format(path: str | os.PathLike) -> CalibrationFormat:
    """The format of ``path``, by its extension (case-insensitive); a one-line
    :class:`CalibrationError` for an unknown one."""
    path = Path(path)
    suffix = path.suffix.lower()
    for fmt in CALIBRATION_FORMATS:
        if suffix in fmt.extensions:
            return fmt
    raise CalibrationError(
        f"{path}: unknown calibration format {path.suffix or '(no extension)'!r}; "
        f"supported: {supported_formats()}"
    )


def read_calibration(
    path: str | os.PathLike, image_size: ImageSize | None = None
) -> list[Camera]:
    """Read a calibration file of any supported format (see the module docstring).

    ``image_size`` ``(width, height)`` is used where the format does not store one (DANNCE:
    default 1152×1024; MAMMAL without ``mapx``; Pose Splatter without a size; Anipose tables
    without ``size``); FaceLift's JSON always stores it.
    """
    path = Path(path)
    return calibration_format(path).read(path, image_size)


def read_calibration_with_sizes(
    path: str | os.PathLike, image_size: ImageSize | None = None
) -> tuple[list[Camera], list[ImageSize | None]]:
    """Like :func:`read_calibration` (one read of the file), also returning each camera's image
    size as measured by the file itself (MAMMAL's ``mapx`` shape), ``None`` where the format or
    the file has no such measurement (a stored, default or estimated size is not one)."""
    path = Path(path)
    fmt = calibration_format(path)
    if fmt.read_with_sizes is not None:
        return fmt.read_with_sizes(path, image_size)
    cameras = fmt.read(path, image_size)
    return cameras, [None] * len(cameras)


def write_calibration(path: str | os.PathLike, cameras: Sequence[Camera]) -> None:
    """Write cameras in the format given by ``path``'s extension (atomically).

    A FaceLift JSON gets the parent directory's name as its ``id``. Formats that cannot hold a
    camera's distortion (MAMMAL, FaceLift) raise ``ValueError``.
    """
    path = Path(path)
    calibration_format(path).write(path, cameras)


__all__ = [
    "CALIBRATION_FORMATS",
    "CalibrationFormat",
    "calibration_format",
    "read_calibration",
    "read_calibration_with_sizes",
    "supported_formats",
    "write_calibration",
]
