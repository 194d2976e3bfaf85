"""Read and write any supported calibration format, chosen by the file's extension.

=================  ==========================================  ==============================
extension          format                                      module
=================  ==========================================  ==============================
``.pkl``           MAMMAL ``new_cam.pkl`` (list/dict of dicts)  :mod:`.mammal`
``.mat``           DANNCE / Label3D ``*dannce.mat``             :mod:`.dannce`
``.json``          FaceLift ``opencv_cameras.json``             :mod:`.facelift`
``.toml``          Anipose ``calibration.toml``                 :mod:`.anipose`
``.h5``/``.hdf5``  Pose Splatter ``camera_params*.h5``          :mod:`.pose_splatter`
=================  ==========================================  ==============================

All readers return :class:`~mouselift.cameras.Camera` objects in OpenCV conventions (axes and
pixels) and raise a one-line :class:`~mouselift.errors.CalibrationError` naming the file for
anything malformed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import CalibrationError
from .anipose import read_anipose_toml, write_anipose_toml
from .camera import Camera
from .dannce import read_dannce_mat, write_dannce_mat
from .facelift import read_opencv_cameras, write_opencv_cameras
from .mammal import read_mammal_pkl, write_mammal_pkl
from .pose_splatter import read_pose_splatter_h5, write_pose_splatter_h5

_FORMATS: dict[str, str] = {
    ".pkl": "MAMMAL new_cam.pkl",
    ".mat": "DANNCE *dannce.mat",
    ".json": "FaceLift opencv_cameras.json",
    ".toml": "Anipose calibration.toml",
    ".h5": "Pose Splatter camera_params.h5",
    ".hdf5": "Pose Splatter camera_params.h5",
}


def supported_formats() -> str:
    """A one-line description of the supported extensions, for messages and ``--help``."""
    return ", ".join(f"{ext} ({name})" for ext, name in _FORMATS.items())


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise CalibrationError(
            f"{path}: unknown calibration format {path.suffix or '(no extension)'!r}; "
            f"supported: {supported_formats()}"
        )
    return suffix


def read_calibration(
    path: str | os.PathLike, image_size: tuple[int, int] | None = None
) -> list[Camera]:
    """Read a calibration file of any supported format (see the module docstring).

    ``image_size`` ``(width, height)`` is used where the format does not store one (DANNCE:
    default 1152×1024; MAMMAL without ``mapx``; Pose Splatter without a size; Anipose tables
    without ``size``); FaceLift's JSON always stores it.
    """
    path = Path(path)
    suffix = _suffix(path)
    if suffix == ".pkl":
        return read_mammal_pkl(path, image_size)
    if suffix == ".mat":
        return read_dannce_mat(path) if image_size is None else read_dannce_mat(path, image_size)
    if suffix == ".json":
        return read_opencv_cameras(path)
    if suffix == ".toml":
        return read_anipose_toml(path, image_size)
    return read_pose_splatter_h5(path, image_size)


def write_calibration(
    path: str | os.PathLike, cameras: Sequence[Camera], *, sample_id: str | None = None
) -> None:
    """Write cameras in the format given by ``path``'s extension (atomically).

    ``sample_id`` is the ``id`` of a FaceLift JSON (default: the parent directory's name).
    Formats that cannot hold a camera's distortion (MAMMAL, FaceLift) raise ``ValueError``.
    """
    path = Path(path)
    suffix = _suffix(path)
    writers: dict[str, Callable[[], None]] = {
        ".pkl": lambda: write_mammal_pkl(path, cameras),
        ".mat": lambda: write_dannce_mat(path, cameras),
        ".json": lambda: write_opencv_cameras(
            path, cameras, sample_id=sample_id if sample_id is not None else path.parent.name
        ),
        ".toml": lambda: write_anipose_toml(path, cameras),
        ".h5": lambda: write_pose_splatter_h5(path, cameras),
        ".hdf5": lambda: write_pose_splatter_h5(path, cameras),
    }
    writers[suffix]()


__all__ = ["read_calibration", "supported_formats", "write_calibration"]
