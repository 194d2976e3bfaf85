"""Benchmark the CPU rasterisers (compiled, pure-PyTorch) against the dense brute-force reference.

Scene (deterministic, seed 0): N Gaussians uniform in a ball of radius 0.6 at the origin, seen by
one camera 2.7 units away (FaceLift's radius) with a 50° field of view (FaceLift's), square
images; scales log-uniform in [0.008, 0.03] world units (about 1–3 px standard deviation at 256²,
half that at 128²), random rotations, opacities uniform in [0.2, 0.95], SH degree 0, black
background — roughly a fitted mouse filling the middle of a crop.

For every (N, size) and method, a fresh subprocess (so that peak memory is per case):

* ``native`` and ``torch``: ``render(..., backend=...)`` with the compiled CPU rasteriser and
  the pure-PyTorch one — projection, SH colour, binning, tile rasteriser; forward (no grad) and
  forward + backward (loss = a fixed random weighting of rgb, alpha and
  depth; gradients w.r.t. means, log-scales, rotations, opacity logits and SH), the minimum over
  ``--repeats`` runs after one warm-up;
* ``dense``: the same projection and colours, then :func:`rasterize_dense` (every Gaussian at every
  pixel) in pixel chunks of at most ``--dense-elements`` Gaussian-pixel pairs; for forward +
  backward each chunk is differentiated on its own (the loss is a sum over pixels) and the
  gradients flow back through the projection once. One run. When it would exceed
  ``--dense-budget`` seconds, it stops after that long and extrapolates from the chunks done
  (the dense cost per pixel is uniform), and the table says so.

Peak memory is the process's ``ru_maxrss`` growth over its value after imports and scene set-up.
Prints a markdown table; a benchmark, not a test: nothing is asserted.

    .venv/bin/python bench/render.py                          # 10k and 100k at 128² and 256²
    .venv/bin/python bench/render.py --counts 10000 --sizes 256 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import time

from machine import cpu_model


def make_scene(n: int, size: int, seed: int = 0):
    import torch

    from mouselift.cameras import Camera, intrinsics_from_fov, look_at
    from mouselift.splat.gaussians import Gaussians

    g = torch.Generator().manual_seed(seed)
    f64 = torch.float64
    direction = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=f64), dim=-1)
    means = direction * 0.6 * torch.rand(n, 1, generator=g, dtype=f64) ** (1.0 / 3.0)
    log_scales = math.log(0.008) + torch.rand(n, 3, generator=g, dtype=f64) * math.log(0.03 / 0.008)
    rotations = torch.randn(n, 4, generator=g, dtype=f64)
    logits = torch.logit(0.2 + 0.75 * torch.rand(n, generator=g, dtype=f64))
    sh = torch.randn(n, 1, 3, generator=g, dtype=f64)
    gaussians = Gaussians(
        *(t.float().requires_grad_(True) for t in (means, log_scales, rotations, logits, sh))
    )
    camera = Camera(
        intrinsics_from_fov(50.0, size, size), look_at([2.6, 0.3, 0.6], [0.0, 0.0, 0.0]), size, size
    )
    return gaussians, camera


def loss_weights(size: int):
    import torch

    g = torch.Generator().manual_seed(1)
    return torch.rand(1, size, size, 5, generator=g)


def leaves(gaussians):
    return [gaussians.means, gaussians.log_scales, gaussians.rotations,
            gaussians.opacity_logits, gaussians.sh]  # fmt: skip


def run_ours(gaussians, camera, weights, repeats: int, backend: str) -> dict:
    import torch

    from mouselift.splat.render import render

    def forward():
        with torch.no_grad():
            return render(gaussians, [camera], backend=backend)

    def forward_backward():
        for p in leaves(gaussians):
            p.grad = None
        out = render(gaussians, [camera], backend=backend)
        loss = (torch.cat(list(out), dim=-1) * weights).sum()
        loss.backward()
        return out

    result = {}
    for name, fn in (("fwd", forward), ("fwdbwd", forward_backward)):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        result[name] = min(times)
    out = forward()
    result["image"] = torch.cat(list(out), dim=-1)
    return result


def run_dense(gaussians, camera, weights, max_elements: int, budget: float) -> dict:
    import numpy as np
    import torch

    from mouselift.splat.projection import covariances_from_scales_quats, project_gaussians
    from mouselift.splat.rasterize_dense import rasterize_dense
    from mouselift.splat.sh import eval_sh

    size = camera.width
    K = torch.tensor(np.array(camera.K), dtype=torch.float32)
    w2c = torch.tensor(np.array(camera.w2c), dtype=torch.float32)
    centre = torch.tensor(camera.center, dtype=torch.float32)

    def project():
        g = gaussians
        opac = g.opacities
        cov = covariances_from_scales_quats(g.scales, g.rotations)
        p = project_gaussians(g.means, cov, K, w2c, size, size, opac)
        idx = torch.nonzero(p.visible).squeeze(1)
        col = eval_sh(0, g.sh[idx], g.means[idx] - centre)
        feats = torch.cat([col, p.depths[idx, None]], dim=-1)
        return p.means2d[idx], p.conics[idx], feats, opac[idx], p.depths[idx]

    def chunks(n_visible: int):
        pixels = size * size
        rows = max(1, min(size, max_elements // max(1, n_visible * size)))
        return [(r, min(size, r + rows)) for r in range(0, size, rows)], rows * size, pixels

    def run(backward: bool) -> tuple[float, str]:
        for p in leaves(gaussians):
            p.grad = None
        start = time.perf_counter()
        with torch.set_grad_enabled(backward):
            m2, con, feats, op, depth = project()
            inputs = [m2, con, feats, op]
            detached = [t.detach().requires_grad_(backward) for t in inputs]
        spans, _, _ = chunks(len(op))
        done = 0
        for r0, r1 in spans:
            with torch.set_grad_enabled(backward):
                # shift the means so that this band of rows is rendered as its own image
                shift = torch.tensor([0.0, float(r0)])
                color, alpha = rasterize_dense(
                    detached[0] - shift, detached[1], detached[2], detached[3], depth,
                    size, r1 - r0,
                )  # fmt: skip
                if backward:
                    depth_img = color[..., 3:4] / alpha.clamp_min(1e-10)
                    img = torch.cat([color[..., :3], alpha, depth_img], dim=-1)
                    (img * weights[0, r0:r1]).sum().backward()
            done += 1
            if time.perf_counter() - start > budget and done < len(spans):
                break
        if backward:
            torch.autograd.backward(inputs, [t.grad for t in detached])
        elapsed = time.perf_counter() - start
        if done < len(spans):
            return elapsed * len(spans) / done, f"extrapolated from {done}/{len(spans)} chunks"
        return elapsed, ""

    fwd, note_f = run(False)
    fwdbwd, note_b = run(True)
    return {"fwd": fwd, "fwdbwd": fwdbwd, "note": "; ".join(x for x in (note_f, note_b) if x)}


def child(spec: dict) -> None:
    import torch

    torch.set_num_threads(spec["threads"])
    gaussians, camera = make_scene(spec["n"], spec["size"])
    weights = loss_weights(spec["size"])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if spec["method"] in ("native", "torch"):
        res = run_ours(gaussians, camera, weights, spec["repeats"], spec["method"])
        res["mean_alpha"] = float(res.pop("image")[..., 3].mean())
    else:
        res = run_dense(gaussians, camera, weights, spec["dense_elements"], spec["dense_budget"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    res["peak_mb"] = (peak - base) / 1024.0  # ru_maxrss is in KiB on Linux
    print("RESULT " + json.dumps(res))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dense-elements", type=int, default=2_000_000)
    parser.add_argument("--dense-budget", type=float, default=120.0)
    parser.add_argument("--skip-dense", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return

    import torch

    print(f"Machine: {cpu_model()}, torch {torch.__version__}, {args.threads} threads, "
          f"Python {platform.python_version()}")  # fmt: skip
    print()
    print("| N | size | method | forward (s) | forward+backward (s) | peak mem (MB) | note |")
    print("|---:|---:|---|---:|---:|---:|---|")
    for n in args.counts:
        for size in args.sizes:
            results = {}
            for method in ("native", "torch", "dense"):
                if method == "dense" and args.skip_dense:
                    continue
                spec = {"n": n, "size": size, "method": method, "threads": args.threads,
                        "repeats": args.repeats, "dense_elements": args.dense_elements,
                        "dense_budget": args.dense_budget}  # fmt: skip
                proc = subprocess.run(
                    [sys.executable, __file__, "--child", json.dumps(spec)],
                    capture_output=True, text=True,
                )  # fmt: skip
                lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
                if proc.returncode != 0 or not lines:
                    reason = "n/a (OOM)" if proc.returncode in (-9, 137) else "n/a (failed)"
                    print(
                        f"| {n} | {size} | {method} | {reason} | {reason} | | "
                        f"{proc.stderr.strip().splitlines()[-1:] if proc.stderr else ''} |"
                    )
                    continue
                res = json.loads(lines[-1][7:])
                results[method] = res
                note = res.get("note", "")
                if method != "native" and "native" in results:
                    ours = results["native"]
                    note = (f"native is {res['fwd'] / ours['fwd']:.0f}× (fwd), "
                            f"{res['fwdbwd'] / ours['fwdbwd']:.0f}× (fwd+bwd) faster"
                            + (f"; dense {note}" if note else ""))  # fmt: skip
                approx = "≈" if res.get("note") else ""
                print(
                    f"| {n} | {size} | {method} | {approx}{res['fwd']:.3f} | "
                    f"{approx}{res['fwdbwd']:.3f} | {res['peak_mb']:.0f} | {note} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
