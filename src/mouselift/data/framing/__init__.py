"""Framing the mouse: where it is in 3D, and every view cropped and normalised around it.

Shared by ``mouselift prepare`` (every frame of a recording) and ``mouselift infer`` (one image),
so an input to the models is framed exactly like the training data:

* :mod:`.triangulate` — mask measurements (:func:`mask_stats`) and the robust triangulation of
  their centroids;
* :mod:`.hull` — the visual hull of masks (:func:`carve`; also the initial points of
  ``mouselift fit``) and its centroid;
* :mod:`.locate` — the mouse centre from all views (:func:`locate_frame`) or from one calibrated
  view by the plane method (:func:`locate_from_one_view`), and the cameras of a frame about it
  (:func:`frame_cameras`);
* :mod:`.mask_shape` — one view's full-frame mask shape (moments, box, border, core);
* :mod:`.locator` — the one-view locator learned from a dataset: one view's mask shape → the
  all-view centre, per calibration camera (:class:`OneViewLocator`);
* :mod:`.crops` — the crop of a view about a 3D sphere and its one-resampling image;
* :mod:`.normalize` — the per-frame similarity (centre → origin, mean camera distance);
* :mod:`.training` — how a prepared dataset framed the mouse (:class:`TrainingFraming`), read
  back by inference.

Units: world millimetres, OpenCV pixels (pixel centres at integers), masks uint8 ``(H, W)``.
"""

from ...lazy import lazy_exports

_EXPORTS = {
    "CropError": ".crops",
    "CropGeometry": ".crops",
    "FrameCameras": ".locate",
    "FrameLocation": ".locate",
    "LocateError": ".locate",
    "MaskShape": ".mask_shape",
    "MaskStats": ".triangulate",
    "OneViewLocation": ".locate",
    "OneViewLocator": ".locator",
    "TrainingFraming": ".training",
    "Triangulation": ".triangulate",
    "carve": ".hull",
    "crop_geometry": ".crops",
    "frame_cameras": ".locate",
    "frame_similarity": ".normalize",
    "hull_centroid": ".hull",
    "locate_frame": ".locate",
    "locate_from_one_view": ".locate",
    "mask_stats": ".triangulate",
    "resample_view": ".crops",
    "tangent_cone_half_size": ".crops",
    "triangulate_robust": ".triangulate",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "CropError",
    "CropGeometry",
    "FrameCameras",
    "FrameLocation",
    "LocateError",
    "MaskShape",
    "MaskStats",
    "OneViewLocation",
    "OneViewLocator",
    "TrainingFraming",
    "Triangulation",
    "carve",
    "crop_geometry",
    "frame_cameras",
    "frame_similarity",
    "hull_centroid",
    "locate_frame",
    "locate_from_one_view",
    "mask_stats",
    "resample_view",
    "tangent_cone_half_size",
    "triangulate_robust",
]
