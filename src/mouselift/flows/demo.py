"""The demo flow on a 2-core CPU in minutes: a synthetic recording → a prepared dataset → tiny
random models of both stages trained briefly on it (``train_mvdiff/tiny``, ``train_gslrm/tiny``)
→ ``infer`` on one held-out frame of the recording (one image → views → Gaussians) → ``eval`` of
the val split: the per-scene fit (reference), Stage 2 from the real views and end to end, with
PSNR, PSNR on the mouse and the Chamfer distance to the synthetic ground truth.

Tiny models trained for minutes on a CPU learn little; the point is the whole mechanism on real
files (rigs from the dataset, training, checkpoints, reload, the rig check, inference, the 3D
metric), with honest numbers next to the per-scene fit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import claim_result_folder
from ..config import load_config
from ..data.preview import sample_contact_sheet

#: The command a demo folder's result manifest names (the demo clears only such folders).
DEMO_COMMAND = "demo"


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs."""

    recording_dir: Path
    dataset_dir: Path
    preview_png: Path | None
    report: str
    mvdiff_run: Path | None = None
    views_dir: Path | None = None
    gslrm_run: Path | None = None
    infer_dir: Path | None = None
    eval_dir: Path | None = None


def run_demo(
    out_dir: str | os.PathLike = "out/demo",
    *,
    frames: int | None = None,
    progress: bool = True,
    fresh: bool = True,
    gslrm_steps: int | None = None,
    eval_samples: int | None = None,
    overwrite: bool = False,
    train: bool | None = None,
) -> DemoResult:
    """The demo: with the built-in models (:func:`run_builtin_demo`) when ``train`` is false,
    or by default when this installation has them; else the training demo: synthesise a small
    recording (preset ``synth/demo``), prepare it (``prepare/demo``), train both stages,
    ``infer`` and ``eval`` (module docstring). ``gslrm_steps`` (default
    :data:`GSLRM_DEMO_STEPS`) and ``eval_samples`` (default :data:`EVAL_SAMPLES`) shorten it.

    ``out_dir`` must be empty, missing, or a folder an earlier demo made (its result manifest
    says so: :func:`mouselift.atomic.check_result_folder`); with ``fresh`` such a folder is
    cleared first, so the demo always shows a complete run. Any other non-empty folder is
    refused, never deleted, unless ``overwrite`` (then it is cleared).
    """
    from ..data.prepare import PrepareConfig, prepare_dataset
    from ..data.synth import SynthConfig, synthesize
    from ..weights import find_builtin

    builtin = find_builtin() if not train else None
    if train is False and builtin is None:
        from ..weights import require_builtin

        require_builtin()  # the one-line error saying how to get them
    if builtin is not None:
        return run_builtin_demo(out_dir, builtin, frames=frames, progress=progress, fresh=fresh,
                                eval_samples=eval_samples, overwrite=overwrite)
    out_dir = Path(out_dir)
    claim_demo_folder(out_dir, fresh=fresh, overwrite=overwrite)
    recording_dir = out_dir / "recording"
    dataset_dir = out_dir / "dataset"

    synth_cfg = load_config(SynthConfig, "synth", "demo", {"frames": frames})
    synth_result = synthesize(recording_dir, synth_cfg, progress=progress)
    prepare_cfg = load_config(PrepareConfig, "prepare", "demo")
    summary = prepare_dataset(recording_dir, dataset_dir, prepare_cfg, progress=progress)

    mvdiff_run, views_dir, mvdiff_lines = _stage1(out_dir, dataset_dir, progress)
    gslrm_run, gslrm_lines = _stage2(out_dir, dataset_dir, gslrm_steps or GSLRM_DEMO_STEPS,
                                     progress)
    infer_dir = eval_dir = None
    end_lines: list[str] = []
    if mvdiff_run is not None and gslrm_run is not None:
        infer_dir, eval_dir, end_lines = _infer_and_eval(
            out_dir, recording_dir, dataset_dir, _model_of(mvdiff_run, "pipeline"),
            _model_of(gslrm_run, "model"), eval_samples or EVAL_SAMPLES, progress)

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
    lines += mvdiff_lines + gslrm_lines + end_lines
    lines += ["", "Prepare summary:", summary.format()]
    report = "\n".join(lines)
    return DemoResult(recording_dir, dataset_dir, preview, report, mvdiff_run, views_dir,
                      gslrm_run, infer_dir, eval_dir)


#: The built-in demo's recording: a seed and walk the built-in models were never trained on.
BUILTIN_DEMO_SEED = 2026
BUILTIN_DEMO_FRAMES = 40


def run_builtin_demo(out_dir: str | os.PathLike, builtin: Any, *, frames: int | None = None,
                     progress: bool = True, fresh: bool = True, eval_samples: int | None = None,
                     overwrite: bool = False) -> DemoResult:
    """The demo with the built-in models (:mod:`mouselift.weights`): a short synthetic
    recording of a seed they were never trained on (:data:`BUILTIN_DEMO_SEED`, a 4 s walk at
    10 fps with one held-out camera), prepared at their 64²; ``infer`` of the first val frame
    (camera 0: one image → views → Gaussians); ``eval`` of ``eval_samples`` val samples: the
    per-scene fit as the reference, Stage 2 from the real views, Stage 1 and end to end."""
    from ..data.prepare import PrepareConfig, prepare_dataset
    from ..data.synth import SynthConfig, synthesize

    out_dir = Path(out_dir)
    seed = BUILTIN_DEMO_SEED
    if seed == builtin.made_by.get("seed"):
        seed += 1  # never the training recording's
    claim_demo_folder(out_dir, fresh=fresh, overwrite=overwrite)
    recording_dir, dataset_dir = out_dir / "recording", out_dir / "dataset"
    synth = SynthConfig(frames=frames or BUILTIN_DEMO_FRAMES, fps=10.0, scale=0.5, seed=seed,
                        eval_cameras=1)
    synthesize(recording_dir, synth, progress=progress)
    count = synth.frames
    prepare = PrepareConfig(image_size=64, val_fraction=0.25, min_blocks=4,
                            block_frames=max(2, count // 4), gap_frames=0)
    summary = prepare_dataset(recording_dir, dataset_dir, prepare, progress=progress)
    infer_dir, eval_dir, lines = _infer_and_eval(
        out_dir, recording_dir, dataset_dir, None, None, eval_samples or EVAL_SAMPLES, progress)
    report = "\n".join([
        "", "mouselift demo finished (the built-in models).", f"  {builtin.line()}",
        f"  recording : {recording_dir} (seed {seed}, {count} frames: never seen in training)",
        f"  dataset   : {dataset_dir}", *lines, "", "Prepare summary:", summary.format()])
    return DemoResult(recording_dir, dataset_dir, None, report, infer_dir=infer_dir,
                      eval_dir=eval_dir)


def claim_demo_folder(out_dir: Path, *, fresh: bool, overwrite: bool = False) -> None:
    """Make ``out_dir`` the demo's folder (see :func:`run_demo`); marks it as the demo's."""
    claim_result_folder(out_dir, DEMO_COMMAND, overwrite=overwrite, fresh=fresh)


def _stage1(out_dir: Path, dataset_dir: Path, progress: bool
            ) -> tuple[Path | None, Path | None, list[str]]:
    """Train the tiny Stage-1 pipeline briefly, then sample the views of one val input."""
    from PIL import Image

    from ..data.layout import read_split
    from ..mvdiff import MultiViewDiffusionPipeline, load_train_mvdiff_config, train_mvdiff

    val = read_split(dataset_dir, "val", missing_ok=True)
    if not read_split(dataset_dir, "train", missing_ok=True) or not val:
        return None, None, ["  stage 1   : skipped (the dataset has no train and val samples)"]
    run = out_dir / "mvdiff"
    config = load_train_mvdiff_config("tiny", {"dataset": str(dataset_dir), "output_dir": str(run)})
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


#: Stage 2 of the demo: the ``tiny`` preset at its 64² resolution, briefly.
GSLRM_DEMO_STEPS = 120
#: Val samples the demo evaluates (each also gets a per-scene fit).
EVAL_SAMPLES = 2


def _model_of(run: Path, payload: str) -> Path:
    """The payload folder (``pipeline``/``model``) of a run's last checkpoint."""
    from ..train.checkpoints import list_checkpoints

    _, folder = list_checkpoints(run, (payload,))[-1]
    return folder / payload


def _stage2(out_dir: Path, dataset_dir: Path, steps: int, progress: bool
            ) -> tuple[Path | None, list[str]]:
    """Train the tiny GS-LRM briefly on the dataset's views, resized to its 64²."""
    from ..data.layout import read_split
    from ..gslrm.train_config import load_train_gslrm_config
    from ..gslrm.trainer import train_gslrm

    if not read_split(dataset_dir, "train", missing_ok=True):
        return None, ["  stage 2   : skipped (the dataset has no train samples)"]
    run = out_dir / "gslrm"
    config = load_train_gslrm_config("tiny", {
        "dataset": str(dataset_dir), "output_dir": str(run), "max_steps": steps,
        "checkpoint_every": steps, "validate_every": steps})
    result = train_gslrm(config, progress=progress)
    (_, first), (_, last) = result.validations[0], result.validations[-1]
    return run, [
        f"  stage 2   : {run}",
        f"              tiny random GS-LRM trained {result.end_step} steps at 64²; val PSNR "
        f"{first['psnr']:.2f} → {last['psnr']:.2f} dB, on the mouse {first['psnr_masked']:.2f}"
        f" → {last['psnr_masked']:.2f} dB; checkpoints/, validation/, logs/",
    ]


def _infer_and_eval(out_dir: Path, recording_dir: Path, dataset_dir: Path,
                    pipeline: Path | None, model: Path | None, samples: int, progress: bool
                    ) -> tuple[Path, Path, list[str]]:
    """``infer`` on the first val sample's frame (camera 0 of the recording), then ``eval`` of
    the val split with the per-scene fit as the reference; the built-in models when
    ``pipeline`` and ``model`` are ``None``."""
    trained_here = model is not None
    from ..data.layout import read_split
    from ..fit.config import FitConfig
    from ..mvdiff.solvers import SamplingSettings
    from .evaluate import evaluate_dataset
    from .infer import infer

    val = read_split(dataset_dir, "val")
    frame = json.loads((dataset_dir / val[0] / "sample.json").read_text())["frame"]
    infer_dir = out_dir / "infer"
    sampler = SamplingSettings(solver="dpm++", steps=20)
    inferred = infer(infer_dir, gslrm=model, mvdiff=pipeline, recording=recording_dir,
                     frame=frame, camera=0, dataset=dataset_dir, sampler=sampler,
                     progress=progress)
    eval_dir = out_dir / "eval"
    evaluated = evaluate_dataset(
        dataset_dir, eval_dir, gslrm=model, mvdiff=pipeline,
        fit=load_config(FitConfig, "fit", "tiny"), samples=samples,
        sampler={"solver": "dpm++", "steps": 20}, progress=progress, builtin=not trained_here)
    means = evaluated.report["means"]
    lines = ["", inferred.format(), "", evaluated.format(), "",
             "In short (val samples; PSNR / PSNR on the mouse in dB and silhouette IoU on "
             "held-out cameras, Chamfer to the true surface in mm):"]
    for name, label in (("fit", "per-scene fit (reference)"),
                        ("stage2", "Stage 2 from the real views"),
                        ("end_to_end", "end to end (one image)")):
        entry = means.get(name)
        if entry is None:
            continue
        views = entry["views"].get("held_out") or next(iter(entry["views"].values()))
        chamfer = (entry.get("geometry") or {}).get("chamfer_mm")
        lines.append(f"  {label:<30} {_num(views['psnr'])} / {_num(views['psnr_masked'])}"
                     f"   IoU {_num(views.get('iou'))}   Chamfer {_num(chamfer)} mm")
    lines += TRAINED_HERE_NOTE if trained_here else BUILTIN_NOTE
    lines += [f"  Look at it: mouselift view {infer_dir}"]
    return infer_dir, eval_dir, lines


TRAINED_HERE_NOTE = [
    "  Tiny random models trained for minutes on a CPU: expect the fit far ahead. For",
    "  the real thing, fine-tune FaceLift's released weights on a GPU (README,",
    "  \"Training recipes\"), then run `mouselift infer` and `mouselift eval`."]
BUILTIN_NOTE = [
    "  The built-in models know the synthetic mouse only; for a lab's mice, fine-tune",
    "  FaceLift's released weights on GPUs (README, \"Training recipes\")."]


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
