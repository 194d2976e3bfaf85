"""Rebuild the dataset-wide files from what is on disk.

Every completed sample folder carries its own record (``sample.json``) and every unusable frame a
``skipped/frame_XXXXXX.json``, so the global files can be rebuilt at any time, by any shard:

* ``manifest.jsonl`` — one record per sample, sorted by source frame;
* ``train.txt`` / ``val.txt`` — one sample folder per line, written **relative to the folder of
  the list file** (i.e. just ``sample_000123``), so the dataset can be moved or mounted elsewhere;
* ``summary.json`` — counts over the whole dataset (see :class:`DatasetStats`).

Each file is replaced atomically; an advisory lock serialises concurrent shards.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import atomic_write_text
from ..layout import (
    MANIFEST_FILE,
    RECORD_FILE,
    SAMPLE_RE,
    SKIPPED_DIR,
    TRAIN_LIST,
    TRAIN_SPLIT,
    VAL_LIST,
    VAL_SPLIT,
    read_split,
    sample_name,
)

LOCK_FILE = ".prepare.lock"


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``out_dir/.prepare.lock`` (best effort)."""
    with open(out_dir / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:  # file systems without flock: proceed unlocked
            pass
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)


def completed_frames(out_dir: Path) -> set[int]:
    """Source frames whose sample folder exists (complete by construction)."""
    if not out_dir.is_dir():
        return set()
    frames = set()
    for entry in os.scandir(out_dir):
        match = SAMPLE_RE.match(entry.name)
        if match and entry.is_dir():
            frames.add(int(match.group(1)))
    return frames


def skipped_records(out_dir: Path) -> dict[int, dict]:
    """``skipped/frame_XXXXXX.json`` records by frame."""
    folder = out_dir / SKIPPED_DIR
    out: dict[int, dict] = {}
    if folder.is_dir():
        for path in folder.glob("frame_*.json"):
            try:
                record = json.loads(path.read_text())
                out[int(record["frame"])] = record
            except (OSError, ValueError, KeyError):
                continue
    return out


def sample_records(out_dir: Path) -> list[dict]:
    """The ``sample.json`` of every completed sample, sorted by frame."""
    records = []
    for frame in sorted(completed_frames(out_dir)):
        path = out_dir / sample_name(frame) / RECORD_FILE
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return records


@dataclass
class DatasetStats:
    """Dataset-wide counts (all shards): samples per split, frames skipped by reason, views
    flagged, and mask coverage (fraction of the crop) over all written views."""

    samples: int = 0
    train: int = 0
    val: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    views: int = 0
    view_flags: dict[str, int] = field(default_factory=dict)
    coverage_mean: float | None = None
    coverage_min: float | None = None
    coverage_max: float | None = None
    reprojection_error_median_px: float | None = None


def rebuild(out_dir: Path, *, expected_frames: set[int], gap_frames: int,
            records: list[dict] | None = None) -> DatasetStats:
    """Rewrite manifest, lists and return dataset stats (caller writes ``summary.json``).

    ``expected_frames``: all selected non-gap frames of the whole run (every shard);
    ``gap_frames``: number of selected frames dropped as split gaps; ``records``: the samples'
    records when the caller has read them already (:func:`sample_records`).
    """
    records = sample_records(out_dir) if records is None else records
    skipped = skipped_records(out_dir)
    atomic_write_text(
        out_dir / MANIFEST_FILE, "".join(json.dumps(r) + "\n" for r in records)
    )
    for split, name in ((TRAIN_SPLIT, TRAIN_LIST), (VAL_SPLIT, VAL_LIST)):
        lines = [r["sample"] for r in records if r.get("split") == split]
        atomic_write_text(out_dir / name, "".join(f"{line}\n" for line in lines))
    stats = DatasetStats(samples=len(records))
    stats.train = sum(r.get("split") == "train" for r in records)
    stats.val = sum(r.get("split") == "val" for r in records)
    reasons = Counter(str(r.get("reason")) for f, r in skipped.items() if f in expected_frames)
    if gap_frames:
        reasons["split_gap"] = gap_frames
    stats.skipped = dict(sorted(reasons.items()))
    done = {int(r["frame"]) for r in records} | set(skipped)
    stats.pending = len(expected_frames - done)
    coverage, errors, flags = [], [], Counter()
    for record in records:
        for view in record.get("views", []):
            coverage.append(view.get("mask_coverage", 0.0))
            if view.get("reprojection_error_px") is not None and view.get("triangulation_inlier"):
                errors.append(view["reprojection_error_px"])
            flags.update(view.get("flags", []))
    stats.views = len(coverage)
    stats.view_flags = dict(sorted(flags.items()))
    if coverage:
        stats.coverage_mean = round(float(np.mean(coverage)), 4)
        stats.coverage_min = round(float(np.min(coverage)), 4)
        stats.coverage_max = round(float(np.max(coverage)), 4)
    if errors:
        stats.reprojection_error_median_px = round(float(np.median(errors)), 3)
    return stats


def stats_dict(stats: DatasetStats) -> dict[str, Any]:
    return asdict(stats)


__all__ = [
    "DatasetStats",
    "atomic_write_text",
    "completed_frames",
    "locked",
    "read_split",
    "rebuild",
    "sample_records",
    "skipped_records",
]
