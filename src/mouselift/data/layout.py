"""The prepared dataset on disk: file names and the split lists (readers import only this).

::

    <dataset>/sample_XXXXXX/images/cam_000.png …      RGBA views (FaceLift's layout)
    <dataset>/sample_XXXXXX/opencv_cameras.json        cameras of the views (FaceLift's format)
    <dataset>/sample_XXXXXX/sample.json                the sample's record (manifest line)
    <dataset>/sample_XXXXXX/eval/…                     held-out cameras, same layout (optional)
    <dataset>/skipped/frame_XXXXXX.json                frames that gave no sample, and why
    <dataset>/train.txt, val.txt                       sample folders, one per line, relative
    <dataset>/manifest.jsonl, summary.json             all records; counts
    <dataset>/prepare_config.yaml                      the settings it was prepared with
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ..errors import ConfigError, DatasetError
from .recording import EVAL_DIR

CAMERAS_FILE = "opencv_cameras.json"
IMAGES_DIR = "images"
RECORD_FILE = "sample.json"
#: A sample's geometry targets (``mouselift geometry``): depth maps and how they were made.
GEOMETRY_DIR = "geometry"
GEOMETRY_FILE = "geometry.json"
SKIPPED_DIR = "skipped"
SAMPLE_PREFIX = "sample_"
SAMPLE_RE = re.compile(r"^sample_(\d{6,})$")
MANIFEST_FILE = "manifest.jsonl"
SUMMARY_FILE = "summary.json"
CONFIG_FILE = "prepare_config.yaml"
TRAIN_SPLIT = "train"
VAL_SPLIT = "val"
TRAIN_LIST = f"{TRAIN_SPLIT}.txt"
VAL_LIST = f"{VAL_SPLIT}.txt"


def sample_name(frame: int) -> str:
    """The folder name of the sample of source ``frame``."""
    return f"{SAMPLE_PREFIX}{frame:06d}"


def split_list(dataset_dir: str | os.PathLike, split: str) -> Path:
    """The list file of ``split`` (``<dataset>/<split>.txt``)."""
    return Path(dataset_dir) / f"{split}.txt"


def is_dataset(path: str | os.PathLike, split: str = TRAIN_SPLIT) -> bool:
    """Whether ``path`` is a prepared dataset folder with a ``split`` list."""
    return Path(path).is_dir() and split_list(path, split).is_file()


def read_split(dataset_dir: str | os.PathLike, split: str, *, missing_ok: bool = False
               ) -> list[str]:
    """Sample folder names listed in ``<dataset>/<split>.txt`` (``[]`` for a missing file when
    ``missing_ok``; otherwise a :class:`DatasetError`)."""
    path = split_list(dataset_dir, split)
    if not path.is_file():
        if missing_ok:
            return []
        raise DatasetError(f"{Path(dataset_dir)}: no {path.name} (not a prepared dataset?)")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def recorded_source(dataset_dir: str | os.PathLike) -> list[Path]:
    """Where the dataset's source recording may be, from ``summary.json``'s ``recording`` (as
    ``prepare`` was given it): the path itself, and — when relative — relative to the folder
    ``prepare`` ran in (found from the dataset's own recorded ``out_dir``) and to the dataset's
    parent folder. Empty when the summary has none."""
    dataset_dir = Path(dataset_dir)
    try:
        summary = json.loads((dataset_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
        recording, out_dir = Path(summary["recording"]), Path(summary.get("out_dir", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if recording.is_absolute():
        return [recording]
    candidates = [recording]
    resolved = dataset_dir.resolve()
    parts = out_dir.parts
    if parts and not out_dir.is_absolute() and ".." not in parts and \
            resolved.parts[-len(parts):] == parts:
        candidates.append(resolved.parents[len(parts) - 1] / recording)
    candidates.append(resolved.parent / recording)
    return list(dict.fromkeys(candidates))


def training_dataset(dataset: str | os.PathLike | None) -> Path:
    """A training stage's ``dataset`` setting as an absolute folder; a one-line
    :class:`~mouselift.errors.ConfigError` when none is given."""
    if dataset is None:
        raise ConfigError("no dataset: give --dataset (a prepared dataset folder)")
    return Path(dataset).absolute()


def dataset_recording(dataset_dir: str | os.PathLike) -> Path | None:
    """The recording the dataset was prepared from (:func:`recorded_source`), if it is here."""
    return next((c for c in recorded_source(dataset_dir) if c.is_dir()), None)


__all__ = [
    "CAMERAS_FILE",
    "CONFIG_FILE",
    "EVAL_DIR",
    "GEOMETRY_DIR",
    "GEOMETRY_FILE",
    "IMAGES_DIR",
    "MANIFEST_FILE",
    "RECORD_FILE",
    "SAMPLE_PREFIX",
    "SAMPLE_RE",
    "SKIPPED_DIR",
    "SUMMARY_FILE",
    "TRAIN_LIST",
    "TRAIN_SPLIT",
    "VAL_LIST",
    "VAL_SPLIT",
    "dataset_recording",
    "is_dataset",
    "read_split",
    "recorded_source",
    "sample_name",
    "split_list",
]
