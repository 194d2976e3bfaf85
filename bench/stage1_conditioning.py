"""How much Stage 1 uses its input view: silhouette IoU of its generated views with the input
each sample really has, against the same with another sample's input and with the input
mirrored, and against a pose-free baseline.

For ``--samples`` val samples of a prepared dataset (evenly spaced through the split), Stage 1
generates the rig's views for each sample's own cameras three times — from the sample's own
view-0 crop, from the crop of the sample half the list away (another frame: another pose), and
from its own crop mirrored left–right — and each generated view's silhouette (its non-white
pixels, :func:`mouselift.metrics.image.silhouette_on_white`, as ``eval`` scores Stage 1) is
compared with the real mask of that view, over the pixels its camera saw. The pose-free
baseline is the per-camera mean real mask of the split (thresholded at one half) against each
sample's mask: what a model that knows
the mouse's size and framing but not its pose would score. A model that reads the pose from its
input scores well above both the "other input" row and the baseline; one that does not scores
about the same. Views 1… only (view 0 is the input).

A diagnostic for model work, not a test: nothing is asserted.

    .venv/bin/python bench/stage1_conditioning.py out/unseen/ds          # the built-in models
    .venv/bin/python bench/stage1_conditioning.py DS --mvdiff RUN --gslrm RUN2 --samples 12
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from mouselift.data.layout import read_split
from mouselift.data.sample import SampleViews, load_sample_views
from mouselift.flows.infer import builtin_or_given
from mouselift.flows.lift import LiftModels
from mouselift.metrics.image import silhouette_iou, silhouette_on_white


def _iou(predicted: np.ndarray, real: np.ndarray, unseen: np.ndarray) -> float:
    """Silhouette IoU over what the camera saw (as ``eval`` scores); 1 for two empty ones."""
    iou = silhouette_iou((predicted & ~unseen).astype(np.float32), real.astype(np.float32))
    return 1.0 if iou is None else iou


def _mirrored(views: SampleViews) -> SampleViews:
    rgba = views.rgba.clone()
    rgba[0] = torch.flip(rgba[0], dims=[1])
    return SampleViews(rgba, list(views.cameras), list(views.names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--samples", type=int, default=6)
    parser.add_argument("--mvdiff", default=None, help="default: the built-in models")
    parser.add_argument("--gslrm", default=None)
    parser.add_argument("--solver", default="dpm++")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()

    _, mvdiff, gslrm = builtin_or_given(args.mvdiff, args.gslrm)
    models = LiftModels.load(mvdiff, gslrm)
    names = read_split(args.dataset, args.split)
    picks = np.linspace(0, len(names) - 1, min(args.samples, len(names))).round().astype(int)
    views = [load_sample_views(args.dataset / names[i]) for i in picks]
    real = [np.asarray(v.rgba[..., 3]) > 0.5 for v in views]  # (V, H, W) each
    unseen = [np.asarray(v.unseen_or_none) for v in views]
    every = np.stack([np.asarray(load_sample_views(args.dataset / n).rgba[..., 3]) > 0.5
                      for n in names])
    mean_mask = every.mean(axis=0) >= 0.5

    half = len(views) // 2
    inputs = {"own input": views, "another frame's input": views[half:] + views[:half],
              "own input mirrored": [_mirrored(v) for v in views]}
    table: dict[str, list[float]] = {}
    for label, given in inputs.items():
        generated = models.generate_batch([v.rgba[0].numpy() for v in given],
                                          [v.cameras for v in views], seed=args.seed,
                                          solver=args.solver, steps=args.steps)
        silhouettes = [np.asarray(silhouette_on_white(g.rgba[..., :3])) > 0.5
                       for g in generated]
        table[label] = [float(np.mean([_iou(g[k], r[k], u[k]) for g, r, u in
                                       zip(silhouettes, real, unseen, strict=True)]))
                        for k in range(1, len(views[0].cameras))]
    table["pose-free baseline (mean mask)"] = [
        float(np.mean([_iou(mean_mask[k], r[k], u[k]) for r, u in zip(real, unseen, strict=True)]))
        for k in range(1, len(views[0].cameras))]

    print(f"Stage 1 silhouette IoU, views 1…{len(views[0].cameras) - 1}, {len(views)} "
          f"{args.split} samples of {args.dataset} ({args.solver}, {args.steps} steps)")
    for label, per_view in table.items():
        cells = " ".join(f"{x:.2f}" for x in per_view)
        print(f"  {label:32s} {np.mean(per_view):.3f}   per view: {cells}")
    if args.json:
        args.json.write_text(json.dumps({"dataset": str(args.dataset), "split": args.split,
                                         "samples": len(views), "iou": table}, indent=1))


if __name__ == "__main__":
    main()
