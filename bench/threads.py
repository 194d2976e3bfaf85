"""Benchmark two processes sharing the cores: ``mouselift fit`` alone and next to a busy process.

Synthesizes a small recording (4 frames, half resolution, seed 0) and prepares it at 128×128,
then times ``mouselift fit SAMPLE OUT --steps N`` (``metrics.json``'s ``seconds``: initialisation
and the N optimisation steps) in these cases, one after another in each of ``--rounds`` rounds,
and reports the median per case:

* alone: with the defaults (every core; OpenMP's threads spin up to ~3 ms waiting for work,
  libgomp's default), with ``OMP_WAIT_POLICY=PASSIVE`` (they sleep at once), and with
  ``--threads 1``;
* the same three next to a busy neighbour: another ``mouselift fit`` of the same sample (a
  million steps, started a few seconds before, killed after), run with the same settings.

The subprocesses get this environment without ``OMP_NUM_THREADS`` and ``OMP_WAIT_POLICY`` (so
the defaults apply).
Prints a markdown table; a benchmark, not a test: nothing is asserted.

    .venv/bin/python bench/threads.py                      # 30 steps, 2 rounds
    .venv/bin/python bench/threads.py --steps 60 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model

MOUSELIFT = [sys.executable, "-m", "mouselift"]
PASSIVE = {"OMP_WAIT_POLICY": "PASSIVE"}
CASES = [  # (label, neighbour, extra options, extra environment)
    ("alone, defaults", False, [], {}),
    ("alone, OMP_WAIT_POLICY=PASSIVE", False, [], PASSIVE),
    ("alone, --threads 1", False, ["--threads", "1"], {}),
    ("next to a busy fit, both defaults", True, [], {}),
    ("next to a busy fit, both OMP_WAIT_POLICY=PASSIVE", True, [], PASSIVE),
    ("next to a busy fit, both --threads 1", True, ["--threads", "1"], {}),
]


def make_sample(work: Path) -> Path:
    from mouselift.data.prepare import PrepareConfig, prepare_dataset
    from mouselift.data.synth import SynthConfig, synthesize

    synthesize(work / "rec", SynthConfig(frames=4, scale=0.5, seed=0), progress=False)
    prepare_dataset(work / "rec", work / "ds", PrepareConfig(image_size=128, workers=1),
                    progress=False)
    return sorted((work / "ds").glob("sample_*"))[0]


def fit_seconds(sample: Path, out: Path, steps: int, options: list[str],
                env: dict[str, str]) -> float:
    subprocess.run([*MOUSELIFT, "fit", str(sample), str(out), "--steps", str(steps),
                    "--turntable-frames", "2", "-q", *options], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return json.loads((out / "metrics.json").read_text())["seconds"]


def run_case(sample: Path, work: Path, steps: int, neighbour: bool, options: list[str],
             extra_env: dict[str, str], warm_up: float) -> float:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")} | extra_env
    busy = None
    if neighbour:
        busy = subprocess.Popen([*MOUSELIFT, "fit", str(sample), str(work / "busy"), "--steps",
                                 "1000000", "-q", *options], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(warm_up)
    try:
        return fit_seconds(sample, work / "fit", steps, options, env)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
        for name in ("busy", "fit"):
            shutil.rmtree(work / name, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="fit steps per timed run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of every case")
    parser.add_argument("--warm-up", type=float, default=6.0,
                        help="seconds the neighbour runs before the timed fit starts")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_threads_"))
    try:
        sample = make_sample(work)
        times: dict[str, list[float]] = {label: [] for label, *_ in CASES}
        for _ in range(args.rounds):
            for label, neighbour, options, env in CASES:
                times[label].append(run_case(sample, work, args.steps, neighbour, options, env,
                                             args.warm_up))
                print(f"{label}: {times[label][-1]:.1f} s", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), "
          f"{cpu_model()}, Python {platform.python_version()}; {args.steps} fit steps at 128², "
          f"median of {args.rounds} rounds\n")
    print("| case | seconds (each round) | steps/s | vs alone |")
    print("|---|---|---:|---:|")
    alone = statistics.median(times[CASES[0][0]])
    for label, *_ in CASES:
        median = statistics.median(times[label])
        each = ", ".join(f"{t:.1f}" for t in times[label])
        print(f"| {label} | {each} | {args.steps / median:.2f} | {median / alone:.1f}× |")


if __name__ == "__main__":
    main()
