"""Benchmark ``mouselift prepare`` against the pure decode rate of the same videos.

Synthesizes (or reuses, ``--recording``) a full-resolution recording (1152×1024, 6 cameras,
RGB + mask videos), then measures on this machine, in one run:

1. decode: ``Recording.frames`` over all frames — 12 videos decoded sequentially to uint8 arrays
   (6 RGB + 6 mask), in frames per second of 6-camera frame sets (one process);
2. prepare with ``workers=1`` and ``workers=2`` (default ``threads``: cores / workers; fresh output
   folders; process start-up, the final manifest rebuild and everything else included), in
   frames per second, and once more with PNG level 0 (no compression) to show what zlib costs;
3. a per-stage profile of one in-process frame (decode excluded; mean of 5 frames).

Prints a markdown table. This is a benchmark, not a test: nothing is asserted.

    .venv/bin/python bench/prepare.py                       # synthesize 80 frames, then measure
    .venv/bin/python bench/prepare.py --recording DIR       # reuse a recording
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import cpu_model


def decode_rate(root: Path) -> tuple[int, float]:
    from mouselift.data.recording import Recording

    rec = Recording.open(root)
    start = time.perf_counter()
    count = 0
    for frameset in rec.frames(images=True):
        count += 1
        assert len(frameset.images) == rec.num_cameras
    return count, count / (time.perf_counter() - start)


def prepare_rate(root: Path, workers: int, size: int, level: int) -> tuple[int, float, str]:
    from mouselift.data.prepare import PrepareConfig, prepare_dataset

    out = Path(tempfile.mkdtemp(prefix=f"bench_prepare_w{workers}_"))
    try:
        config = PrepareConfig(
            image_size=size, workers=workers, val_fraction=0.0, png_compress_level=level
        )
        start = time.perf_counter()
        summary = prepare_dataset(root, out / "ds", config, progress=False)
        seconds = time.perf_counter() - start
        processed = summary.written + sum(summary.skipped_now.values())
        return processed, processed / seconds, summary.format()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def profile_frame(root: Path, size: int, level: int) -> dict[str, float]:
    """Milliseconds per stage for one frame, in process (decode excluded; mean of 5 frames)."""
    from mouselift.data.framing import crops, triangulate
    from mouselift.data.framing.hull import hull_centroid
    from mouselift.data.prepare import PrepareConfig, samples
    from mouselift.data.recording import Recording

    rec = Recording.open(root)
    config = PrepareConfig(image_size=size, png_compress_level=level)
    stages: dict[str, list[float]] = {}

    def timed(name, fn, *args, **kwargs):
        t = time.perf_counter()
        result = fn(*args, **kwargs)
        stages.setdefault(name, []).append(1000 * (time.perf_counter() - t))
        return result

    tmp = Path(tempfile.mkdtemp(prefix="bench_prepare_profile_"))
    try:
        for frameset in rec.frames(stop=min(5, rec.num_frames)):
            for threads in (1, 2):
                (tmp / f"t{threads}_{frameset.index}").mkdir()
            stats = timed("mask stats", lambda m=frameset.masks: [
                triangulate.mask_stats(x, config.mask_threshold) for x in m])
            tri = timed("triangulation", triangulate.triangulate_robust, rec.cameras, stats)
            if not tri.ok:
                continue
            timed("visual hull", hull_centroid, rec.cameras, frameset.masks, tri.point,
                  45.0, config.hull_step_mm, partial=tri.clipped_in_source)
            geoms = [crops.crop_geometry(c, tri.point, config.radius_mm, size) for c in rec.cameras]
            triples = list(zip(frameset.images, frameset.masks, geoms, strict=True))
            views = timed("resample (6 views)", lambda t=triples: [
                crops.resample_view(i, m, x, size) for i, m, x in t])
            timed("PNG encode (6 views)", lambda v=views: [
                crops.save_png(x, tmp / f"v{k}.png", level) for k, x in enumerate(v)])
            for threads in (1, 2):
                cfg = config.model_copy(update={"threads": threads})
                timed(f"whole sample (process_frame), threads={threads}", samples.process_frame,
                      frameset.index, frameset.images, frameset.masks, rec.cameras, cfg, "train",
                      tmp / f"t{threads}_{frameset.index}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {k: float(np.mean(v)) for k, v in stages.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recording", type=Path, help="reuse this recording (else synthesize)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench_prepare")
    parser.add_argument("--frames", type=int, default=200, help="frames to synthesize")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--png-level", type=int, default=1)
    args = parser.parse_args()

    root = args.recording
    if root is None:
        from mouselift.data.synth import SynthConfig, synthesize

        root = args.work / f"synth_full_{args.frames}_k{SynthConfig().keyframe_interval}"
        if not (root / "new_cam.pkl").is_file():
            print(f"synthesizing {args.frames} frames at 1152×1024 into {root} …", flush=True)
            synthesize(root, SynthConfig(frames=args.frames, scale=1.0, seed=0), overwrite=True)

    frames, decode = decode_rate(root)
    rows = [("decode only (12 videos → arrays)", 1, frames, decode)]
    summaries = []
    runs = [(1, args.png_level), (2, args.png_level), (2, 0)]  # level 0: the cost of zlib
    for workers, level in runs:
        n, rate, text = prepare_rate(root, workers, args.size, level)
        rows.append((f"prepare, size {args.size}, PNG level {level}", workers, n, rate))
        summaries.append(text)
    profile = profile_frame(root, args.size, args.png_level)

    print()
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; Python {platform.python_version()}")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"recording: {root} ({frames} frames)")
    print()
    print("| what | workers | frames | frames/s | vs decode |")
    print("|---|---:|---:|---:|---:|")
    for what, workers, n, rate in rows:
        print(f"| {what} | {workers} | {n} | {rate:.2f} | {rate / decode:.2f}× |")
    print()
    print("| stage (one frame, in process, decode excluded) | ms |")
    print("|---|---:|")
    for name, ms in profile.items():
        print(f"| {name} | {ms:.1f} |")
    print()
    print(summaries[1])


if __name__ == "__main__":
    main()
