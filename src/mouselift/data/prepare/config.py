"""Options of ``mouselift prepare`` (recording → FaceLift-layout training dataset).

One model, one preset file (``mouselift/configs/prepare/*.yaml``); every key below is read by the
pipeline.
Units: millimetres for 3D lengths, source pixels for 2D thresholds, frames for time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import ClassVar, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from ...config import upgrade_renamed_keys
from ...config.base import StrictModel
from ...errors import DatasetError

#: ``frames`` pattern: ``"a:b"`` with either side optional (Python slice, b exclusive).
FRAMES_PATTERN = re.compile(r"^\s*(\d*)\s*:\s*(\d*)\s*$")

#: Keys that may differ between runs writing into the same output folder (they do not change
#: what is written): everything else must match the ``prepare_config.yaml`` already there.
RUNTIME_KEYS = frozenset({"workers", "threads"})


class PrepareConfig(StrictModel):
    """Configuration of :func:`mouselift.data.prepare.prepare_dataset`.

    Geometry: the mouse centre is triangulated from the mask centroids; every view is cropped
    around the centre's projection so that a sphere of ``radius_mm`` about it just fits the crop,
    resampled to ``image_size``×``image_size``, and the world is moved (one similarity per frame)
    so the centre is the origin and the mean camera distance is ``target_distance``.
    """

    renamed_keys: ClassVar[dict[str, str]] = {"size": "image_size"}

    # --------------------------------------------------------------------- output images
    image_size: int = Field(512, ge=16, le=4096, description="output image side in pixels")
    radius_mm: float = Field(
        60.0, gt=0, le=10_000, description="radius of the 3D sphere about the mouse centre that "
        "each crop just contains (same physical scale in every view)"
    )
    target_distance: float = Field(
        2.7, gt=0, description="mean camera distance from the mouse after normalisation "
        "(FaceLift's camera radius)"
    )
    png_compress_level: int = Field(
        1, ge=0, le=9, description="zlib level of the written PNGs (1 = fast, 9 = smallest)"
    )
    # --------------------------------------------------------------------- triangulation
    mask_threshold: int = Field(
        127, ge=0, le=254, description="mask value above which a pixel is mouse (masks are soft)"
    )
    min_mask_fraction: float = Field(
        0.0005, ge=0, le=1, description="a view whose mask covers less than this fraction of the "
        "image is not used to locate the mouse"
    )
    inlier_px: float = Field(
        8.0, gt=0, description="reprojection error (source px) always accepted as an inlier"
    )
    inlier_relative: float = Field(
        0.25, ge=0, description="inlier threshold relative to the silhouette size "
        "(sqrt of the mask area, px): threshold = max(inlier_px, inlier_relative·sqrt(area)); "
        "mask centroids are not exact projections of a 3D point"
    )
    min_views: int = Field(
        2, ge=2, le=64, description="fewest consistent views to accept a frame's mouse centre"
    )
    centre_method: Literal["hull", "triangulation"] = Field(
        "hull", description="mouse centre: centroid of the masks' visual hull about the "
        "triangulated point (closer to the body centre), or the triangulated mask centroids"
    )
    hull_step_mm: float = Field(
        2.0, gt=0, le=50, description="voxel size of the visual hull (mm)"
    )
    eval_views: bool = Field(
        True, description="also crop the held-out cameras of RECORDING/eval/ when it exists "
        "(written to sample/eval/; never used to locate the mouse)"
    )
    geometry: bool = Field(
        True, description="write each sample's geometry targets (sample/geometry/: every view's "
        "depth of the mouse) from the visual hull of the frame's full masks, carved with the "
        "rules of the centre's hull (see `mouselift geometry`)"
    )
    geometry_voxel_px: float = Field(
        2.0, gt=0, le=64, description="voxel side of the geometry hull, in pixels of the crops at "
        "the mouse centre"
    )
    geometry_voxels_across: int = Field(
        96, ge=8, le=1024, description="at most this many voxels across the crop sphere's "
        "diameter (a floor on the voxel side: large crops stay fast)"
    )
    locator: bool = Field(
        True, description="fit the one-view locator (DATASET/locator.json: one calibrated view's "
        "mask → the all-view mouse centre, per camera) once the whole dataset is written (see "
        "`mouselift locator`)"
    )
    # --------------------------------------------------------------------- frame selection
    frames: str | None = Field(
        None, description='source frame range "a:b" (b exclusive, either side optional)'
    )
    every: int = Field(1, ge=1, description="take every n-th frame of the range")
    num_samples: int | None = Field(
        None, ge=1, description="take this many frames evenly spaced over the range "
        "(instead of every)"
    )
    # --------------------------------------------------------------------- train / val split
    val_fraction: float = Field(0.1, ge=0, lt=1, description="fraction of blocks held out as val")
    block_frames: int = Field(
        500, ge=1, description="length of the contiguous time blocks (source frames) assigned "
        "whole to train or val"
    )
    min_blocks: int = Field(
        10, ge=1, description="shorter recordings use shorter blocks so there are at least this "
        "many (gap_frames shrinks in proportion)"
    )
    gap_frames: int = Field(
        50, ge=0, description="train frames within this many frames of a val block are dropped"
    )
    # --------------------------------------------------------------------- execution
    workers: int = Field(2, ge=1, le=256, description="parallel processes (1 = in-process)")
    threads: int | None = Field(
        None, ge=1, le=64, description="threads per process rendering a frame's views (resampling "
        "and PNG compression run in parallel); null: the available cores divided by workers"
    )

    @field_validator("frames")
    @classmethod
    def _check_frames(cls, value: str | None) -> str | None:
        if value is None:
            return None
        match = FRAMES_PATTERN.match(value)
        if not match:
            raise ValueError(f'frames must look like "a:b" (e.g. "0:1000", "500:"), got {value!r}')
        a, b = match.groups()
        if a and b and int(b) <= int(a):
            raise ValueError(f"frames {value!r}: end must be greater than start")
        return value.strip().replace(" ", "")

    @model_validator(mode="after")
    def _check_selection(self) -> PrepareConfig:
        if self.num_samples is not None and self.every != 1:
            raise ValueError("choose either every or num_samples, not both")
        return self

    def content_dict(self) -> dict:
        """The keys that determine what is written (all but :data:`RUNTIME_KEYS`)."""
        return {k: v for k, v in self.model_dump().items() if k not in RUNTIME_KEYS}


def load_dataset_config(dataset_dir: str | os.PathLike) -> PrepareConfig:
    """The config a prepared dataset was written with (its ``prepare_config.yaml``); a missing
    or invalid file is a one-line :class:`~mouselift.errors.DatasetError`."""
    from ..layout import CONFIG_FILE

    path = Path(dataset_dir) / CONFIG_FILE
    if not path.is_file():
        raise DatasetError(f"{dataset_dir}: no {CONFIG_FILE} (not a prepared dataset?)")
    try:
        return PrepareConfig.model_validate(
            upgrade_renamed_keys(PrepareConfig, yaml.safe_load(path.read_text()) or {}))
    except Exception:
        raise DatasetError(f"{path}: not a valid prepare config") from None


def parse_frames(value: str | None, num_frames: int) -> tuple[int, int]:
    """``"a:b"`` → ``(a, b)`` clipped to ``[0, num_frames]``; ``None`` → the whole recording.

    Raises ``ValueError`` when the range selects no frame of the recording.
    """
    if value is None:
        return 0, num_frames
    match = FRAMES_PATTERN.match(value)
    if not match:
        raise ValueError(f'frames must look like "a:b", got {value!r}')
    a, b = match.groups()
    start = int(a) if a else 0
    stop = min(int(b), num_frames) if b else num_frames
    if start >= num_frames:
        raise ValueError(
            f"frames {value!r} starts at {start} but the recording has {num_frames} frames"
        )
    if stop <= start:
        raise ValueError(f"frames {value!r} selects no frame")
    return start, stop


__all__ = ["PrepareConfig", "load_dataset_config", "parse_frames"]
