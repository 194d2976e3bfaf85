"""``eval.json``'s ``localisation``: where one calibrated view puts the mouse, against the
all-view centre ``prepare`` cropped around, for every evaluated sample and camera.

Both one-view methods are scored from the samples' records (each view's full-frame
``mask_shape`` and the frame's ``centre_mm``) with the dataset's ``locator.json``
(:mod:`mouselift.data.framing.locator`), whose calibration the cameras are: the plane method
(the mask centroid's ray meets the plane at the training frames' median centre height) and the
locator. No model and no recording is needed. Per camera the means are split into frames with
the whole mouse in view and a well-constrained all-view centre (``whole``), frames whose mask
touches the image border (``border``) and frames whose all-view centre is itself uncertain
(``weak_reference``): :func:`~mouselift.data.framing.locator.summarize_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...data.framing.locator import (
    LOCATOR_FILE,
    LocatorError,
    OneViewLocator,
    carried_instead,
    locator_line,
    score_one_view,
    summarize_scores,
)
from ...data.prepare.locator import check_calibration, record_observations, record_shapes
from ...data.sample import SampleError, load_sample_record
from ...errors import DatasetError


def score_localisation(dataset_dir: Path, names: Sequence[str],
                       carried: dict[str, Any] | None = None
                       ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """``(eval.json's localisation, per sample name its per-camera scores)``; without a locator
    or mask shapes ``{"available": False, "reason": …}`` and no scores. ``carried``: the locator
    the evaluated checkpoints carry (``Rig.locator``), scored instead of the dataset's when that
    has no camera model (a recording too short to fit one) or there is none, and the dataset was
    cut from the cameras it was fitted for — as ``infer`` chooses (``locator_from`` says
    which)."""
    source = str(dataset_dir / LOCATOR_FILE)
    try:
        locator = OneViewLocator.load(dataset_dir / LOCATOR_FILE)
    except LocatorError as exc:
        locator, missing = None, f"{exc} (`mouselift locator DATASET` fits one)"
    theirs = carried_instead(locator, carried)
    if theirs is not None and _same_calibration(dataset_dir, names, theirs):
        locator, source = theirs, "the checkpoints' rig"
    if locator is None:
        return {"available": False, "reason": missing}, {}
    per_sample: dict[str, list[dict[str, Any]]] = {}
    scores = []
    for name in names:
        try:
            record = load_sample_record(dataset_dir / name)
            shapes = record_shapes(record)
        except (SampleError, DatasetError) as exc:
            return {"available": False, "reason": str(exc)}, {}
        if shapes is None:
            return {"available": False, "reason": f"{name}: the record has no mask shapes "
                                                  "(`mouselift locator DATASET` adds them)"}, {}
        mine = score_one_view(locator, locator.calibration, record_observations(record, shapes))
        per_sample[name] = [s.to_dict() for s in mine]
        scores.extend(mine)
    return {"available": True, "locator": locator_line(locator), "locator_from": source,
            "centre_height_mm": locator.centre_height_mm,
            "per_camera": {str(k): v for k, v in
                           summarize_scores(scores, len(locator.calibration)).items()}}, per_sample


def _same_calibration(dataset_dir: Path, names: Sequence[str], locator: OneViewLocator) -> bool:
    """Whether the dataset's frames were cut from the cameras ``locator`` was fitted for."""
    try:
        check_calibration(dataset_dir, load_sample_record(dataset_dir / names[0]),
                          locator.calibration)
    except (SampleError, DatasetError, KeyError, ValueError):
        return False
    return True


__all__ = ["score_localisation"]
