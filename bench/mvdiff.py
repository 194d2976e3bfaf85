"""Benchmark Stage-1 sampling: time per denoising step and per 6-view sample.

A random pipeline of an ``mvdiff`` preset (``tiny`` on CPU; ``facelift`` — the released
sizes, 512² views, 64² latents — on a GPU) with FaceLift's 6-view rig, one input image, guidance
3 (so the UNet sees 2 × 6 latents per step). For each solver and step count: one warm-up sample,
then the minimum over ``--repeats`` of the whole call (CLIP + VAE encode, the denoising loop, VAE
decode); the per-step time is the loop alone, from a run with a timing hook on the UNet. Peak GPU
memory (``torch.cuda.max_memory_allocated``) on CUDA. Prints a markdown table; a benchmark, not a
test: nothing is asserted. Random weights: the speed and memory of the real model, not its output.

    .venv/bin/python bench/mvdiff.py                                   # tiny, CPU
    .venv/bin/python bench/mvdiff.py --preset facelift --device cuda --dtype bf16
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from machine import cpu_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="mouselift/configs/mvdiff preset")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "fp16", "bf16"])
    parser.add_argument("--cases", default="ddim:50,dpm++:20",
                        help="solver:steps pairs, comma separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead")
    args = parser.parse_args()

    import torch

    from mouselift.cameras.rig import facelift_rig
    from mouselift.mvdiff import MultiViewDiffusionPipeline, load_mvdiff_config

    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    arch = load_mvdiff_config(args.preset)
    pipe = MultiViewDiffusionPipeline.from_architecture(arch, rig=facelift_rig(arch.image_size))
    pipe.to(args.device, dtype)
    image = torch.rand(4, arch.image_size, arch.image_size, generator=torch.Generator()
                       .manual_seed(0))
    cuda = args.device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    rows = []
    for case in args.cases.split(","):
        solver, steps = case.split(":")
        steps = int(steps)
        pipe(image, num_inference_steps=2, solver=solver)  # warm-up
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        totals = []
        for _ in range(args.repeats):
            sync()
            start = time.perf_counter()
            pipe(image, num_inference_steps=steps, solver=solver)
            sync()
            totals.append(time.perf_counter() - start)
        stamps: list[float] = []

        def stamp(*_: object, stamps: list[float] = stamps) -> None:
            sync()
            stamps.append(time.perf_counter())

        hook = pipe.unet.register_forward_pre_hook(stamp)
        pipe(image, num_inference_steps=steps, solver=solver)
        sync()
        stamps.append(time.perf_counter())
        hook.remove()
        per_step = (stamps[-1] - stamps[0]) / steps
        rows.append({
            "preset": args.preset, "device": args.device, "dtype": args.dtype,
            "solver": solver, "steps": steps, "sample_s": min(totals), "step_s": per_step,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        })
    machine = (torch.cuda.get_device_name() if cuda else
               f"{cpu_model()}, {torch.get_num_threads()} threads")
    if args.json:
        print(json.dumps({"machine": machine, "python": platform.python_version(),
                          "torch": torch.__version__, "rows": rows}, indent=1))
        return
    print(f"machine: {machine}; torch {torch.__version__}; preset {args.preset} "
          f"({arch.image_size}² views, {arch.num_views} views, guidance 3)\n")
    print("| solver | steps | dtype | one 6-view sample (s) | per step (ms) | peak GPU memory |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        peak = f"{r['peak_gib']:.2f} GiB" if r["peak_gib"] is not None else "–"
        print(f"| {r['solver']} | {r['steps']} | {r['dtype']} | {r['sample_s']:.3f} | "
              f"{1000 * r['step_s']:.1f} | {peak} |")


if __name__ == "__main__":
    main()
