"""``eval.json`` and the terminal table: the means over samples (:func:`summarize`), the table
of them (:func:`format_table`) and :class:`EvalResult`, what :func:`~.runner.evaluate_dataset`
wrote."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...data.framing.locator import format_scores
from ...gslrm.inference import checkpoint_lines
from ...metrics.compute import IMAGE_METRICS
from ...metrics.geometry import THRESHOLDS_MM, threshold_key
from ...metrics.views import VIEW_METRICS
from .registry import EVALUATIONS

EVAL_JSON = "eval.json"
EVAL_PNG = "eval.png"
FORMAT = "mouselift-eval"
VERSION = 1
#: The view metrics' order in ``means`` and the table: each image metric followed by its
#: mouse-only variant, then the silhouette IoU.
MEANS_ORDER = (*sorted(IMAGE_METRICS,
                       key=lambda key: IMAGE_METRICS.index(key.removesuffix("_masked"))),
               *(key for key in VIEW_METRICS if key not in IMAGE_METRICS))


def geometry_info(min_opacity: float) -> dict[str, Any]:
    """``eval.json``'s ``geometry``: how the 3D metrics are defined and computed."""
    return {
        "definition": "Chamfer = (accuracy + completeness) / 2, mm; accuracy = opacity-"
                      "weighted mean distance of the Gaussian centres to the nearest "
                      "ground-truth surface point; completeness = mean distance of the "
                      "ground-truth points to the nearest centre; F-score at each "
                      "threshold from opacity-weighted precision and recall",
        "thresholds_mm": list(THRESHOLDS_MM), "min_opacity": min_opacity,
        "frame": "world mm (Gaussian centres mapped with the inverse of each sample's "
                 "similarity)",
    }


@dataclass
class EvalResult:
    """What :func:`~.runner.evaluate_dataset` wrote: ``report`` is ``eval.json``'s content."""

    out_dir: Path
    report: dict[str, Any]

    def format(self) -> str:
        """The terminal summary: evaluation × view group means (the table of ``eval.json``'s
        ``means``), what was skipped, where the ground truth came from."""
        r = self.report
        lines = [f"eval {r['dataset']} ({r['split']}: {r['num_samples']} of "
                 f"{r['samples_in_split']} samples) → {self.out_dir}"]
        lines.extend("  " + row for row in format_table(r["means"]))
        lines.extend(checkpoint_lines(r.get("models") or {}))
        for evaluation in EVALUATIONS:
            name = evaluation.name
            info = r["evaluations"][name]
            if not info["ran"]:
                lines.append(f"  {name}: skipped ({info['skipped']})")
            failed = [s["sample"] for s in r["samples"] if name in s.get("failed", {})]
            if failed:
                lines.append(f"  {name}: failed on {len(failed)} sample(s), e.g. {failed[0]} "
                             f"(see {EVAL_JSON})")
        loc = r.get("localisation") or {}
        if loc.get("available"):
            lines.append("  one-view mouse centre vs the all-view centre, mm (whole mouse in "
                         "view | mask on the image border):")
            per_camera = {int(k): v for k, v in loc["per_camera"].items()}
            lines.extend("    " + row for row in format_scores(per_camera))
        elif loc:
            lines.append(f"  one-view localisation not scored: {loc['reason']}")
        gt = r["ground_truth"]
        if gt["available"]:
            lines.append(f"  3D ground truth: {gt['recording']} (from {gt['source']})")
        else:
            lines.append(f"  3D metrics omitted: {gt['reason']}")
        if r.get("lpips_unavailable"):
            lines.append(f"  LPIPS unavailable: {r['lpips_unavailable']}")
        lines.append(f"  wrote {EVAL_JSON}, {EVAL_PNG}")
        return "\n".join(lines)


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return format(value, spec)


def format_table(means: dict[str, Any]) -> list[str]:
    """Rows of the table: one per evaluation and view group, with the image-metric means and,
    on the evaluation's first row, its 3D means (``–``: not available)."""
    header = ("evaluation", "views", "n", "PSNR", "mouse PSNR", "SSIM", "LPIPS", "IoU",
              "Chamfer mm", "F@2mm", "F@5mm")
    rows = [header]
    for name, entry in means.items():
        geometry = entry.get("geometry") or {}
        third = [_fmt(geometry.get("chamfer_mm"), ".2f"),
                 _fmt(geometry.get(threshold_key("fscore", 2.0)), ".3f"),
                 _fmt(geometry.get(threshold_key("fscore", 5.0)), ".3f")]
        for k, (group, m) in enumerate(entry["views"].items()):
            if k > 0:
                third = [""] * 3
            rows.append((name, group.replace("_", "-"), str(m["num_views"]),
                         _fmt(m["psnr"], ".2f"), _fmt(m["psnr_masked"], ".2f"),
                         _fmt(m["ssim"], ".4f"), _fmt(m["lpips"], ".4f"),
                         _fmt(m.get("iou"), ".3f"), *third))
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    return ["  ".join(cell.ljust(w) if c < 2 else cell.rjust(w)
                      for c, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def _mean(values: list[Any]) -> float | None:
    """Mean of the numbers among ``values`` (None and NaN left out; an inf stays inf)."""
    numbers = [float(v) for v in values
               if isinstance(v, int | float) and not isinstance(v, bool) and not np.isnan(v)]
    return float(np.mean(numbers)) if numbers else None


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Means over samples, per evaluation: per view group the mean of each sample's group
    means (``num_views`` per sample, ``num_samples``), and the 3D metrics' means."""
    means: dict[str, Any] = {}
    for evaluation in EVALUATIONS:
        name = evaluation.name
        entries = [s["evaluations"][name] for s in samples if name in s["evaluations"]]
        if not entries:
            continue
        groups: dict[str, Any] = {}
        for group in entries[0]["views"]:
            parts = [e["views"][group] for e in entries if group in e["views"]]
            groups[group] = {"num_views": parts[0]["num_views"], "num_samples": len(parts),
                             **{k: _mean([p.get(k) for p in parts]) for k in MEANS_ORDER}}
        entry: dict[str, Any] = {"views": groups, "seconds": _mean([e["seconds"]
                                                                     for e in entries])}
        geo = [e["geometry"] for e in entries if e.get("geometry")]
        if geo:
            keys = [k for k in geo[0] if k not in ("num_truth",)]
            entry["geometry"] = {k: _mean([g.get(k) for g in geo]) for k in keys}
            entry["geometry"]["num_samples"] = len(geo)
        means[name] = entry
    return means


__all__ = ["EVAL_JSON", "EVAL_PNG", "EvalResult", "format_table", "geometry_info", "summarize"]
