"""``mouselift prepare``: a multi-camera recording → a training dataset in FaceLift's layout.

Output folder ``OUT``::

    OUT/sample_{frame:06d}/images/cam_000.png …   RGBA crops (alpha = mask), size × size
    OUT/sample_{frame:06d}/opencv_cameras.json    FaceLift cameras ("id" = folder name)
    OUT/sample_{frame:06d}/sample.json            this sample's manifest record
    OUT/train.txt, OUT/val.txt                    sample folders, relative to OUT, one per line
    OUT/manifest.jsonl                            all sample records, sorted by frame
    OUT/skipped/frame_{frame:06d}.json            frames where the mouse could not be located
    OUT/prepare_config.yaml, OUT/summary.json     config used; dataset-wide summary

See :mod:`.runner` for the order of work and :mod:`.split` for the split; the geometry (locating
the mouse, cropping and normalising each frame) is :mod:`mouselift.data.framing`, shared with
``infer``.
"""

from ...lazy import lazy_exports

_EXPORTS = {
    "PrepareConfig": ".config",
    "PrepareSummary": ".runner",
    "SplitPlan": ".split",
    "parse_frames": ".config",
    "parse_shard": ".split",
    "plan_split": ".split",
    "prepare_dataset": ".runner",
    "select_frames": ".split",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "PrepareConfig",
    "PrepareSummary",
    "SplitPlan",
    "parse_frames",
    "parse_shard",
    "plan_split",
    "prepare_dataset",
    "select_frames",
]
