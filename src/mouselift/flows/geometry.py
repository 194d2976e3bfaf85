"""``mouselift geometry``: geometry targets for every sample of a prepared dataset (no ground truth
needed: the rig's masks and views hold the 3D).

Sources (``source``):

* ``hull`` (default): the visual hull of the sample's rig masks, z-buffered into each view
  (:func:`mouselift.data.geometry.hull_targets`; prepare's carving rules);
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
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

from ..config import load_config
from ..data.geometry import has_geometry, hull_targets, read_geometry_info, write_geometry
from ..data.geometry.targets import DEFAULT_VOXEL_PX, DEFAULT_VOXELS_ACROSS
from ..data.layout import SAMPLE_RE
from ..data.prepare.split import parse_shard
from ..data.sample import SampleError, has_eval_views, load_sample_record, load_sample_views
from ..errors import ConfigError, DatasetError
from ..fit.config import FitConfig
from ..images import MOUSE_ALPHA_THRESHOLD
from ..splat.render import render
from ..threads import set_threads, threads_per_process

__all__ = ["GeometryResult", "GeometrySource", "dataset_samples", "geometry_dataset",
           "sample_geometry"]

GeometrySource = Literal["hull", "fit"]
SOURCES: tuple[str, ...] = ("hull", "fit")


@dataclass
class GeometryResult:
    """What :func:`geometry_dataset` did: samples ``written``, ``already_done`` (same source and
    settings), ``failed`` (sample → one-line reason), in ``seconds``."""

    dataset: Path
    source: str
    samples: int
    written: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def format(self) -> str:
        lines = [f"geometry ({self.source}) → {self.dataset}: {len(self.written)} written, "
                 f"{len(self.already_done)} already done, {len(self.failed)} failed of "
                 f"{self.samples} samples in {self.seconds:.1f} s"]
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

    result = optimize(views, config, device=torch.device("cpu"), progress=False)
    depths: dict[str, np.ndarray] = {}
    held: dict[str, np.ndarray] = {}
    coverage: dict[str, float] = {}
    with torch.no_grad():
        for group, out, prefix in ((views, depths, ""), (held_out, held, "eval/")):
            if group is None:
                continue
            rendered = render(result.gaussians, group.cameras, torch.ones(3))
            for k, name in enumerate(group.view_names):
                mask = group.rgba[k, ..., 3].numpy() > MOUSE_ALPHA_THRESHOLD
                seen = rendered.alpha[k, ..., 0].numpy() > MOUSE_ALPHA_THRESHOLD
                depth = np.where(mask & seen, rendered.depth[k, ..., 0].numpy(), 0.0)
                out[name] = depth.astype(np.float32)
                coverage[prefix + name] = round(float((depth > 0).sum() / max(1, mask.sum())), 4)
    return depths, held, {"source": "fit", "num_gaussians": len(result.gaussians),
                          "coverage": coverage}


def sample_geometry(sample_dir: str | os.PathLike, source: GeometrySource = "hull", *,
                    voxel_px: float = DEFAULT_VOXEL_PX, fit: FitConfig | None = None
                    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Depth maps of one sample's rig and held-out views: ``(rig depths by view name, held-out
    depths by view name, info for geometry.json)`` (module docstring)."""
    sample_dir = Path(sample_dir)
    views = load_sample_views(sample_dir)
    held_out = load_sample_views(sample_dir / "eval") if has_eval_views(sample_dir) else None
    if source == "hull":
        try:
            record = load_sample_record(sample_dir)
        except SampleError:
            record = None
        try:
            targets = hull_targets(views, record=record, held_out=held_out, voxel_px=voxel_px)
        except ValueError as exc:
            raise SampleError(f"{sample_dir}: {exc}") from None
        return targets.depths, targets.held_out, targets.describe()
    if source == "fit":
        return _fit_depths(views, held_out, fit or FitConfig())
    raise ConfigError(f"--from {source!r}: use one of {', '.join(SOURCES)}")


def _one(sample_dir: str, source: str, voxel_px: float, fit: FitConfig | None,
         overwrite: bool) -> tuple[str, str, str | None]:
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
                                             voxel_px=voxel_px, fit=fit)
        write_geometry(sample_dir, depths, held, {**info, "settings": settings}, replace=True)
    except SampleError as exc:
        return name, "failed", str(exc)
    return name, "written", None


def _init_worker(threads: int) -> None:
    set_threads(threads)


def geometry_dataset(dataset: str | os.PathLike, *, source: GeometrySource = "hull",
                     shard: tuple[int, int] | str = (0, 1), workers: int = 1,
                     voxel_px: float = DEFAULT_VOXEL_PX, fit: str | FitConfig = "tiny",
                     overwrite: bool = False, progress: bool = True) -> GeometryResult:
    """Geometry targets for the samples of ``dataset`` in ``shard`` (module docstring).
    ``fit``: the fit preset (or config) of ``source="fit"``."""
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
    jobs = [(str(root / name), source, voxel_px, fit_config, overwrite) for name in names]
    bar = tqdm(total=len(jobs), disable=not progress, desc=f"geometry ({source})",
               unit="sample")
    try:
        if workers == 1 or len(jobs) < 2:
            outcomes = (_one(*job) for job in jobs)
            for outcome in outcomes:
                _record(result, outcome)
                bar.update(1)
        else:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            threads = threads_per_process(processes=workers)
            with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                     initializer=_init_worker, initargs=(threads,)) as pool:
                for future in as_completed([pool.submit(_one, *job) for job in jobs]):
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
