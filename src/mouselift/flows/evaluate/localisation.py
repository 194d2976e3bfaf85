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
    locator_line,
    score_one_view,
    summarize_scores,
)
from ...data.prepare.locator import record_observations, record_shapes
from ...data.sample import SampleError, load_sample_record
from ...errors import DatasetError


def score_localisation(dataset_dir: Path, names: Sequence[str]
                       ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """``(eval.json's localisation, per sample name its per-camera scores)``; without a locator
    or mask shapes ``{"available": False, "reason": …}`` and no scores."""
    try:
        locator = OneViewLocator.load(dataset_dir / LOCATOR_FILE)
    except LocatorError as exc:
        return {"available": False, "reason": f"{exc} (`mouselift locator DATASET` fits one)"}, {}
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
    return {"available": True, "locator": locator_line(locator),
            "centre_height_mm": locator.centre_height_mm,
            "per_camera": {str(k): v for k, v in
                           summarize_scores(scores, len(locator.calibration)).items()}}, per_sample


__all__ = ["score_localisation"]
