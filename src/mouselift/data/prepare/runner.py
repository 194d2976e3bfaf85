"""``prepare_dataset``: recording → FaceLift-layout dataset, parallel, resumable, shardable.

Order of work: select frames and split them (deterministic, identical in every shard); take this
shard's contiguous part of the non-gap frames; drop frames already finished (a ``sample_*`` folder
or a ``skipped/`` record exists) and stale temporary folders of this shard's frames; split the
rest into ``workers`` contiguous chunks, each decoded sequentially (one seek) by its own process
(forked; a frame's views are rendered by ``threads`` threads, by default the available cores
divided by the processes; each library — torch, OpenCV, BLAS — runs one thread in a worker);
finally rebuild the manifest, list files and ``summary.json`` from everything on disk, so the last
shard to finish (or any re-run) leaves complete files.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue as queue_module
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tqdm import tqdm

from ...atomic import atomic_write_text
from ...errors import ConfigError, DatasetError, RecordingError
from ...threads import set_threads, threads_per_process
from ..framing.locator import LocatorError, locator_line
from ..framing.normalize import check_undistorted
from ..layout import CONFIG_FILE, SUMMARY_FILE
from ..recording import EVAL_DIR, FrameSet, Recording
from ..video import keyframe_indices
from .config import PrepareConfig, load_dataset_config
from .locator import fit_from_records
from .manifest import (
    DatasetStats,
    completed_frames,
    locked,
    rebuild,
    sample_records,
    skipped_records,
)
from .samples import TEMP_RE, FrameOutcome, HeldOutViews, process_frame
from .split import GAP, SplitPlan, chunks, parse_shard, plan_split, shard_frames


@dataclass
class PrepareSummary:
    """Outcome of one :func:`prepare_dataset` call.

    This run: ``shard``, frames of this shard (``shard_frames``), ``already_done`` (finished before
    this run), ``written``, ``skipped_now`` (by reason), ``seconds``. Whole dataset (all shards,
    as on disk afterwards): ``selected`` frames, ``dataset`` (:class:`DatasetStats`).
    """

    out_dir: str
    recording: str
    shard: tuple[int, int]
    selected: int
    shard_frames: int
    already_done: int
    written: int
    skipped_now: dict[str, int]
    seconds: float
    dataset: DatasetStats = field(default_factory=DatasetStats)
    locator: str | None = None

    @property
    def frames_per_second(self) -> float:
        processed = self.written + sum(self.skipped_now.values())
        return processed / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["shard"] = f"{self.shard[0]}/{self.shard[1]}"
        out["frames_per_second"] = round(self.frames_per_second, 3)
        out["seconds"] = round(self.seconds, 3)
        return out

    def format(self) -> str:
        """A few human-readable lines."""
        d = self.dataset
        skipped_now = ", ".join(f"{k} {v}" for k, v in self.skipped_now.items()) or "none"
        skipped = ", ".join(f"{k} {v}" for k, v in d.skipped.items()) or "none"
        lines = [
            f"prepare {self.recording} → {self.out_dir} (shard {self.shard[0]}/{self.shard[1]})",
            f"  this run: {self.written} samples written, {sum(self.skipped_now.values())} frames "
            f"skipped ({skipped_now}), {self.already_done} already done, "
            f"{self.seconds:.1f} s ({self.frames_per_second:.2f} frames/s)",
            f"  dataset: {d.samples} samples ({d.train} train, {d.val} val) of {self.selected} "
            f"selected frames; skipped: {skipped}",
        ]
        if d.views:
            lines.append(
                f"  views: {d.views}, clipped {d.view_flags.get('clipped', 0)}, mask touches crop "
                f"border {d.view_flags.get('touches_border', 0)}, triangulation outliers "
                f"{d.view_flags.get('triangulation_outlier', 0)}, mask coverage mean "
                f"{d.coverage_mean:.3f} (min {d.coverage_min:.3f}, max {d.coverage_max:.3f})"
            )
        if self.locator:
            lines.append(f"  locator: {self.locator}")
        if d.pending:
            lines.append(
                f"  {d.pending} frames not done yet (other shards running?): lists are partial; "
                "re-run to complete them"
            )
        return "\n".join(lines)


# ----------------------------------------------------------------------------------- workers
_progress_queue: Any = None
_stop_event: Any = None


def _init_worker(progress_queue: Any, stop_event: Any) -> None:
    """A worker process: its views' threads are its parallelism, every library runs one."""
    global _progress_queue, _stop_event
    _progress_queue, _stop_event = progress_queue, stop_event
    set_threads(1)


def _framesets(
    recording: Recording, held_out: Recording | None, frames: list[int]
) -> Iterator[tuple[FrameSet, HeldOutViews | None]]:
    """Decode ``frames`` of the rig and, in lockstep, of the held-out cameras."""
    rig = recording.frames(wanted=frames, images=True)
    if held_out is None:
        for frameset in rig:
            yield frameset, None
        return
    for frameset, extra in zip(rig, held_out.frames(wanted=frames, images=True), strict=True):
        if extra.index != frameset.index:
            raise RecordingError(
                f"{held_out.root}: held-out videos out of step with the rig "
                f"(frame {extra.index} vs {frameset.index})"
            )
        yield frameset, HeldOutViews(extra.images, extra.masks, held_out.cameras)


def _run_chunk(
    recording: Recording,
    held_out: Recording | None,
    out_dir: str,
    config: PrepareConfig,
    frames: list[int],
    labels: dict[int, str],
    report: Callable[[FrameOutcome], None] | None = None,
) -> list[FrameOutcome]:
    """Decode ``frames`` (sorted) sequentially and write their samples."""
    outcomes = []
    for frameset, extra in _framesets(recording, held_out, frames):
        if _stop_event is not None and _stop_event.is_set():  # another worker failed
            break
        outcome = process_frame(
            frameset.index,
            frameset.images,
            frameset.masks,
            recording.cameras,
            config,
            labels[frameset.index],
            out_dir,
            extra,
        )
        outcomes.append(outcome)
        if report is not None:
            report(outcome)
        elif _progress_queue is not None:
            _progress_queue.put(1)
    return outcomes


# ----------------------------------------------------------------------------------- helpers
def _open_held_out(recording: Recording, config: PrepareConfig) -> Recording | None:
    """The held-out cameras in ``RECORDING/eval/`` (same layout), if wanted and present."""
    root = recording.root / EVAL_DIR
    if not config.eval_views or not root.is_dir():
        return None
    held_out = Recording.open(root)
    check_undistorted(held_out.cameras, held_out.root)
    if held_out.num_frames != recording.num_frames:
        raise RecordingError(
            f"{root}: held-out cameras have {held_out.num_frames} frames, the rig "
            f"{recording.num_frames}"
        )
    return held_out


def _check_config_file(out_dir: Path, config: PrepareConfig) -> None:
    """Write ``prepare_config.yaml`` or check that the one there matches ``config``."""
    path = out_dir / CONFIG_FILE
    if path.is_file():
        try:
            existing = load_dataset_config(out_dir)
        except DatasetError:
            raise ConfigError(
                f"{path}: cannot read the config of the existing dataset; use a new output folder"
            ) from None
        if existing.content_dict() != config.content_dict():
            diff = [
                f"{k}={v!r} (was {existing.content_dict()[k]!r})"
                for k, v in config.content_dict().items()
                if existing.content_dict()[k] != v
            ]
            raise ConfigError(
                f"{out_dir}: already holds a dataset prepared with a different config "
                f"({', '.join(diff)}); use a new output folder or the same options"
            )
    header = (
        "# Config used by `mouselift prepare` for this dataset (see mouselift/configs/prepare/).\n"
    )
    atomic_write_text(path, header + yaml.safe_dump(config.model_dump(), sort_keys=False))


def _remove_stale_temps(out_dir: Path, frames: set[int]) -> int:
    """Delete temporary sample folders of ``frames`` left by a killed run; return how many."""
    removed = 0
    for entry in os.scandir(out_dir):
        match = TEMP_RE.match(entry.name)
        if match and int(match.group(1)) in frames:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed += 1
    return removed


def _run_parallel(
    recording: Recording,
    held_out: Recording | None,
    out_dir: Path,
    config: PrepareConfig,
    parts: list[np.ndarray],
    labels: dict[int, str],
    bar: tqdm,
) -> list[FrameOutcome]:
    # "fork" starts workers instantly with everything imported (the parent holds no decoder or
    # lock a child could need); "spawn" where fork is unavailable.
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    progress_queue = ctx.Queue()
    stop_event = ctx.Event()
    outcomes: list[FrameOutcome] = []
    with ProcessPoolExecutor(
        max_workers=len(parts), mp_context=ctx, initializer=_init_worker,
        initargs=(progress_queue, stop_event),
    ) as pool:
        futures = [
            pool.submit(
                _run_chunk,
                recording,
                held_out,
                str(out_dir),
                config,
                [int(f) for f in part],
                {int(f): labels[int(f)] for f in part},
            )
            for part in parts
        ]
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
                _drain(progress_queue, bar)
                for future in done:
                    if future.exception() is not None:
                        raise future.exception()  # type: ignore[misc]
            _drain(progress_queue, bar)
        except BaseException:
            stop_event.set()  # the other workers stop after their current frame
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        for future in futures:
            outcomes.extend(future.result())
    return outcomes


def _drain(progress_queue: Any, bar: tqdm) -> None:
    while True:
        try:
            bar.update(progress_queue.get_nowait())
        except queue_module.Empty:
            return


# ----------------------------------------------------------------------------------- main
def prepare_dataset(
    recording_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    config: PrepareConfig | None = None,
    *,
    shard: tuple[int, int] | str = (0, 1),
    progress: bool = True,
) -> PrepareSummary:
    """Prepare the FaceLift-layout dataset of ``recording_dir`` in ``out_dir``.

    ``shard = (i, n)`` (or ``"i/n"``) processes the ``i``-th of ``n`` contiguous parts of the
    selected frames; all shards write into the same ``out_dir``. Finished samples are skipped, so
    a re-run resumes. Returns a :class:`PrepareSummary` (also written as ``summary.json``).
    Raises :class:`~mouselift.errors.MouseliftError` subclasses with one-line messages for bad
    input (missing recording, distorted cameras, bad frame range or shard, conflicting config).
    """
    started = time.perf_counter()
    config = config if config is not None else PrepareConfig()
    try:
        shard = parse_shard(shard)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    recording = Recording.open(recording_dir)
    check_undistorted(recording.cameras, recording.root)
    held_out = _open_held_out(recording, config)
    try:
        plan = plan_split(config, recording.num_frames)
    except ValueError as exc:
        raise ConfigError(f"{recording.root}: {exc}") from None
    out = _open_output(out_dir, config)

    to_do = plan.frames[plan.labels != GAP]
    mine = shard_frames(to_do, shard)
    mine_set = {int(f) for f in mine}
    _remove_stale_temps(out, mine_set)
    finished = completed_frames(out) | set(skipped_records(out))
    pending = np.array([f for f in mine if int(f) not in finished], dtype=np.int64)

    outcomes: list[FrameOutcome] = []
    bar = tqdm(total=len(pending), disable=not progress, unit="frame", dynamic_ncols=True,
               desc=f"prepare {shard[0]}/{shard[1]}" if shard[1] > 1 else "prepare")
    completed = False
    try:
        outcomes = _run_frames(recording, held_out, out, config, pending, plan.label_of(), bar)
        completed = True
    finally:
        bar.close()
        with locked(out):
            records = sample_records(out)  # read once: the manifest and the locator
            stats = rebuild(out, expected_frames={int(f) for f in to_do},
                            gap_frames=int(np.sum(plan.labels == GAP)), records=records)
            summary = PrepareSummary(
                out_dir=str(out),
                recording=str(recording.root),
                shard=shard,
                selected=len(plan.frames),
                shard_frames=len(mine),
                already_done=len(mine_set & finished),
                written=sum(o.status == "written" for o in outcomes),
                skipped_now=dict(
                    sorted(Counter(o.reason for o in outcomes if o.status == "skipped").items())
                ),
                seconds=time.perf_counter() - started,
                dataset=stats,
            )
            if completed:
                if config.locator and not stats.pending:
                    summary.locator = _fit_locator(out, recording, config, records)
                _write_summary(out, summary, plan)
    return summary


def _open_output(out_dir: str | os.PathLike, config: PrepareConfig) -> Path:
    """The dataset folder, created, its stored config checked against ``config``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: output path exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    _check_config_file(out, config)
    return out


def _run_frames(recording: Recording, held_out: Recording | None, out: Path,
                config: PrepareConfig, pending: np.ndarray, labels: dict[int, str],
                bar: tqdm) -> list[FrameOutcome]:
    """Process the ``pending`` frames, in one process or split among ``config.workers``; each
    process renders views with ``config.threads`` threads (default: its share of the cores)."""
    if not len(pending):
        return []
    keyframes = keyframe_indices(recording.video_path(0)) if config.workers > 1 else None
    parts = chunks(pending, config.workers, keyframes)
    config = config.model_copy(
        update={"threads": threads_per_process(config.threads, processes=len(parts))})
    if config.workers == 1 or len(parts) == 1:
        return _run_chunk(recording, held_out, str(out), config, [int(f) for f in pending],
                          labels, report=lambda _o: bar.update(1))
    return _run_parallel(recording, held_out, out, config, parts, labels, bar)


def _fit_locator(out: Path, recording: Recording, config: PrepareConfig,
                 records: list[dict[str, Any]]) -> str:
    """Fit ``out/locator.json`` from the records; one line saying what was fitted (or why
    not)."""
    try:
        fitted = fit_from_records(out, recording.cameras, records, config.mask_threshold,
                                  recording=str(recording.root))
    except (LocatorError, DatasetError) as exc:
        return f"not fitted ({exc})"
    return locator_line(fitted.locator)


def _write_summary(out: Path, summary: PrepareSummary, plan: SplitPlan) -> None:
    """``summary.json``: the run's summary plus how the frames were split."""
    doc = summary.to_json()
    doc["split"] = {
        "block_frames": plan.block_frames,
        "gap_frames": plan.gap_frames,
        "num_blocks": plan.num_blocks,
        "val_blocks": list(plan.val_blocks),
        "frame_range": [plan.start, plan.stop],
    }
    atomic_write_text(out / SUMMARY_FILE, json.dumps(doc, indent=1) + "\n")


__all__ = ["PrepareSummary", "prepare_dataset"]
