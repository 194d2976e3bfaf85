"""``mouselift prepare``: a multi-camera recording → a training dataset in FaceLift's layout.

Output folder ``OUT``::

    OUT/sample_{frame:06d}/images/cam_000.png …   RGBA crops (alpha = mask), size × size
    OUT/sample_{frame:06d}/opencv_cameras.json    FaceLift cameras ("id" = folder name)
    OUT/sample_{frame:06d}/sample.json            this sample's manifest record
    OUT/train.txt, OUT/val.txt                    sample folders, relative to OUT, one per line
    OUT/manifest.jsonl                            all sample records, sorted by frame
    OUT/skipped/frame_{frame:06d}.json            frames where the mouse could not be located
    OUT/prepare_config.yaml, OUT/summary.json     config used; dataset-wide summary

See :mod:`.pipeline` for the order of work, :mod:`.triangulate`, :mod:`.crops`,
:mod:`.normalize` and :mod:`.split` for the geometry and the split.
"""

from .config import PrepareConfig, parse_frames
from .crops import CropGeometry, crop_geometry, resample_view, tangent_cone_half_size
from .normalize import frame_similarity
from .pipeline import PrepareSummary, prepare_dataset
from .split import SplitPlan, parse_shard, plan_split, select_frames
from .triangulate import MaskStats, Triangulation, mask_stats, triangulate_robust

__all__ = [
    "CropGeometry",
    "MaskStats",
    "PrepareConfig",
    "PrepareSummary",
    "SplitPlan",
    "Triangulation",
    "crop_geometry",
    "frame_similarity",
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
