"""Ground truth of a synthetic recording: ``ground_truth.npz`` plus ``ground_truth.json``.

Arrays (world = the rig's: mm, Z up, floor z = 0; F frames, P points, C rig cameras):

* ``frame_indices`` (F,) int64 — video frame index of each row (0, 1, …).
* ``centers`` (F, 3) float64, mm — body centre: the volume-weighted mean of the centres of the
  mouse's ellipsoids (the centroid of their volumes summed), see :meth:`Parts.center`.
* ``headings`` (F,) float64, rad — yaw of the body axis in the XY plane, ``atan2(y, x)`` of the
  direction from tail base to nose, 0 = +x, counter-clockwise seen from above, in [−π, π).
* ``bends`` (F,) float64, rad — nose heading minus tail-base heading (positive = bent left).
* ``positions`` (F, 2) float64, mm — body-frame origin on the floor (the walk's position).
* ``surface_points`` (F, P, 3) float32, mm — points on the outer surface of the mouse.
* ``clipped`` (F, C) bool — the mouse is not wholly inside rig camera c's image.
* ``eval_clipped`` (F, E) bool — the same for the held-out cameras (E may be 0).

The npz is written with fixed zip timestamps, so the same seed gives a byte-identical file.

A prepared dataset finds the ground truth of the recording it was prepared from with
:func:`find_ground_truth` (``mouselift eval``'s 3D metrics).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic import atomic_write_path, atomic_write_text
from ...errors import DatasetError, RecordingError
from ..layout import SUMMARY_FILE, recorded_source

NPZ_NAME = "ground_truth.npz"
JSON_NAME = "ground_truth.json"
FORMAT = "mouselift-synth-ground-truth"
VERSION = 1
#: A sample's centre and the ground truth's centre of its frame must agree this well (mm), or
#: the ground truth is not of the recording the dataset was prepared from.
GT_CENTRE_TOLERANCE_MM = 20.0

ARRAY_DOCS: dict[str, str] = {
    "frame_indices": "video frame index of each row",
    "centers": "body centre (volume-weighted mean of the ellipsoid centres), mm",
    "headings": "yaw of the tail-base-to-nose direction in XY, rad, 0 = +x, CCW from above",
    "bends": "nose heading minus tail-base heading, rad, positive = bent to the left",
    "positions": "body-frame origin on the floor (x, y), mm",
    "surface_points": "points on the outer surface of the mouse, world mm",
    "clipped": "per rig camera: the mouse is not wholly inside the image",
    "eval_clipped": "per held-out camera: the mouse is not wholly inside the image",
}
_DTYPES = {
    "frame_indices": np.int64,
    "centers": np.float64,
    "headings": np.float64,
    "bends": np.float64,
    "positions": np.float64,
    "surface_points": np.float32,
    "clipped": np.bool_,
    "eval_clipped": np.bool_,
}


@dataclass(frozen=True)
class GroundTruth:
    """Ground truth of one synthetic recording (see the module docstring for shapes and units);
    ``info`` is the parsed ``ground_truth.json`` (conventions, config, seed, cameras)."""

    frame_indices: np.ndarray
    centers: np.ndarray
    headings: np.ndarray
    bends: np.ndarray
    positions: np.ndarray
    surface_points: np.ndarray
    clipped: np.ndarray
    eval_clipped: np.ndarray
    info: dict[str, Any]

    @property
    def num_frames(self) -> int:
        return len(self.frame_indices)

    def row_of(self, frame: int) -> int:
        """The row of video frame ``frame`` (a prepared sample's ``frame``); a one-line
        :class:`RecordingError` when the ground truth has no such frame."""
        rows = np.flatnonzero(self.frame_indices == int(frame))
        if len(rows) == 0:
            held = (f"frames {int(self.frame_indices.min())}–{int(self.frame_indices.max())}"
                    if len(self.frame_indices) else "no frames")
            raise RecordingError(f"the ground truth has no frame {frame} ({held})")
        return int(rows[0])

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAY_DOCS}


def write_npz_deterministic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` with fixed member timestamps (byte-identical for
    identical arrays), to a temporary name renamed into place."""

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                zf.writestr(info, buffer.getvalue())

    atomic_write_path(path, write)


def write_ground_truth(directory: str | os.PathLike, truth: GroundTruth) -> None:
    """Write ``ground_truth.npz`` and ``ground_truth.json`` (``truth.info`` plus array docs)."""
    directory = Path(directory)
    arrays = {name: np.asarray(a, dtype=_DTYPES[name]) for name, a in truth.arrays().items()}
    write_npz_deterministic(directory / NPZ_NAME, arrays)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "arrays_file": NPZ_NAME,
        "arrays": {
            name: {"shape": list(a.shape), "dtype": str(a.dtype), "description": ARRAY_DOCS[name]}
            for name, a in arrays.items()
        },
        **truth.info,
    }
    atomic_write_text(directory / JSON_NAME, json.dumps(doc, indent=2, sort_keys=False) + "\n")


def load_ground_truth(recording_dir: str | os.PathLike) -> GroundTruth:
    """Read the ground truth of a synthetic recording directory."""
    root = Path(recording_dir)
    npz_path, json_path = root / NPZ_NAME, root / JSON_NAME
    for p in (npz_path, json_path):
        if not p.is_file():
            raise RecordingError(
                f"{p}: ground-truth file not found (is this a synthetic recording?)"
            )
    try:
        info = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordingError(f"{json_path}: unreadable ground-truth description ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise RecordingError(f"{json_path}: not a mouselift synthetic ground-truth description")
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name], dtype=dtype) for name, dtype in _DTYPES.items()}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise RecordingError(f"{npz_path}: unreadable ground truth ({exc})") from None
    frames = len(arrays["frame_indices"])
    for name, array in arrays.items():
        if len(array) != frames:
            raise RecordingError(f"{npz_path}: {name!r} has {len(array)} rows, expected {frames}")
    return GroundTruth(**arrays, info=info)


# ------------------------------------------------------------------ a prepared dataset's truth
@dataclass(frozen=True)
class DatasetGroundTruth:
    """The ground truth of a dataset's source recording (``truth`` None when there is none,
    with ``reason``); ``info`` goes into ``eval.json``."""

    truth: GroundTruth | None
    info: dict[str, Any]

    def surface_points(self, frame: int) -> np.ndarray | None:
        """Ground-truth surface points (P, 3) in world mm of source frame ``frame``."""
        if self.truth is None:
            return None
        return self.truth.surface_points[self.truth.row_of(frame)].astype(np.float64)

    def check_centre(self, frame: int, centre_mm: Sequence[float], where: object) -> float | None:
        """Distance (mm) between a sample's centre and the true centre of its frame; a one-line
        :class:`DatasetError` beyond :data:`GT_CENTRE_TOLERANCE_MM`."""
        if self.truth is None:
            return None
        true = self.truth.centers[self.truth.row_of(frame)]
        offset = float(np.linalg.norm(np.asarray(centre_mm, dtype=np.float64) - true))
        if offset > GT_CENTRE_TOLERANCE_MM:
            raise DatasetError(
                f"{where}: its centre is {offset:.0f} mm from the ground truth's body centre of "
                f"frame {frame} in {self.info.get('recording')}: that is not the recording this "
                "dataset was prepared from")
        return offset


def _has_ground_truth(folder: Path) -> bool:
    return (folder / NPZ_NAME).is_file() and (folder / JSON_NAME).is_file()


def find_ground_truth(dataset_dir: str | os.PathLike,
                      recording: str | os.PathLike | None = None) -> DatasetGroundTruth:
    """The ground truth of the dataset's source recording: ``recording`` when given (its
    ``ground_truth.npz`` / ``.json``; a one-line ``RecordingError`` when it has none), else the
    recording ``summary.json`` names (:func:`recorded_source`), if it is there and synthetic.
    Without it the 3D metrics are omitted, with the reason in ``info``."""
    if recording is not None:
        truth = load_ground_truth(recording)
        return DatasetGroundTruth(truth, {"available": True, "recording": str(recording),
                                          "source": "--recording"})
    candidates = recorded_source(dataset_dir)
    for folder in candidates:
        if _has_ground_truth(folder):
            return DatasetGroundTruth(load_ground_truth(folder), {
                "available": True, "recording": str(folder), "source": SUMMARY_FILE})
    if not candidates:
        reason = f"{SUMMARY_FILE} names no source recording; give --recording"
    elif any(c.is_dir() for c in candidates):
        folder = next(c for c in candidates if c.is_dir())
        reason = f"the source recording {folder} has no ground truth (not synthetic)"
    else:
        reason = (f"the source recording {candidates[0]} named in {SUMMARY_FILE} is not there; "
                  "give --recording")
    return DatasetGroundTruth(None, {"available": False, "reason": reason})
