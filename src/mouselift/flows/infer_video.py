"""``mouselift infer --video``: every Nth frame of one camera of a recording → one set of
Gaussians per frame, and a sequence turntable.

Output folder ``OUT``::

    OUT/frames/frame_000120/gaussians.ply    the frame's Gaussians (FaceLift's units, Z up)
    OUT/frames/frame_000120/report.json      crop, cameras used, one-view centre, counts
    OUT/turntable.mp4                        one camera orbiting the sequence (a turn per
                                             ``orbit_frames`` frames), at fps / every
    OUT/report.json                          the run: checkpoints, rig, sampler, frames, timings

``OUT`` must be new, empty or an earlier ``infer --video`` run's (whose frames it continues);
another non-empty folder is refused unless ``overwrite``, which clears it first
(:func:`mouselift.atomic.check_result_folder`). ``mouselift view OUT/frames`` plays the
sequence (sub-folders holding ``gaussians.ply``, in natural order, with each frame's numbers).
A frame whose mouse cannot be framed (an empty or too small mask) gets a folder with only
``report.json`` (``"skipped"``: the reason).

**Frames**: ``frames`` (``"a:b"``, b exclusive) and ``every`` select the source frames. Work is
split in two deterministic levels, both contiguous blocks (so each worker decodes one stretch of
video with one seek): ``shard = (i, n)`` takes the i-th of n near-equal contiguous parts (one
cluster job each, as ``prepare --shard``); under ``accelerate launch`` each process takes its
part of its shard (:func:`partition`). **Resumable**: a frame's folder is built in a hidden
temporary folder and renamed into place when complete, so a folder with a final name is done;
a re-run skips done frames and removes temporary folders a killed run left of its own frames.
``max_frames`` stops after that many new frames (time-limited jobs). The process that finds every
selected frame done (the last shard; under accelerate the main process after all have finished)
writes the sequence turntable and ``OUT/report.json``.

**Batches**: ``batch`` frames go through Stage 1 together (one sampling call, ``B`` objects)
and Stage 2 together (one forward pass). The noise of a batch comes from ``seed + its first
frame index``, so a frame's views depend on the batch it was in (a resumed run may group frames
differently).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from .. import __version__
from ..atomic import (
    atomic_dir,
    atomic_write_json,
    check_result_folder,
    claim_result_folder,
)
from ..data.framing.training import TrainingFraming
from ..data.prepare.config import parse_frames
from ..data.prepare.split import parse_shard, shard_frames
from ..data.recording import CameraFrame, Recording
from ..devices import seconds_since
from ..errors import ConfigError, MouseliftError
from ..gslrm.inference import SplatFilters
from ..mvdiff.solvers import SamplingSettings
from ..splat import write_ply
from ..splat.outputs import PLY_NAME, REPORT_NAME, VIDEO_NAME
from ..splat.turntable import FACELIFT_RADIUS, write_sequence_turntable
from .infer import builtin_or_given, training_framing
from .lift import LiftModels
from .lift_input import LiftInput, frame_input

FRAMES_DIR = "frames"
#: The command named in ``OUT``'s result manifest.
VIDEO_COMMAND = "infer --video"


def frame_folder(frame: int) -> str:
    """The folder name of source frame ``frame`` under ``OUT/frames/``."""
    return f"frame_{frame:06d}"


def select_video_frames(num_frames: int, frames: str | None = None, every: int = 1
                        ) -> np.ndarray:
    """Source frames ``a, a+every, …`` of the range ``frames`` (``"a:b"``, b exclusive; the
    whole recording when ``None``), int64."""
    if every < 1:
        raise ConfigError(f"--every must be ≥ 1, got {every}")
    try:
        start, stop = parse_frames(frames, num_frames)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return np.arange(start, stop, every, dtype=np.int64)


def partition(frames: np.ndarray, shard: tuple[int, int] = (0, 1),
              process: tuple[int, int] = (0, 1)) -> np.ndarray:
    """The frames of shard ``shard = (i, n)`` and, within it, of process ``process = (j, m)``:
    the i-th of n contiguous near-equal parts, then its j-th of m. Over all (i, j) every frame is
    in exactly one part."""
    return shard_frames(shard_frames(np.asarray(frames), shard), process)


def process_slot(cpu: bool = False) -> tuple[int, int, Any]:
    """``(process index, number of processes, accelerate state or None)``: several only under
    ``accelerate launch`` / ``torchrun`` (``WORLD_SIZE`` > 1). ``cpu``: the processes run on
    the CPU (gloo), where accelerate would otherwise start them as independent copies."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, None
    from accelerate import PartialState

    state = PartialState(cpu=cpu or not torch.cuda.is_available())
    return state.process_index, state.num_processes, state


def done_frames(out_dir: Path) -> set[int]:
    """Source frames whose folder exists under ``OUT/frames/`` (complete by construction)."""
    folder = out_dir / FRAMES_DIR
    if not folder.is_dir():
        return set()
    done = set()
    for entry in os.scandir(folder):
        name = entry.name
        if name.startswith("frame_") and name[6:].isdigit() and entry.is_dir():
            done.add(int(name[6:]))
    return done


def remove_stale_temporaries(out_dir: Path, frames: set[int]) -> int:
    """Delete temporary folders a killed run left for ``frames`` (``.frame_XXXXXX.*.partial``,
    :func:`mouselift.atomic.atomic_dir`'s names); returns how many."""
    folder = out_dir / FRAMES_DIR
    removed = 0
    if folder.is_dir():
        for entry in os.scandir(folder):
            parts = entry.name.split(".")
            if (len(parts) >= 3 and entry.name.startswith(".frame_") and parts[-1] == "partial"
                    and parts[1][6:].isdigit() and int(parts[1][6:]) in frames):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
    return removed


@dataclass
class VideoResult:
    """One :func:`infer_video` call: ``selected`` frames of the whole run, ``mine`` of this
    shard/process, ``already_done`` before, ``written`` (with Gaussians) and ``skipped`` (no
    mouse) now, ``complete`` whether every selected frame is done, ``turntable`` when this call
    wrote it."""

    out_dir: Path
    shard: tuple[int, int]
    process: tuple[int, int]
    selected: int
    mine: int
    already_done: int
    written: int = 0
    skipped: int = 0
    seconds: float = 0.0
    complete: bool = False
    turntable: Path | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)

    def format(self) -> str:
        where = f"shard {self.shard[0]}/{self.shard[1]}"
        if self.process[1] > 1:
            where += f", process {self.process[0]}/{self.process[1]}"
        rate = (self.written + self.skipped) / self.seconds if self.seconds > 0 else 0.0
        lines = [f"infer --video → {self.out_dir} ({where})",
                 f"  this run: {self.written} frames written, {self.skipped} skipped (no mouse), "
                 f"{self.already_done} already done of {self.mine}; {self.seconds:.1f} s "
                 f"({rate:.2f} frames/s)"]
        if self.complete:
            lines.append(f"  all {self.selected} selected frames done"
                         + (f"; wrote {VIDEO_NAME}, {REPORT_NAME}" if self.turntable else ""))
        else:
            lines.append(f"  {self.selected} frames selected; the rest belong to other shards "
                         "or processes, or to a re-run (finished frames are skipped)")
        return "\n".join(lines)


def _batches(frames: Iterator[CameraFrame], size: int) -> Iterator[list[CameraFrame]]:
    batch: list[CameraFrame] = []
    for item in frames:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def infer_video(recording: str | os.PathLike, out_dir: str | os.PathLike, *,
                camera: int, mvdiff: str | os.PathLike | None = None,
                gslrm: str | os.PathLike | None = None,
                every: int = 1, frames: str | None = None, batch: int = 8,
                shard: tuple[int, int] | str = (0, 1), process: tuple[int, int] | None = None,
                dataset: str | os.PathLike | None = None,
                locator: str | os.PathLike | None = None, centre: str = "one-view",
                triangulate: bool = False, device: str = "cpu", dtype: str | None = None,
                seed: int = 0, sampler: SamplingSettings | None = None,
                filters: SplatFilters | None = None, orbit_frames: int = 120,
                turntable_size: int | None = None, max_frames: int | None = None,
                progress: bool = True, models: LiftModels | None = None,
                overwrite: bool = False) -> VideoResult:
    """Lift every ``every``-th frame of camera ``camera`` of ``recording`` (module docstring).
    ``process``: this process's ``(index, count)`` (default: from ``accelerate launch``, else
    one process). ``triangulate``: also decode every camera's mask to compare the one-view centre
    with prepare's all-view centre in each frame's report (``centre="all-views"`` crops around
    the latter)."""
    started = time.perf_counter()
    if batch < 1:
        raise ConfigError(f"--batch must be ≥ 1, got {batch}")
    try:
        shard = parse_shard(shard)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    state = None
    if process is None:
        index, count, state = process_slot(cpu=not device.startswith("cuda"))
        process = (index, count)
    sampler = sampler or SamplingSettings()
    settings = sampler.resolved()
    out = Path(out_dir)
    builtin = None
    if models is None:
        builtin, mvdiff, gslrm = builtin_or_given(mvdiff, gslrm)
    inputs = (recording, dataset, locator, mvdiff, gslrm)
    check_result_folder(out, VIDEO_COMMAND, overwrite=overwrite, inputs=inputs)
    rec = Recording.open(recording)
    if not 0 <= camera < rec.num_cameras:
        raise ConfigError(f"--camera {camera}: the recording has cameras 0..{rec.num_cameras - 1}")
    selected = select_video_frames(rec.num_frames, frames, every)
    mine = partition(selected, shard, process)
    claim_result_folder(out, VIDEO_COMMAND, overwrite=overwrite, inputs=inputs)
    remove_stale_temporaries(out, {int(f) for f in mine})
    finished = done_frames(out)
    pending = [int(f) for f in mine if int(f) not in finished]
    if max_frames is not None:
        pending = pending[:max_frames]
    result = VideoResult(out, shard, process, len(selected), len(mine),
                         sum(int(f) in finished for f in mine))
    if pending:
        if models is None:
            if state is not None and device.startswith("cuda") and ":" not in device:
                device = f"cuda:{state.local_process_index}"
            models = LiftModels.load(mvdiff, gslrm, device=device, dtype=dtype)
        framing, found = training_framing(models.rig, dataset, locator)
        _run(models, rec, camera, pending, out, framing, batch=batch, seed=seed,
             settings=settings, filters=filters or SplatFilters(), centre=centre,
             all_masks=triangulate or centre == "all-views", result=result, progress=progress,
             common={"training_data": {**framing.describe(), "from": found},
                     "builtin": builtin.describe() if builtin is not None else None},
             require_locator=locator is not None)
    if state is not None:
        state.wait_for_everyone()
    result.seconds = time.perf_counter() - started
    result.complete = done_frames(out) >= {int(f) for f in selected}
    fresh = result.written + result.skipped > 0 or not (out / VIDEO_NAME).is_file()
    if result.complete and process[0] == 0 and fresh:
        result.turntable = _finish(out, selected, rec, every, models, mvdiff, gslrm, settings,
                                   seed, orbit_frames, turntable_size, device, progress)
    return result


def _run(models: LiftModels, rec: Recording, camera: int, pending: list[int], out: Path,
         framing: TrainingFraming, *, batch: int, seed: int, settings: dict[str, Any],
         filters: SplatFilters, centre: str, all_masks: bool, result: VideoResult,
         progress: bool, common: dict[str, Any], require_locator: bool = False) -> None:
    """Decode, frame, lift and write the ``pending`` frames in batches."""
    label = f"infer {result.shard[0]}/{result.shard[1]}" if result.shard[1] > 1 else "infer"
    if result.process[1] > 1:
        label += f" p{result.process[0]}"
    times = result.stage_seconds
    bar = tqdm(total=len(pending), disable=not progress, unit="frame", desc=label,
               dynamic_ncols=True)
    try:
        for group in _batches(rec.camera_frames(camera, pending, all_masks=all_masks), batch):
            mark = time.perf_counter()
            inputs: list[tuple[CameraFrame, LiftInput]] = []
            for item in group:
                try:
                    inputs.append((item, frame_input(
                        item.image, item.mask, rig=models.rig, framing=framing,
                        calibration=rec.cameras, camera=camera, all_masks=item.masks,
                        centre=centre, require_locator=require_locator)))
                except MouseliftError as exc:
                    _write_frame(out, item.index, None, {"frame": item.index,
                                                         "skipped": str(exc)})
                    result.skipped += 1
                    bar.update(1)
            times["input"] = times.get("input", 0.0) + time.perf_counter() - mark
            if not inputs:
                continue
            mark = time.perf_counter()
            views = models.generate_batch(
                [i.rgba for _, i in inputs], [i.cameras for _, i in inputs],
                seed=seed + inputs[0][0].index, solver=settings["solver"],
                steps=settings["steps"], guidance=settings["guidance"], eta=settings["eta"])
            times["stage1"] = times.get("stage1", 0.0) + seconds_since(models.device, mark)
            mark = time.perf_counter()
            gaussians = models.reconstruct_batch(views, filters=filters)
            times["stage2"] = times.get("stage2", 0.0) + seconds_since(models.device, mark)
            mark = time.perf_counter()
            for (item, lifted), g in zip(inputs, gaussians, strict=True):
                _write_frame(out, item.index, g, {
                    "frame": item.index, "camera": camera, "seed": seed + inputs[0][0].index,
                    "num_gaussians": len(g), **lifted.report,
                    "stage1_cameras": models.stage1_cameras(lifted.cameras is not None),
                    "resolution": models.rig.width, **common})
                result.written += 1
                bar.update(1)
            times["write"] = times.get("write", 0.0) + time.perf_counter() - mark
    finally:
        bar.close()


def _write_frame(out: Path, frame: int, gaussians: Any, report: dict[str, Any]) -> None:
    """``OUT/frames/frame_XXXXXX/`` built atomically (a concurrent writer's folder wins)."""
    with atomic_dir(out / FRAMES_DIR / frame_folder(frame), keep_existing=True) as tmp:
        if gaussians is not None:
            write_ply(tmp / PLY_NAME, gaussians)
        atomic_write_json(tmp / REPORT_NAME, report)


#: Turntable side when neither the models nor the frames' reports give the model's resolution
#: (frames written by mouselift 0.2.0 and earlier).
DEFAULT_TURNTABLE_SIZE = 256


def _reported_resolution(frame_dir: Path) -> int | None:
    """The model resolution a frame's ``report.json`` records, if any."""
    try:
        value = json.loads((frame_dir / REPORT_NAME).read_text()).get("resolution")
    except (OSError, ValueError):
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


def _finish(out: Path, selected: np.ndarray, rec: Recording, every: int,
            models: LiftModels | None, mvdiff: Any, gslrm: Any, settings: dict[str, Any],
            seed: int, orbit_frames: int, size: int | None, device: str, progress: bool
            ) -> Path | None:
    """The sequence turntable and ``OUT/report.json`` over every selected frame."""
    paths = [out / FRAMES_DIR / frame_folder(int(f)) / PLY_NAME for f in selected]
    with_gaussians = [p for p in paths if p.is_file()]
    report: dict[str, Any] = {
        "mouselift": __version__, "torch": torch.__version__, "recording": str(rec.root),
        "frames": len(selected), "first_frame": int(selected[0]), "last_frame": int(selected[-1]),
        "every": every, "with_gaussians": len(with_gaussians),
        "skipped": len(paths) - len(with_gaussians), "seed": seed, "sampler": settings,
        "checkpoints": {"mvdiff": str(mvdiff), "gslrm": str(gslrm)},
    }
    if models is not None:
        report.update(models.describe())
    else:
        report["note"] = "all frames were done by earlier runs; rig details are in their reports"
    if not with_gaussians:
        atomic_write_json(out / REPORT_NAME, report)
        return None
    distance = (float(np.linalg.norm(models.rig.cameras[0].center)) if models is not None
                else FACELIFT_RADIUS)
    render_device = models.device if models is not None else torch.device(
        "cuda" if device.startswith("cuda") and torch.cuda.is_available() else "cpu")
    if size is None:  # the model's view resolution (the first frame's report has it)
        size = (models.rig.width if models is not None
                else _reported_resolution(with_gaussians[0].parent) or DEFAULT_TURNTABLE_SIZE)
    mark = time.perf_counter()
    path = write_sequence_turntable(with_gaussians, out / VIDEO_NAME, orbit_frames=orbit_frames,
                                    fps=max(1.0, rec.fps / every), radius=distance,
                                    size=size + size % 2, device=render_device,
                                    progress=progress)
    report["turntable"] = {"file": VIDEO_NAME, "frames": len(with_gaussians),
                           "orbit_frames": orbit_frames, "size": size + size % 2,
                           "fps": round(max(1.0, rec.fps / every), 3),
                           "seconds": round(time.perf_counter() - mark, 3)}
    atomic_write_json(out / REPORT_NAME, report)
    return path


__all__ = ["FRAMES_DIR", "VIDEO_COMMAND", "VideoResult", "done_frames", "frame_folder",
           "infer_video", "partition", "process_slot", "remove_stale_temporaries",
           "select_video_frames"]
