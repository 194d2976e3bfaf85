"""Benchmark the CPU renderer on GS-LRM's own scenes: dense pixel-aligned splats, 6 views.

Two scenes per object (:func:`mouselift.gslrm.scenes.pixel_aligned_scene`, seeds 0, 1, …): one
Gaussian per pixel of FaceLift's 6 rig views at ``--size``² (6 × 64² = 24 576 Gaussians at 64²),
drawn into the same 6 cameras — ``trained`` (issue 17's case a: a mouse-sized surface with the
background painted behind it, opacities 0.05–0.9, 1–4 px) and ``fog`` (case b: GS-LRM at
initialisation, opacity 0.12, scale 0.1, hundreds of translucent splats over every pixel).

For each scene and backend (``torch``: the pure-PyTorch tile rasteriser, the "before";
``native``: the compiled one), in one process, one after the other:

* ``render``: forward + backward of ``render`` for ``--batch`` objects × 6 views (loss: a fixed
  random weighting of rgb and alpha; gradients w.r.t. every Gaussian parameter);
* ``step``: a whole training step of the ``tiny`` GS-LRM with the scene's Gaussians (model
  forward on random images, the scene's parameters added to ``0 ×`` the model's outputs so that
  the gradient reaches the network, render, MSE, backward, AdamW).

Minimum over ``--repeats`` after a warm-up. Also printed: the largest difference between the
two backends' images (they follow the same rules, so it is rounding). A benchmark: nothing is
asserted.

    .venv/bin/python bench/stage2_render.py
    .venv/bin/python bench/stage2_render.py --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import math
import platform
import time

from machine import cpu_model


def raw_fields(gaussians) -> list:
    """The raw parameters, float32: means, log-scales, rotations, opacity logits, SH."""
    return [t.float() for t in (gaussians.means, gaussians.log_scales, gaussians.rotations,
                                gaussians.opacity_logits, gaussians.sh)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scenes", nargs="+", default=["trained", "fog"])
    parser.add_argument("--backends", nargs="+", default=["torch", "native"])
    args = parser.parse_args()

    import torch

    from mouselift.cameras.rig import facelift_rig
    from mouselift.gslrm.config import load_gslrm_config
    from mouselift.gslrm.model import GSLRM, cameras_to_tensors
    from mouselift.gslrm.scenes import pixel_aligned_scene
    from mouselift.splat.gaussians import Gaussians
    from mouselift.splat.render import render

    torch.set_num_threads(args.threads)
    size = args.size
    K, c2w = cameras_to_tensors(facelift_rig(size).cameras)
    w2c = torch.linalg.inv(c2w)
    weights = torch.rand(6, size, size, 4, generator=torch.Generator().manual_seed(1))
    config = load_gslrm_config("tiny").model_copy(update={"image_size": size})

    print(f"Machine: {cpu_model()}, torch {torch.__version__}, {args.threads} threads, "
          f"Python {platform.python_version()}; {args.batch} objects × 6 views at {size}², "
          f"{6 * size * size} Gaussians each\n")
    print("| scene | backend | render fwd+bwd (s) | training step (s) | alpha mean | "
          "max image difference vs torch |")
    print("|---|---|---:|---:|---:|---:|")
    for kind in args.scenes:
        scenes = [raw_fields(pixel_aligned_scene(kind, size, seed)) for seed in range(args.batch)]
        images = {}
        for backend in args.backends:
            leaves = [[t.clone().requires_grad_(True) for t in scene] for scene in scenes]

            def render_all(objects, backend=backend):
                return [render(Gaussians(*obj), Ks=K, w2cs=w2c, width=size, height=size,
                               background=torch.ones(3), backend=backend) for obj in objects]

            def render_step(leaves=leaves, render_all=render_all):
                outs = render_all(leaves)
                loss = sum((torch.cat([o.rgb, o.alpha], -1) * weights).sum() for o in outs)
                loss.backward()
                return outs

            torch.manual_seed(0)
            model = GSLRM(config).train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
            inputs = torch.rand(args.batch, 6, 3, size, size)
            targets = torch.rand(args.batch, 6, size, size, 3)

            def train_step(model=model, optimizer=optimizer, inputs=inputs, targets=targets,
                           render_all=render_all, scenes=scenes):
                out = model(inputs, K.expand(args.batch, -1, -1, -1),
                            c2w.expand(args.batch, -1, -1, -1))
                pred = (out.means, out.log_scales, out.rotations, out.opacity_logits, out.sh)
                objects = [[s + 0.0 * p[b, -s.shape[0]:] for s, p in zip(scene, pred, strict=True)]
                           for b, scene in enumerate(scenes)]
                outs = render_all(objects)
                loss = sum((o.rgb - targets[b]).square().mean() for b, o in enumerate(outs))
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            timings = []
            for fn in (render_step, train_step):
                fn()
                best = math.inf
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    fn()
                    best = min(best, time.perf_counter() - start)
                timings.append(best)
            with torch.no_grad():
                outs = render_all([[t.detach() for t in obj] for obj in leaves])
            images[backend] = torch.stack([torch.cat([o.rgb, o.alpha], -1) for o in outs])
            diff = ("—" if "torch" not in images or backend == "torch"
                    else f"{(images[backend] - images['torch']).abs().max().item():.1e}")
            alpha = images[backend][..., 3].mean().item()
            print(f"| {kind} | {backend} | {timings[0]:.3f} | {timings[1]:.3f} | {alpha:.3f} | "
                  f"{diff} |", flush=True)


if __name__ == "__main__":
    main()
