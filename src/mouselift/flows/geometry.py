"""``mouselift geometry``: geometry targets for every sample of a prepared dataset (no ground truth
needed: the rig's masks and views hold the 3D).

Sources (``source``):

* ``hull`` (default): the visual hull z-buffered into each view, with prepare's carving rules:
  carved from the frame's **full** masks when the dataset's recording is at hand (its
  ``summary.json`` names it, or ``recording``) — exactly what ``prepare`` writes
  (:func:`mouselift.data.geometry.frame_hull_targets`) —, else from the sample's crops
  (:func:`mouselift.data.geometry.hull_targets`; looser where a crop runs past its source image);
* ``fit``: the per-scene fit of the sample's rig views (:func:`mouselift.fit.loop.optimize`, the
  ``fit`` preset named), its expected depth rendered at each view where its opacity is above
  0.5 and inside the mask — concavities a hull cannot see.

Both give every rig view and every held-out ``eval/`` view a depth map, written as
``SAMPLE/geometry/`` (:mod:`mouselift.data.geometry.io`: 16-bit PNGs, ``geometry.json``)
atomically per sample. Resumable: a sample whose targets came from the same source and settings
is skipped (``overwrite`` recomputes them). ``shard`` ``(i, n)``: the i-th of n contiguous blocks of
the dataset's samples (one cluster job each); ``workers`` processes share the cores.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from ..cameras import Camera, Similarity
from ..config import load_config
from ..config.base import read_yaml_mapping
from ..data.geometry import (
    HullTargets,
    ViewMasks,
    frame_hull_targets,
    frame_rules,
    has_geometry,
    hull_targets,
    read_geometry_info,
    view_depths,
    write_geometry,
)
from ..data.geometry.targets import DEFAULT_VOXEL_PX, DEFAULT_VOXELS_ACROSS
from ..data.layout import CONFIG_FILE, SAMPLE_RE, dataset_recording
from ..data.prepare.samples import FLAG_OUTLIER
from ..data.prepare.split import parse_shard
from ..data.sample import SampleError, has_eval_views, load_sample_record, load_sample_views
from ..errors import ConfigError, DatasetError
from ..fit.config import FitConfig
from ..images import MOUSE_ALPHA_THRESHOLD
from ..splat.render import render
from ..threads import set_threads, threads_per_process

__all__ = ["FullFrame", "GeometryResult", "GeometrySource",
           "dataset_samples", "geometry_dataset", "sample_geometry"]

GeometrySource = Literal["hull", "fit"]
SOURCES: tuple[str, ...] = ("hull", "fit")


@dataclass
class GeometryResult:
    """What :func:`geometry_dataset` did: samples ``written``, ``already_done`` (same source and
    settings), ``failed`` (sample → one-line reason), in ``seconds``."""

    dataset: Path
    source: str
    samples: int
    recording: Path | None = None
    written: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def format(self) -> str:
        lines = [f"geometry ({self.source}) → {self.dataset}: {len(self.written)} written, "
                 f"{len(self.already_done)} already done, {len(self.failed)} failed of "
                 f"{self.samples} samples in {self.seconds:.1f} s"]
        if self.source == "hull":
            lines.append(f"  carved from the full frames of {self.recording}" if self.recording
                         else "  carved from the crops (no recording at hand: --recording DIR "
                              "carves the full frames, as prepare does)")
        for name, reason in list(self.failed.items())[:5]:
            lines.append(f"  {name}: {reason}")
        if len(self.failed) > 5:
            lines.append(f"  … and {len(self.failed) - 5} more")
        return "\n".join(lines)


def dataset_samples(dataset: str | os.PathLike) -> list[str]:
    """The sample folders of a prepared dataset, sorted (one-line :class:`DatasetError` when
    there are none)."""
    root = Path(dataset)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    names = sorted(entry.name for entry in os.scandir(root)
                   if entry.is_dir() and SAMPLE_RE.match(entry.name))
    if not names:
        raise DatasetError(f"{root}: no sample_XXXXXX folders (a dataset written by "
                           "`mouselift prepare`?)")
    return names


def _settings(source: str, voxel_px: float, fit: FitConfig | None) -> dict[str, Any]:
    """What makes two runs' targets the same (saved in ``geometry.json``; ``prepare`` writes the
    same for its hull targets, so a run after it skips them)."""
    if source == "hull":
        return {"source": "hull", "voxel_px": voxel_px, "voxels_across": DEFAULT_VOXELS_ACROSS}
    assert fit is not None
    return {"source": "fit", "fit": fit.model_dump(mode="json")}


def _fit_depths(views, held_out, config: FitConfig
                ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    from ..fit.loop import optimize  # the fit only where asked for

    gaussians = optimize(views, config, device=torch.device("cpu"), progress=False).gaussians

    def fitted_depth(camera: Camera) -> np.ndarray:
        with torch.no_grad():
            out = render(gaussians, camera, torch.ones(3))
        seen = out.alpha[0, ..., 0].numpy() > MOUSE_ALPHA_THRESHOLD
        return np.where(seen, out.depth[0, ..., 0].numpy(), 0.0)

    depths, held, coverage = view_depths(
        ViewMasks.of(views), None if held_out is None else ViewMasks.of(held_out), fitted_depth)
    return depths, held, {"source": "fit", "num_gaussians": len(gaussians),
                          "coverage": {k: round(v, 4) for k, v in coverage.items()}}


@dataclass(frozen=True)
class FullFrame:
    """A sample's source frame: the recording's cameras (world mm) and that frame's masks
    (uint8, mouse where ``> threshold``)."""

    cameras: list[Camera]
    masks: list[np.ndarray]
    threshold: float


def sample_geometry(sample_dir: str | os.PathLike, source: GeometrySource = "hull", *,
                    voxel_px: float = DEFAULT_VOXEL_PX, fit: FitConfig | None = None,
                    frame: FullFrame | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Depth maps of one sample's rig and held-out views: ``(rig depths by view name, held-out
    depths by view name, info for geometry.json)`` (module docstring). ``frame``: its source
    frame (``hull`` then carves it, as prepare does)."""
    sample_dir = Path(sample_dir)
    views = load_sample_views(sample_dir)
    held_out = load_sample_views(sample_dir / "eval") if has_eval_views(sample_dir) else None
    if source == "hull":
        try:
            record = load_sample_record(sample_dir)
        except SampleError:
            record = None
        try:
            if frame is not None and record is not None:
                targets = _frame_targets(record, frame, views, held_out, voxel_px)
                return targets.depths, targets.held_out, {**targets.describe(),
                                                          "space": "frame (recording)"}
            targets = hull_targets(views, record=record, held_out=held_out, voxel_px=voxel_px)
        except ValueError as exc:
            raise SampleError(f"{sample_dir}: {exc}") from None
        return targets.depths, targets.held_out, {**targets.describe(), "space": "crops"}
    if source == "fit":
        return _fit_depths(views, held_out, fit or FitConfig())
    raise ConfigError(f"--from {source!r}: use one of {', '.join(SOURCES)}")


def _frame_targets(record: dict[str, Any], frame: FullFrame, views, held_out,
                   voxel_px: float) -> HullTargets:
    """Prepare's hull targets of a sample from its record (centre, similarity, which views
    carved the centre's hull and which were cut by their image border) and its frame."""
    by_camera = {v.get("camera"): v for v in record.get("views", [])}
    info = [by_camera.get(cam.name, {}) for cam in frame.cameras]
    carving, partial = frame_rules(
        [v.get("hull_view", False) for v in info], [v.get("valid_mask", False) for v in info],
        [FLAG_OUTLIER in v.get("flags", ()) for v in info],
        [v.get("clipped_in_source", False) for v in info])
    return frame_hull_targets(
        frame.cameras, frame.masks, centre=np.asarray(record["centre_mm"], dtype=np.float64),
        carving=carving, partial=partial,
        threshold=frame.threshold, similarity=Similarity.from_dict(record["similarity"]),
        views=ViewMasks.of(views), held_out=None if held_out is None else ViewMasks.of(held_out),
        voxel_px=voxel_px)


def _one(sample_dir: str, source: str, voxel_px: float, fit: FitConfig | None,
         overwrite: bool, frame: FullFrame | None = None) -> tuple[str, str, str | None]:
    """Worker: ``(sample, "written" | "done" | "failed", reason)``."""
    name = Path(sample_dir).name
    settings = _settings(source, voxel_px, fit)
    if has_geometry(sample_dir) and not overwrite:
        try:
            info = read_geometry_info(sample_dir)
        except SampleError:
            info = {}
        if info.get("settings") == settings:
            return name, "done", None
    try:
        depths, held, info = sample_geometry(sample_dir, source,  # type: ignore[arg-type]
                                             voxel_px=voxel_px, fit=fit, frame=frame)
        write_geometry(sample_dir, depths, held, {**info, "settings": settings}, replace=True)
    except SampleError as exc:
        return name, "failed", str(exc)
    return name, "written", None


def _init_worker(threads: int) -> None:
    set_threads(threads)


def _frames(recording: Path, dataset: Path, names: list[str]) -> Iterator[FullFrame | None]:
    """Each sample's source frame (None where its record names none), in ``names`` order."""
    from ..data.prepare.config import PrepareConfig
    from ..data.recording import Recording

    rec = Recording.open(recording)
    threshold = PrepareConfig().mask_threshold
    config_path = dataset / CONFIG_FILE
    if config_path.is_file():
        threshold = float(read_yaml_mapping(config_path).get("mask_threshold", threshold))
    index: dict[str, int] = {}
    for name in names:
        try:
            index[name] = int(load_sample_record(dataset / name)["frame"])
        except (SampleError, KeyError, TypeError, ValueError):
            continue
    # sample folders sort by frame: decode the wanted frames once, in order, as they are needed
    decoded = rec.frames(wanted=sorted(set(index.values())), images=False)
    current = None
    for name in names:
        wanted = index.get(name)
        while wanted is not None and (current is None or current.index < wanted):
            current = next(decoded, None)
            if current is None:
                break
        if wanted is None or current is None or current.index != wanted:
            yield None
        else:
            yield FullFrame(list(rec.cameras), current.masks, threshold)


def geometry_dataset(dataset: str | os.PathLike, *, source: GeometrySource = "hull",
                     shard: tuple[int, int] | str = (0, 1), workers: int = 1,
                     voxel_px: float = DEFAULT_VOXEL_PX, fit: str | FitConfig = "tiny",
                     recording: str | os.PathLike | Literal["auto"] | None = "auto",
                     overwrite: bool = False, progress: bool = True) -> GeometryResult:
    """Geometry targets for the samples of ``dataset`` in ``shard`` (module docstring).
    ``fit``: the fit preset (or config) of ``source="fit"``. ``recording`` (``hull``): the
    dataset's recording to carve full frames from; ``"auto"`` (default): the one its
    ``summary.json`` names when it is here; None: the crops only."""
    if source not in SOURCES:
        raise ConfigError(f"--from {source!r}: use one of {', '.join(SOURCES)}")
    if workers < 1:
        raise ConfigError(f"--workers must be ≥ 1, got {workers}")
    if not voxel_px > 0:
        raise ConfigError(f"--voxel-px must be positive, got {voxel_px}")
    try:
        index, count = parse_shard(shard)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    fit_config = None
    if source == "fit":
        fit_config = fit if isinstance(fit, FitConfig) else load_config(FitConfig, "fit", fit)
    root = Path(dataset)
    names = [str(n) for n in np.array_split(np.array(dataset_samples(root)), count)[index]]
    result = GeometryResult(root, source, len(names))
    started = time.perf_counter()
    if recording == "auto":
        recording = dataset_recording(root) if source == "hull" else None
    elif recording is not None and not Path(recording).is_dir():
        raise ConfigError(f"--recording {recording}: not a folder")
    result.recording = None if recording is None else Path(recording)
    frames: Iterator[FullFrame | None] = (
        _frames(Path(recording), root, names) if recording is not None and source == "hull"
        else iter([None] * len(names)))
    jobs = ((str(root / name), source, voxel_px, fit_config, overwrite, frame)
            for name, frame in zip(names, frames, strict=True))
    bar = tqdm(total=len(names), disable=not progress, desc=f"geometry ({source})",
               unit="sample")
    try:
        if workers == 1 or len(names) < 2:
            outcomes = (_one(*job) for job in jobs)
            for outcome in outcomes:
                _record(result, outcome)
                bar.update(1)
        else:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            threads = threads_per_process(processes=workers)
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                     initializer=_init_worker, initargs=(threads,)) as pool:
                pending: set = set()
                for job in jobs:  # at most 2 jobs a worker in flight: frames stay few in memory
                    pending.add(pool.submit(_one, *job))
                    if len(pending) >= 2 * workers:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in done:
                            _record(result, future.result())
                            bar.update(1)
                for future in as_completed(pending):
                    _record(result, future.result())
                    bar.update(1)
    finally:
        bar.close()
    result.written.sort()
    result.already_done.sort()
    result.seconds = time.perf_counter() - started
    return result


def _record(result: GeometryResult, outcome: tuple[str, str, str | None]) -> None:
    name, status, reason = outcome
    if status == "written":
        result.written.append(name)
    elif status == "done":
        result.already_done.append(name)
    else:
        result.failed[name] = reason or "failed"
