"""Per-frame normalisation of the world: one similarity for the whole rig.

The world is translated so the mouse centre is the origin and scaled about it so the mean
distance of the cameras from the mouse is ``target_distance`` (FaceLift's camera radius, 2.7).
Axes are not rotated, so Z stays up. The same :class:`~mouselift.cameras.Similarity` moves every
camera of the frame, so the rig stays rigid (relative poses are unchanged up to the global scale).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...cameras import Camera, Similarity
from ...errors import RecordingError


def frame_similarity(
    cameras: Sequence[Camera], centre: np.ndarray, target_distance: float = 2.7
) -> Similarity:
    """The similarity ``X' = s (X − centre)`` with ``s = target_distance / mean |C_i − centre|``."""
    c = np.asarray(centre, dtype=np.float64).reshape(3)
    mean_distance = float(np.mean([np.linalg.norm(cam.center - c) for cam in cameras]))
    if not mean_distance > 0:
        raise ValueError("the mouse centre coincides with the cameras")
    return Similarity.centre_and_scale(c, target_distance / mean_distance)


def check_undistorted(cameras: Sequence[Camera], source: object) -> None:
    """Raise a one-line :class:`RecordingError` if any camera has lens distortion."""
    for cam in cameras:
        if cam.has_distortion:
            raise RecordingError(
                f"{source}: camera {cam.name!r} has lens distortion; prepare expects undistorted "
                "videos (MAMMAL's videos_undist) with zero-distortion cameras"
            )


__all__ = ["check_undistorted", "frame_similarity"]
