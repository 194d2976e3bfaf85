"""The demo flow: a synthetic recording → a prepared dataset, on a CPU in about a minute.

Later stages (per-scene fit, the two-stage model) extend this flow as they land.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..config import load_config
from ..data.preview import sample_contact_sheet


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs."""

    recording_dir: Path
    dataset_dir: Path
    preview_png: Path | None
    report: str


def run_demo(
    out_dir: str | os.PathLike = "out/demo",
    *,
    frames: int | None = None,
    progress: bool = True,
    fresh: bool = True,
) -> DemoResult:
    """Synthesise a small recording (preset ``synth/demo``), prepare it (``prepare/demo``).

    With ``fresh`` the output folder is cleared first, so the demo always shows a complete run.
    """
    from ..data.prepare import PrepareConfig, prepare_dataset
    from ..data.synth import SynthConfig, synthesize

    out_dir = Path(out_dir)
    if fresh and out_dir.exists():
        shutil.rmtree(out_dir)
    recording_dir = out_dir / "recording"
    dataset_dir = out_dir / "dataset"

    synth_cfg = load_config(SynthConfig, "synth", "demo", {"frames": frames})
    synth_result = synthesize(recording_dir, synth_cfg, progress=progress)
    prepare_cfg = load_config(PrepareConfig, "prepare", "demo")
    summary = prepare_dataset(recording_dir, dataset_dir, prepare_cfg, progress=progress)

    preview = None
    samples = sorted(p for p in dataset_dir.glob("sample_*") if p.is_dir())
    if samples:
        preview = out_dir / "preview.png"
        sample_contact_sheet(samples[0]).save(preview)

    lines = [
        "",
        "mouselift demo finished.",
        f"  recording : {recording_dir}",
        f"              videos_undist/ and simpleclick_undist/ "
        f"({len(synth_result.cameras)} cameras × "
        f"{synth_result.num_frames} frames), new_cam.pkl, ground_truth.npz",
        f"  dataset   : {dataset_dir}",
        f"              {len(samples)} samples (sample_XXXXXX/images/cam_XXX.png RGBA + "
        "opencv_cameras.json), train.txt, val.txt, manifest.jsonl, summary.json",
    ]
    if preview is not None:
        lines.append(f"  preview   : {preview} (all views of {samples[0].name})")
        first = json.loads((samples[0] / "opencv_cameras.json").read_text())["frames"][0]
        lines.append(
            f"  e.g. {samples[0].name}/opencv_cameras.json cam 0: {first['w']}×{first['h']}, "
            f"fx={first['fx']:.1f}, fy={first['fy']:.1f}, "
            f"cx={first['cx']:.2f}, cy={first['cy']:.2f}"
        )
    lines += ["", "Prepare summary:", summary.format()]
    report = "\n".join(lines)
    return DemoResult(recording_dir, dataset_dir, preview, report)
