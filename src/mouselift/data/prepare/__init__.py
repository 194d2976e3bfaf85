"""``mouselift prepare``: a multi-camera recording → a training dataset in FaceLift's layout.

Output folder ``OUT``::

    OUT/sample_{frame:06d}/images/cam_000.png …   RGBA crops (alpha = mask), size × size
    OUT/sample_{frame:06d}/opencv_cameras.json    FaceLift cameras ("id" = folder name)
    OUT/sample_{frame:06d}/sample.json            this sample's manifest record
    OUT/train.txt, OUT/val.txt                    sample folders, relative to OUT, one per line
    OUT/manifest.jsonl                            all sample records, sorted by frame
    OUT/skipped/frame_{frame:06d}.json            frames where the mouse could not be located
    OUT/prepare_config.yaml, OUT/summary.json     config used; dataset-wide summary

See :mod:`.runner` for the order of work, :mod:`.locate` (shared with ``infer``),
:mod:`.triangulate`, :mod:`.crops`, :mod:`.normalize` and :mod:`.split` for the geometry and the
split, :mod:`.framing` for what inference reads back from a dataset.
"""

from ...lazy import lazy_exports

_EXPORTS = {
    "CropGeometry": ".crops",
    "MaskStats": ".triangulate",
    "PrepareConfig": ".config",
    "PrepareSummary": ".runner",
    "SplitPlan": ".split",
    "FrameLocation": ".locate",
    "TrainingFraming": ".framing",
    "Triangulation": ".triangulate",
    "crop_geometry": ".crops",
    "frame_cameras": ".locate",
    "locate_frame": ".locate",
    "locate_from_one_view": ".locate",
    "frame_similarity": ".normalize",
    "mask_stats": ".triangulate",
    "parse_frames": ".config",
    "parse_shard": ".split",
    "plan_split": ".split",
    "prepare_dataset": ".runner",
    "resample_view": ".crops",
    "select_frames": ".split",
    "tangent_cone_half_size": ".crops",
    "triangulate_robust": ".triangulate",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "CropGeometry",
    "FrameLocation",
    "MaskStats",
    "PrepareConfig",
    "PrepareSummary",
    "SplitPlan",
    "TrainingFraming",
    "Triangulation",
    "crop_geometry",
    "frame_cameras",
    "frame_similarity",
    "locate_frame",
    "locate_from_one_view",
    "mask_stats",
    "parse_frames",
    "parse_shard",
    "plan_split",
    "prepare_dataset",
    "resample_view",
    "select_frames",
    "tangent_cone_half_size",
    "triangulate_robust",
]
