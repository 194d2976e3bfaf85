"""A prepared dataset's one-view locator (:mod:`mouselift.data.framing.locator`): fitted from its
records, written as ``DATASET/locator.json``.

The records (``manifest.jsonl`` / each ``sample.json``) hold every view's full-frame
``mask_shape`` and the frame's all-view ``centre_mm``; the calibration is the recording's
(world mm). ``prepare`` fits the locator when the whole dataset is written;
``mouselift locator DATASET`` (:func:`fit_dataset_locator`) fits it for a dataset prepared before
the records had shapes — measuring them from the recording's masks and adding them to the
records — or refits it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ...atomic import atomic_write_text
from ...cameras import Camera
from ...errors import DatasetError
from ..framing.locator import (
    LOCATOR_FILE,
    MIN_REFERENCE_VIEWS,
    LocatorError,
    Observation,
    OneViewLocator,
    fit_locator,
    score_one_view,
    summarize_scores,
)
from ..framing.mask_shape import MaskShape, mask_shape
from ..layout import MANIFEST_FILE, RECORD_FILE, TRAIN_SPLIT, VAL_SPLIT, dataset_recording
from .manifest import sample_records

#: Key of a view's mask shape in a sample record.
SHAPE_KEY = "mask_shape"


def record_shapes(record: dict[str, Any]) -> list[MaskShape | None] | None:
    """Each view's shape of a sample record (``None`` for an empty mask), or ``None`` when the
    record has no shapes (prepared by an older mouselift)."""
    views = record.get("views") or []
    if not views or any(SHAPE_KEY not in view for view in views):
        return None
    try:
        return [None if view[SHAPE_KEY] is None else MaskShape.from_dict(view[SHAPE_KEY])
                for view in views]
    except ValueError as exc:
        raise DatasetError(f"sample {record.get('sample')}: bad {SHAPE_KEY} ({exc})") from None


def record_observations(record: dict[str, Any], shapes: Sequence[MaskShape | None]
                        ) -> list[Observation]:
    """One :class:`~mouselift.data.framing.locator.Observation` per view with a mask."""
    centre = np.asarray(record["centre_mm"], dtype=np.float64)
    whole = sum(1 for s in shapes if s is not None and not s.touches_border)
    return [Observation(k, int(record["frame"]), shape, centre, whole)
            for k, shape in enumerate(shapes) if shape is not None]


def dataset_observations(records: Iterable[dict[str, Any]]
                         ) -> tuple[list[Observation], list[Observation], int]:
    """``(train, val, records without shapes)`` observations of the records."""
    train: list[Observation] = []
    val: list[Observation] = []
    missing = 0
    for record in records:
        shapes = record_shapes(record)
        if shapes is None:
            missing += 1
            continue
        split = record.get("split")
        if split in (TRAIN_SPLIT, VAL_SPLIT):
            (train if split == TRAIN_SPLIT else val).extend(record_observations(record, shapes))
    return train, val, missing


@dataclass(frozen=True)
class LocatorFit:
    """A fitted ``locator`` and, per camera, both one-view methods on the val split
    (:func:`~mouselift.data.framing.locator.summarize_scores`)."""

    locator: OneViewLocator
    scores: dict[int, dict[str, dict[str, Any]]]


def fit_from_records(dataset_dir: str | os.PathLike, cameras: Sequence[Camera],
                     records: Sequence[dict[str, Any]], threshold: int, *,
                     recording: str | None = None) -> LocatorFit:
    """Fit the locator of ``cameras`` (the recording's calibration) on the records' train split,
    measure it on val, write ``DATASET/locator.json``."""
    dataset_dir = Path(dataset_dir)
    train, val, missing = dataset_observations(records)
    if missing:
        raise DatasetError(f"{dataset_dir}: {missing} samples have no mask shapes (prepared by "
                           "an older mouselift): run `mouselift locator DATASET` with the "
                           "recording at hand")
    frames = {o.frame for o in train}
    source = {"dataset": str(dataset_dir.resolve()), "recording": recording,
              "train_frames": len(frames), "val_frames": len({o.frame for o in val}),
              "min_reference_views": MIN_REFERENCE_VIEWS}
    locator = fit_locator(cameras, train, threshold=threshold, val=val, source=source)
    locator.save(dataset_dir / LOCATOR_FILE)
    return LocatorFit(locator, summarize_scores(score_one_view(locator, cameras, val),
                                                len(cameras)))


def fit_dataset_locator(dataset_dir: str | os.PathLike, recording: str | os.PathLike | None = None,
                        *, progress: bool = True) -> LocatorFit:
    """Fit (or refit) ``DATASET/locator.json`` (module docstring). The recording — ``recording``
    or the one ``summary.json`` names — gives the calibration, and the masks of samples whose
    records have no shapes (their ``sample.json`` and the manifest get them)."""
    from ..recording import Recording
    from .config import load_dataset_config
    from .manifest import locked

    dataset_dir = Path(dataset_dir)
    config = load_dataset_config(dataset_dir)
    rec = Recording.open(_recording_path(dataset_dir, recording))
    with locked(dataset_dir):
        records = sample_records(dataset_dir)
        if not records:
            raise DatasetError(f"{dataset_dir}: no samples")
        check_calibration(dataset_dir, records[0], rec.cameras)
        missing = [r for r in records if record_shapes(r) is None]
        if missing:
            _add_shapes(dataset_dir, rec, missing, config.mask_threshold, progress)
            atomic_write_text(dataset_dir / MANIFEST_FILE,
                              "".join(json.dumps(r) + "\n" for r in records))
        try:
            return fit_from_records(dataset_dir, rec.cameras, records, config.mask_threshold,
                                    recording=str(rec.root))
        except LocatorError as exc:
            raise DatasetError(f"{dataset_dir}: {exc}") from None


def check_calibration(dataset_dir: Path, record: dict[str, Any], cameras: Sequence[Camera]
                      ) -> None:
    """One-line :class:`DatasetError` unless ``cameras`` are those the record's views were cut
    from: the same names, and the frame's centre projecting to each view's ``centre_px``."""
    views = record.get("views") or []
    names = [str(v.get("camera")) for v in views]
    if names != [c.name for c in cameras]:
        raise DatasetError(f"{dataset_dir}: its views come from cameras {names}, the recording "
                           f"has {[c.name for c in cameras]} (another recording?)")
    centre = np.asarray(record["centre_mm"], dtype=np.float64)[None]
    for view, camera in zip(views, cameras, strict=True):
        miss = float(np.linalg.norm(camera.project(centre)[0] - np.asarray(view["centre_px"])))
        if miss > 0.5:
            raise DatasetError(f"{dataset_dir}: camera {camera.name} of the recording is not the "
                               f"one {record['sample']} was prepared with (the centre lands "
                               f"{miss:.1f} px from where prepare saw it; another calibration?)")


def _recording_path(dataset_dir: Path, recording: str | os.PathLike | None) -> Path:
    if recording is not None:
        return Path(recording)
    found = dataset_recording(dataset_dir)
    if found is None:
        raise DatasetError(f"{dataset_dir}: the recording it was prepared from is not here "
                           "(summary.json); give --recording DIR")
    return found


def _add_shapes(dataset_dir: Path, rec: Any, records: list[dict[str, Any]], threshold: int,
                progress: bool) -> None:
    """Measure the views' mask shapes from the recording and write them into the records
    (and each ``sample.json``, atomically)."""
    by_frame = {int(r["frame"]): r for r in records}
    for frameset in tqdm(rec.frames(wanted=sorted(by_frame), images=False), total=len(by_frame),
                         desc="mask shapes", unit="frame", disable=not progress):
        record = by_frame[frameset.index]
        views = record.get("views") or []
        if len(views) != len(frameset.masks):
            raise DatasetError(f"{dataset_dir / record['sample']}: {len(views)} views, the "
                               f"recording {len(frameset.masks)} cameras (another recording?)")
        for view, mask in zip(views, frameset.masks, strict=True):
            shape = mask_shape(mask, threshold)
            view[SHAPE_KEY] = shape.to_dict() if shape is not None else None
        atomic_write_text(dataset_dir / record["sample"] / RECORD_FILE,
                          json.dumps(record) + "\n")


__all__ = ["SHAPE_KEY", "LocatorFit", "check_calibration", "dataset_observations",
           "fit_dataset_locator", "fit_from_records", "record_observations", "record_shapes"]
