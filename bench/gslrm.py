"""Benchmark GS-LRM: forward latency and peak memory for 6 views, and training steps.

A random model of a ``gslrm`` preset (``tiny`` on the CPU; ``facelift`` — the released sizes,
6 views at 512² — on a GPU) with FaceLift's rig cameras. Forward: one warm-up call, then the
minimum over ``--repeats`` calls (no grad). Training: forward + render of the 6 target views +
backward + AdamW step at ``--batch`` objects, with and without gradient checkpointing, the
minimum step time and the share of the rendering (forward and backward of the rasteriser,
measured by timing the render call and its gradient separately). Peak memory: RSS growth on
the CPU (resource.getrusage), ``torch.cuda.max_memory_allocated`` on CUDA. Prints a markdown
table; a benchmark, not a test: nothing is asserted. Random weights: the speed and memory of the
real model, not its output.

    .venv/bin/python bench/gslrm.py                                        # tiny, CPU
    .venv/bin/python bench/gslrm.py --preset facelift --device cuda --dtype bf16
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

from machine import cpu_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="mouselift/configs/gslrm preset")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--views", type=int, default=6)
    parser.add_argument("--batch", type=int, default=2, help="objects per training step")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()

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
    rig = facelift_rig(size)
    K, c2w = cameras_to_tensors(rig.cameras[: args.views], device=args.device)

    def batch(objects: int):
        images = torch.rand(objects, args.views, 3, size, size, device=args.device)
        return images, K.expand(objects, -1, -1, -1), c2w.expand(objects, -1, -1, -1)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    def peak_reset() -> None:
        if cuda:
            torch.cuda.reset_peak_memory_stats()

    def peak_mb(rss_before: float) -> float:
        if cuda:
            return torch.cuda.max_memory_allocated() / 2**20
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024) - rss_before

    autocast = torch.autocast(device_type="cuda" if cuda else "cpu", dtype=dtype,
                              enabled=dtype != torch.float32)
    rows = []
    model = GSLRM(config).to(args.device).eval()
    inputs = batch(1)
    with torch.no_grad(), autocast:
        model(*inputs)
        sync()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_reset()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model(*inputs)
            sync()
            times.append(time.perf_counter() - start)
    rows.append(("forward, 1 object", min(times), None, peak_mb(rss)))

    for checkpointing in (False, True):
        model = GSLRM(config.model_copy(update={"gradient_checkpointing": checkpointing}))
        model = model.to(args.device).train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95))
        images, Ks, c2ws = batch(args.batch)
        background = torch.ones(args.batch, 3, device=args.device)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        peak_reset()
        steps, render_share = [], []
        for i in range(args.repeats + 1):
            sync()
            start = time.perf_counter()
            with autocast:
                out = model(images, Ks, c2ws)
            sync()
            render_start = time.perf_counter()
            rendered = render_targets(out, Ks, c2ws, background, size, size)
            loss = (rendered - images).square().mean()
            grad_out = torch.autograd.grad(loss, [out.means, out.log_scales, out.rotations,
                                                  out.opacity_logits, out.sh],
                                           retain_graph=True)
            sync()
            render_time = time.perf_counter() - render_start
            torch.autograd.backward([out.means, out.log_scales, out.rotations,
                                     out.opacity_logits, out.sh], grad_out)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            sync()
            if i:  # the first step warms up
                steps.append(time.perf_counter() - start)
                render_share.append(render_time / steps[-1])
        best = min(range(len(steps)), key=steps.__getitem__)
        rows.append((f"train step, batch {args.batch}, checkpointing {checkpointing}",
                     steps[best], render_share[best], peak_mb(rss)))

    device = torch.cuda.get_device_name() if cuda else f"{cpu_model()} ({platform.machine()})"
    print(f"GS-LRM `{args.preset}` ({config.width}×{config.depth}, patch {config.patch_size}), "
          f"{args.views} views at {size}², {args.dtype}, on {device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads\n")
    print("| case | time (s) | renderer share | peak memory (MiB) |")
    print("|---|---|---|---|")
    for name, seconds, share, memory in rows:
        share_text = "—" if share is None else f"{100 * share:.0f} %"
        print(f"| {name} | {seconds:.3f} | {share_text} | {memory:.0f} |")


if __name__ == "__main__":
    main()
