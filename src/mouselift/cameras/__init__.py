"""Cameras and the geometry every stage shares (OpenCV axes and pixels; see :mod:`.camera`).

Calibration formats (:func:`read_calibration` picks one by extension from
:data:`~.io.CALIBRATION_FORMATS`): MAMMAL ``new_cam.pkl``,
DANNCE ``*dannce.mat``, FaceLift ``opencv_cameras.json``, Anipose ``calibration.toml``, Pose
Splatter ``camera_params*.h5``. Rays (:mod:`.rays`, PyTorch) and orbits (:mod:`.orbits`).

The ray functions are imported lazily so that ``import mouselift.cameras`` does not load torch.
"""

from typing import Any

from .anipose import read_anipose_toml, write_anipose_toml
from .camera import Camera
from .dannce import read_dannce_labels, read_dannce_mat, write_dannce_mat
from .facelift import read_opencv_cameras, write_opencv_cameras
from .io import (
    CALIBRATION_FORMATS,
    CalibrationFormat,
    calibration_format,
    read_calibration,
    read_calibration_with_sizes,
    supported_formats,
    write_calibration,
)
from .mammal import read_mammal_pkl, write_mammal_pkl
from .orbits import intrinsics_from_fov, look_at, orbit_camera, orbit_cameras, orbit_position
from .pose_splatter import read_pose_splatter_h5, write_pose_splatter_h5
from .transforms import (
    Similarity,
    is_rotation,
    matrix_to_rodrigues,
    nearest_rotation,
    rigid_inverse,
    rodrigues_to_matrix,
    w2c_from_rt,
)

__all__ = [
    "CALIBRATION_FORMATS",
    "CalibrationFormat",
    "Camera",
    "Similarity",
    "calibration_format",
    "camera_rays",
    "closest_points_to_origin",
    "intrinsics_from_fov",
    "is_rotation",
    "look_at",
    "matrix_to_rodrigues",
    "nearest_rotation",
    "orbit_camera",
    "orbit_cameras",
    "orbit_position",
    "pixel_rays",
    "plucker_input",
    "read_anipose_toml",
    "read_calibration",
    "read_calibration_with_sizes",
    "read_dannce_labels",
    "read_dannce_mat",
    "read_mammal_pkl",
    "read_opencv_cameras",
    "read_pose_splatter_h5",
    "rigid_inverse",
    "rodrigues_to_matrix",
    "supported_formats",
    "w2c_from_rt",
    "write_anipose_toml",
    "write_calibration",
    "write_dannce_mat",
    "write_mammal_pkl",
    "write_opencv_cameras",
    "write_pose_splatter_h5",
]

_LAZY_RAYS = frozenset({"camera_rays", "closest_points_to_origin", "pixel_rays", "plucker_input"})


def __getattr__(name: str) -> Any:
    if name in _LAZY_RAYS:
        from . import rays

        return getattr(rays, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
