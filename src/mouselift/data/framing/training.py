"""How a prepared dataset framed the mouse: what inference needs to frame a new image the same way.

:class:`TrainingFraming` is read from a dataset folder (``prepare_config.yaml`` and
``manifest.jsonl``):

* ``config`` — the :class:`~mouselift.data.prepare.config.PrepareConfig` the dataset was
  prepared with (crop radius ``radius_mm``, ``target_distance``, ``mask_threshold``, the
  locating settings);
* ``centre_height_mm`` — the body centre's usual height above the floor: the **median** z of the
  samples' ``centre_mm`` (world mm, Z up). The median, not the mean: a few frames whose centre
  fell back to a poor triangulation (rearing, a bad mask) must not move it;
* ``coverage`` — per view name (``cam_000`` …), the median fraction of the crop the mask covers
  (the manifest's ``mask_coverage``): how large the mouse is in a training crop, used to size the
  2D crop of an image from an unknown camera;
* ``locator`` — the dataset's one-view locator (``locator.json``,
  :mod:`~mouselift.data.framing.locator`), ``None`` when it has none;
  ``locator_from`` says where a locator came from (the dataset, or the checkpoints' rig).

Without a dataset, :meth:`TrainingFraming.defaults` holds ``prepare``'s default config and no
height or coverage (one-view localisation is then unavailable).
"""

from __future__ import annotations

import json
import os
import warnings
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DatasetError
from ..layout import MANIFEST_FILE
from ..prepare.config import PrepareConfig, load_dataset_config
from .locator import LOCATOR_FILE, LocatorError, OneViewLocator, locator_line


@dataclass(frozen=True)
class TrainingFraming:
    """The framing of a prepared dataset (module docstring). ``source``: the dataset folder, or
    ``None`` for :meth:`defaults`; ``samples``: manifest records read."""

    config: PrepareConfig
    centre_height_mm: float | None = None
    coverage: dict[str, float] = field(default_factory=dict)
    source: Path | None = None
    samples: int = 0
    locator: OneViewLocator | None = None
    locator_from: str | None = None

    @classmethod
    def defaults(cls) -> TrainingFraming:
        return cls(PrepareConfig())

    @classmethod
    def from_dataset(cls, dataset_dir: str | os.PathLike) -> TrainingFraming:
        """Read ``prepare_config.yaml`` and ``manifest.jsonl`` of ``dataset_dir``; a missing or
        unreadable file is a one-line :class:`~mouselift.errors.DatasetError`."""
        root = Path(dataset_dir)
        config = load_dataset_config(root)
        manifest = root / MANIFEST_FILE
        if not manifest.is_file():
            raise DatasetError(f"{root}: no {manifest.name} (not a prepared dataset?)")
        heights: list[float] = []
        coverage: dict[str, list[float]] = defaultdict(list)
        count = 0
        for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record: dict[str, Any] = json.loads(line)
                heights.append(float(record["centre_mm"][2]))
                for view in record.get("views", []):
                    name = Path(str(view["file_path"])).stem
                    coverage[name].append(float(view["mask_coverage"]))
            except (ValueError, KeyError, TypeError, IndexError):
                raise DatasetError(f"{manifest}: line {number} is not a sample record") from None
            count += 1
        height = float(np.median(heights)) if heights else None
        locator = None
        if (root / LOCATOR_FILE).is_file():
            try:
                locator = OneViewLocator.load(root / LOCATOR_FILE)
            except LocatorError as exc:
                warnings.warn(f"{exc}: the plane method locates the mouse", stacklevel=2)
        return cls(config, height, {k: float(np.median(v)) for k, v in coverage.items()},
                   root, count, locator, str(root / LOCATOR_FILE) if locator else None)

    def with_locator(self, locator: OneViewLocator, source: str) -> TrainingFraming:
        """The same framing with ``locator`` (from ``source``); the plane method's height is
        the locator's when the framing has none."""
        height = (self.centre_height_mm if self.centre_height_mm is not None
                  else locator.centre_height_mm)
        return replace(self, centre_height_mm=height, locator=locator, locator_from=source)

    def describe(self) -> dict[str, Any]:
        """For ``report.json``."""
        return {
            "dataset": str(self.source) if self.source is not None else None,
            "samples": self.samples,
            "centre_height_mm": None if self.centre_height_mm is None
            else round(self.centre_height_mm, 3),
            "radius_mm": self.config.radius_mm,
            "target_distance": self.config.target_distance,
            "coverage": {k: round(v, 5) for k, v in sorted(self.coverage.items())},
            "locator": None if self.locator is None else {
                "from": self.locator_from, "summary": locator_line(self.locator)},
        }


__all__ = ["TrainingFraming"]
