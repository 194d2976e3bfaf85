"""Benchmark GS-LRM: forward latency and peak memory for 6 views, and training steps.

A random model of a ``gslrm`` preset (``tiny`` on the CPU; ``facelift`` — the released sizes,
6 views at 512² — on a GPU) with FaceLift's rig cameras. Forward: one warm-up call, then the
minimum over ``--repeats`` calls (no grad). Training: forward + render of the 6 target views +
backward + AdamW step at ``--batch`` objects, with and without gradient checkpointing: the
minimum step time and the renderer's share of it (the render call and its gradient timed
separately). Each case runs in its own process so that its peak memory is its own: the peak
resident set above the process's baseline on the CPU (``getrusage``),
``torch.cuda.max_memory_allocated`` on CUDA. Prints a markdown table; a benchmark, not a test:
nothing is asserted. Random weights: the speed and memory of the real model, not its output.

    .venv/bin/python bench/gslrm.py                                        # tiny, CPU
    .venv/bin/python bench/gslrm.py --preset facelift --device cuda --dtype bf16
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

from machine import cpu_model

CASES = ("forward", "train", "train_checkpointing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="mouselift/configs/gslrm preset")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--views", type=int, default=6)
    parser.add_argument("--batch", type=int, default=2, help="objects per training step")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args)))
        return
    rows = []
    for case in CASES:
        command = [sys.executable, __file__, *sys.argv[1:], "--case", case]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"{rows[0]['title']}\n")
    print("| case | time (s) | renderer share | peak memory (MiB) |")
    print("|---|---|---|---|")
    for row in rows:
        share = "—" if row["share"] is None else f"{100 * row['share']:.0f} %"
        print(f"| {row['name']} | {row['seconds']:.3f} | {share} | {row['memory_mib']:.0f} |")


def run_case(args: argparse.Namespace) -> dict:
    import torch

    from mouselift.cameras.rig import facelift_rig
    from mouselift.gslrm.config import load_gslrm_config
    from mouselift.gslrm.model import GSLRM, cameras_to_tensors
    from mouselift.gslrm.trainer import render_targets

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    config = load_gslrm_config(args.preset)
    size = config.image_size
    K, c2w = cameras_to_tensors(facelift_rig(size).cameras[: args.views], device=args.device)
    objects = 1 if args.case == "forward" else args.batch
    images = torch.rand(objects, args.views, 3, size, size, device=args.device)
    Ks, c2ws = K.expand(objects, -1, -1, -1), c2w.expand(objects, -1, -1, -1)
    autocast = torch.autocast(device_type="cuda" if cuda else "cpu", dtype=dtype,
                              enabled=dtype != torch.float32)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    share = None
    if args.case == "forward":
        model = GSLRM(config).to(args.device).eval()
        times = []
        with torch.no_grad(), autocast:
            for i in range(args.repeats + 1):
                sync()
                start = time.perf_counter()
                model(images, Ks, c2ws)
                sync()
                if i:
                    times.append(time.perf_counter() - start)
        seconds, name = min(times), "forward, 1 object"
    else:
        checkpointing = args.case == "train_checkpointing"
        model = GSLRM(config.model_copy(update={"gradient_checkpointing": checkpointing}))
        model = model.to(args.device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95))
        background = torch.ones(objects, 3, device=args.device)
        steps, shares = [], []
        for i in range(args.repeats + 1):
            sync()
            start = time.perf_counter()
            with autocast:
                out = model(images, Ks, c2ws)
            sync()
            render_start = time.perf_counter()
            rendered = render_targets(out, Ks, c2ws, background, size, size).rgb
            loss = (rendered - images).square().mean()
            leaves = [out.means, out.log_scales, out.rotations, out.opacity_logits, out.sh]
            grads = torch.autograd.grad(loss, leaves, retain_graph=True)
            sync()
            render_time = time.perf_counter() - render_start
            torch.autograd.backward(leaves, grads)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            sync()
            if i:  # the first step warms up
                steps.append(time.perf_counter() - start)
                shares.append(render_time / steps[-1])
        best = min(range(len(steps)), key=steps.__getitem__)
        seconds, share = steps[best], shares[best]
        name = f"train step, batch {objects}, gradient checkpointing {checkpointing}"
    if cuda:
        memory = torch.cuda.max_memory_allocated() / 2**20
        device = torch.cuda.get_device_name()
    else:
        memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline
        device = f"{cpu_model()} ({platform.machine()})"
    title = (f"GS-LRM `{args.preset}` ({config.width}×{config.depth}, patch {config.patch_size}), "
             f"{args.views} views at {size}², {args.dtype}, on {device}, torch "
             f"{torch.__version__}, {torch.get_num_threads()} CPU threads")
    return {"name": name, "seconds": seconds, "share": share, "memory_mib": memory,
            "title": title}


if __name__ == "__main__":
    main()
