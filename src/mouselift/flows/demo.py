"""The demo flow on a CPU in about a minute: a synthetic recording → a prepared dataset → a tiny
random Stage-1 pipeline trained briefly on it (``train_mvdiff/tiny``) → 6 views sampled from one
held-out input image.

The tiny model learns little in 20 steps; the point is the whole mechanism (rig from the dataset,
prompt embeddings, training, checkpoint, reload, sampling) on real files. Later stages (GS-LRM)
extend this flow as they land.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..config import load_config
from ..data.preview import sample_contact_sheet
from ..errors import ConfigError

#: The file that marks a folder as the demo's own (the demo clears only such folders).
DEMO_MARKER = ".mouselift-demo"


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs."""

    recording_dir: Path
    dataset_dir: Path
    preview_png: Path | None
    report: str
    mvdiff_run: Path | None = None
    views_dir: Path | None = None


def run_demo(
    out_dir: str | os.PathLike = "out/demo",
    *,
    frames: int | None = None,
    progress: bool = True,
    fresh: bool = True,
) -> DemoResult:
    """Synthesise a small recording (preset ``synth/demo``), prepare it (``prepare/demo``).

    ``out_dir`` must be empty, missing, or a folder an earlier demo made (it holds
    ``.mouselift-demo``); with ``fresh`` such a folder is cleared first, so the demo always shows
    a complete run. Any other non-empty folder is refused, never deleted.
    """
    from ..data.prepare import PrepareConfig, prepare_dataset
    from ..data.synth import SynthConfig, synthesize

    out_dir = Path(out_dir)
    claim_demo_folder(out_dir, fresh=fresh)
    recording_dir = out_dir / "recording"
    dataset_dir = out_dir / "dataset"

    synth_cfg = load_config(SynthConfig, "synth", "demo", {"frames": frames})
    synth_result = synthesize(recording_dir, synth_cfg, progress=progress)
    prepare_cfg = load_config(PrepareConfig, "prepare", "demo")
    summary = prepare_dataset(recording_dir, dataset_dir, prepare_cfg, progress=progress)

    mvdiff_run, views_dir, mvdiff_lines = _stage1(out_dir, dataset_dir, progress)

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
    lines += mvdiff_lines
    lines += ["", "Prepare summary:", summary.format()]
    report = "\n".join(lines)
    return DemoResult(recording_dir, dataset_dir, preview, report, mvdiff_run, views_dir)


def claim_demo_folder(out_dir: Path, *, fresh: bool) -> None:
    """Make ``out_dir`` the demo's folder (see :func:`run_demo`); marks it as the demo's."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not (out_dir / DEMO_MARKER).is_file():
            raise ConfigError(f"{out_dir}: folder is not empty and was not made by "
                              "`mouselift demo`; give an empty or new folder")
        if fresh:
            shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / DEMO_MARKER).write_text("made by `mouselift demo`; it may clear this folder\n")


def _stage1(out_dir: Path, dataset_dir: Path, progress: bool
            ) -> tuple[Path | None, Path | None, list[str]]:
    """Train the tiny Stage-1 pipeline briefly, then sample the views of one val input."""
    from PIL import Image

    from ..data.layout import read_split
    from ..mvdiff import MultiViewDiffusionPipeline, load_train_config, train_mvdiff

    val = read_split(dataset_dir, "val", missing_ok=True)
    if not read_split(dataset_dir, "train", missing_ok=True) or not val:
        return None, None, ["  stage 1   : skipped (the dataset has no train and val samples)"]
    run = out_dir / "mvdiff"
    config = load_train_config("tiny", {"dataset": str(dataset_dir), "output_dir": str(run)})
    result = train_mvdiff(config, progress=progress)
    pipe = MultiViewDiffusionPipeline.from_pretrained(result.checkpoints[-1] / "pipeline")
    assert pipe.rig is not None
    input_view = dataset_dir / val[0] / "images" / f"{pipe.rig.names[0]}.png"
    with Image.open(input_view) as image:
        views = pipe(image, num_inference_steps=20, solver="dpm++", seed=0)
    views_dir = out_dir / "views"
    views.save(views_dir)
    (_, first), (_, last) = result.val_losses[0], result.val_losses[-1]
    return run, views_dir, [
        f"  stage 1   : {run}",
        f"              tiny random pipeline trained {result.end_step} steps; objective on val "
        f"samples {first:.4f} → {last:.4f}; checkpoints/, validation/, logs/",
        f"              {pipe.rig.summary()}",
        f"  views     : {views_dir}/grid.png (input {val[0]}/{input_view.name} | "
        f"{len(pipe.rig.names)} generated views)",
    ]
