"""Benchmark ``mouselift infer``: latency per stage of one image → PLY, and video throughput.

Random checkpoints of a preset pair (``tiny``: the 64² Stage-1 pipeline and GS-LRM of the tests,
and ``small``: the built-in models' architecture, on the CPU; ``facelift``: the released sizes,
512² views, on a GPU) with FaceLift's 6-view rig,
saved to a temporary folder in the real formats (a pipeline folder, a GS-LRM folder). Cases, each
in its own process (so its peak memory is its own):

* ``single``: ``LiftModels.load`` (both folders → device), then one input crop → Stage 1 (the
  solver and steps of ``--solver``/``--steps``, guidance 3) → Stage 2 (GS-LRM + FaceLift's
  filters) → ``gaussians.ply``. One warm-up lift, then the minimum over ``--repeats`` per stage.
* ``video``: ``--batch`` crops per call through ``generate_batch`` and ``reconstruct_batch`` and
  one PLY each (what ``infer --video`` does per batch, decoding excluded); frames per second
  over ``--repeats`` batches after a warm-up batch.
* ``outputs``: the whole ``mouselift infer`` of the crop (``mouselift.flows.infer.infer``, the
  models already loaded; one warm-up run), timed by its own ``report.json``: the lift (Stage 1 +
  Stage 2) against writing every output, and each output file. Three settings in one run: the
  turntable at 256² with the pure-PyTorch rasteriser (what ``infer`` did before the compiled
  rasteriser and the model-sized turntable), at 256² with the compiled one, and at the default
  size (the model's resolution) with the compiled one.

Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA, the peak resident set above the
process's baseline on the CPU. Random weights: the speed of the real architectures, not their
output. A benchmark, not a test: nothing is asserted.

    .venv/bin/python bench/infer.py                                            # tiny, CPU
    .venv/bin/python bench/infer.py --preset facelift --device cuda --dtype bf16 --solver dpm++
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model

CASES = ("single", "video")
#: (rasteriser, turntable size; None = infer's default) of the ``outputs`` cases, in table order
OUTPUT_CASES = (("torch", 256), ("native", 256), ("native", None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny",
                        help="mvdiff and gslrm preset (tiny, small, facelift)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, choices=["fp32", "bf16", "fp16"],
                        help="Stage-1 dtype (default: fp32 on CPU, bf16 on CUDA)")
    parser.add_argument("--solver", default="dpm++", choices=["ddim", "dpm++"])
    parser.add_argument("--steps", type=int, default=None, help="default: 50 ddim, 20 dpm++")
    parser.add_argument("--batch", type=int, default=8, help="frames per video batch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--skip-outputs", action="store_true", help="skip the infer outputs cases")
    parser.add_argument("--case", choices=(*CASES, "outputs"), help=argparse.SUPPRESS)
    parser.add_argument("--output-case", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_outputs(args) if args.case == "outputs" else run_case(args)))
        return
    with tempfile.TemporaryDirectory(prefix="mouselift_bench_infer_") as work:
        build(args.preset, Path(work))
        rows = []
        for case in CASES:
            command = [sys.executable, __file__, *sys.argv[1:], "--case", case, "--work", work]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
        outputs = []
        for index in range(0 if args.skip_outputs else len(OUTPUT_CASES)):
            command = [sys.executable, __file__, *sys.argv[1:], "--case", "outputs",
                       "--output-case", str(index), "--work", work]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    single, video = rows[:2]
    print(f"{single['title']}\n")
    print("| case | load (s) | stage 1 (s) | stage 2 (s) | write PLY (s) | total (s) | "
          "frames/s | peak memory (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    s = single["seconds"]
    total = s["stage1"] + s["stage2"] + s["write"]
    print(f"| one image → PLY | {s['load']:.2f} | {s['stage1']:.3f} | {s['stage2']:.3f} | "
          f"{s['write']:.3f} | {total:.3f} | {1 / total:.2f} | {single['memory_mib']:.0f} |")
    v = video["seconds"]
    print(f"| video, batch {args.batch} (per frame) | — | {v['stage1']:.3f} | {v['stage2']:.3f} | "
          f"{v['write']:.3f} | {v['total']:.3f} | {video['frames_per_second']:.2f} | "
          f"{video['memory_mib']:.0f} |")
    if outputs:
        print("\n`mouselift infer` of one image, seconds from its report.json:\n")
        print("| rasteriser | turntable | lift (s) | all outputs (s) | outputs / lift | "
              "turntable.mp4 (s) | rendering the input views (s) | other files (s) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for row in outputs:
            s = row["seconds"]
            lift = s["stage1"] + s["stage2"]
            files = s["outputs"]
            video_s, score = files.get("turntable.mp4", 0.0), files.get("consistency", 0.0)
            print(f"| {row['renderer']} | {row['frames']} × {row['size']}² | {lift:.3f} | "
                  f"{s['write']:.3f} | {s['write'] / lift:.2f} | {video_s:.3f} | {score:.3f} | "
                  f"{s['write'] - video_s - score:.3f} |")


def build(preset: str, work: Path) -> None:
    """Random checkpoints of ``preset`` with FaceLift's rig, in the real on-disk formats."""
    import torch

    from mouselift.cameras.rig import facelift_rig
    from mouselift.gslrm.checkpoints import save_gslrm
    from mouselift.gslrm.config import load_gslrm_config
    from mouselift.gslrm.model import GSLRM
    from mouselift.mvdiff import MultiViewDiffusionPipeline, load_mvdiff_config

    arch = load_mvdiff_config(preset)
    config = load_gslrm_config(preset)
    if arch.image_size != config.image_size:
        raise SystemExit(f"preset {preset}: Stage 1 is {arch.image_size}², Stage 2 "
                         f"{config.image_size}²")
    rig = facelift_rig(arch.image_size)
    pipe = MultiViewDiffusionPipeline.from_architecture(arch, rig=rig, workdir=work / "build")
    pipe.save_pretrained(work / "pipeline")
    torch.manual_seed(0)
    save_gslrm(GSLRM(config), work / "gslrm", rig)


def run_case(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    from mouselift.flows.lift import LiftModels
    from mouselift.mvdiff.solvers import SamplingSettings
    from mouselift.splat import write_ply

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    cuda = args.device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    models = LiftModels.load(work / "pipeline", work / "gslrm", device=args.device,
                             dtype=args.dtype)
    sync()
    load = time.perf_counter() - start
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    size = models.rig.width
    crop = np.zeros((size, size, 4), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    blob = ((xx - size / 2) / (0.3 * size)) ** 2 + ((yy - size / 2) / (0.15 * size)) ** 2 <= 1
    crop[blob] = (110, 95, 80, 255)
    sampling = {"solver": args.solver, "steps": args.steps}
    batch = 1 if args.case == "single" else args.batch
    stamps: dict[str, list[float]] = {"stage1": [], "stage2": [], "write": []}
    ply = work / f"{args.case}.ply"
    for i in range(args.repeats + 1):  # the first round warms up
        sync()
        t0 = time.perf_counter()
        views = models.generate_batch([crop] * batch, seed=i, **sampling)
        sync()
        t1 = time.perf_counter()
        gaussians = models.reconstruct_batch(views)
        sync()
        t2 = time.perf_counter()
        for g in gaussians:
            write_ply(ply, g)
        t3 = time.perf_counter()
        if i:
            stamps["stage1"].append((t1 - t0) / batch)
            stamps["stage2"].append((t2 - t1) / batch)
            stamps["write"].append((t3 - t2) / batch)
    if cuda:
        memory = torch.cuda.max_memory_allocated() / 2**20
        device = torch.cuda.get_device_name()
    else:
        memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline
        device = f"{cpu_model()} ({platform.machine()}), {torch.get_num_threads()} threads"
    if args.case == "single":
        seconds = {"load": load, **{k: min(v) for k, v in stamps.items()}}
        result: dict = {"seconds": seconds}
    else:
        per_frame = [a + b + c for a, b, c in zip(*stamps.values(), strict=True)]
        seconds = {k: float(np.mean(v)) for k, v in stamps.items()}
        seconds["total"] = float(np.mean(per_frame))
        result = {"seconds": seconds, "frames_per_second": 1.0 / seconds["total"]}
    steps = SamplingSettings(solver=args.solver, steps=args.steps).num_steps
    dtypes = models.describe()["dtype"]
    title = (f"infer, `{args.preset}` presets ({size}² views, 6 views, random weights), "
             f"{args.solver} {steps} steps, guidance 3, Stage 1 {dtypes['stage1']}, Stage 2 "
             f"{dtypes['stage2']}, on {device}, torch {torch.__version__}")
    return {**result, "memory_mib": memory, "title": title}


def run_outputs(args: argparse.Namespace) -> dict:
    """One ``outputs`` case: ``infer`` with the models loaded, after a warm-up run."""
    import os

    import numpy as np
    import torch
    from PIL import Image

    renderer, size = OUTPUT_CASES[args.output_case]
    if renderer == "torch":
        os.environ["MOUSELIFT_NATIVE"] = "0"
    from mouselift.flows.infer import infer
    from mouselift.flows.lift import LiftModels
    from mouselift.mvdiff.solvers import SamplingSettings

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    models = LiftModels.load(work / "pipeline", work / "gslrm", device=args.device,
                             dtype=args.dtype)
    side = models.rig.width
    crop = np.zeros((side, side, 4), np.uint8)
    yy, xx = np.mgrid[:side, :side]
    crop[((xx - side / 2) / (0.3 * side)) ** 2 + ((yy - side / 2) / (0.15 * side)) ** 2 <= 1] = (
        110, 95, 80, 255)
    image = work / "crop.png"
    Image.fromarray(crop).save(image)
    sampler = SamplingSettings(solver=args.solver, steps=args.steps)
    report = {}
    for run in range(2):  # the first warms up
        result = infer(work / f"outputs-{args.output_case}-{run}", gslrm=work / "gslrm",
                       mvdiff=work / "pipeline", image=image, models=models, sampler=sampler,
                       turntable_size=size, progress=False)
        report = result.report
    return {"renderer": renderer, "size": report["turntable"]["size"],
            "frames": report["turntable"]["frames"], "seconds": report["seconds"]}


if __name__ == "__main__":
    main()
