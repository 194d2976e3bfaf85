"""``mouselift eval``: the fit, Stage 2, Stage 1 and the whole pipeline on a prepared split."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import OVERWRITE_OPTION, THREADS_OPTION, require_existing

EPILOG = """\
**Examples**

Stage 2 from the real views, Stage 1 and end to end on the val split (GPU), with LPIPS:

    mouselift eval data/mouse512 out/eval --gslrm runs/gslrm/checkpoints/checkpoint-020000/model --mvdiff runs/mvd/checkpoints/checkpoint-010000/pipeline --device cuda --vgg-weights vgg16.pth --lpips-weights lpips_vgg.pth

Stage 2 only, on 20 samples spread over the split:

    mouselift eval data/mouse512 out/eval_s2 --gslrm checkpoints/gslrm/ckpt_0000000000021125.pt --samples 20 --device cuda

The per-scene fit as the reference (default preset, 400 steps per sample), on a CPU:

    mouselift eval out/dataset out/eval_fit --fit default --samples 4

The ground truth of a synthetic recording moved since `prepare` (3D metrics):

    mouselift eval out/dataset out/eval --gslrm runs/gslrm_tiny/checkpoints/checkpoint-000200/model --recording out/synth

Which evaluations run depends on what is given: `--fit PRESET` the per-scene fit, `--gslrm` Stage 2
from the real views, `--mvdiff` with `--gslrm` Stage 1 (generated vs real views) and end to end
(generated views → Gaussians → renders at the sample's real cameras). Image metrics on white:
PSNR, SSIM, both also over the mouse only, LPIPS with local VGG/LPIPS weights. 3D metrics where
the dataset's source recording has ground truth (synthetic recordings; found from the dataset's
`summary.json`, or `--recording`): Chamfer distance and F-score at 2 and 5 mm of the
opacity-weighted Gaussian centres in world mm. Writes `OUT/eval.json` (per sample, per
evaluation, means, what was skipped and why) and `OUT/eval.png` (metrics over time, best and
worst samples), and prints a table of the means.
"""


def eval_command(
    dataset: Path = typer.Argument(..., help="Prepared dataset folder (mouselift prepare)."),
    out_dir: Path = typer.Argument(..., help="Folder for eval.json and eval.png (created)."),
    split: str = typer.Option("val", "--split", help="Split list of the dataset to evaluate on."),
    gslrm: Path | None = typer.Option(None, "--gslrm", "-g", help="Stage-2 GS-LRM: our model folder, a checkpoint or run folder of `train gslrm` (its newest checkpoint), or FaceLift's .pt."),
    mvdiff: Path | None = typer.Option(None, "--mvdiff", "-m", help="Stage-1 pipeline: a pipeline folder, a checkpoint or run folder of `train mvdiff` (its newest checkpoint), or FaceLift's pipeckpts (needs --gslrm too)."),
    builtin: bool = typer.Option(False, "--builtin", help="Evaluate the built-in models (the default when neither --gslrm, --mvdiff nor --fit is given and they are installed)."),
    fit: str | None = typer.Option(None, "--fit", help="Run the per-scene fit on each sample as the reference: a preset (tiny, default) or a YAML file."),
    fit_steps: int | None = typer.Option(None, "--fit-steps", min=1, help="Steps of the per-scene fit (overrides the preset)."),
    samples: int | None = typer.Option(None, "--samples", "-n", min=1, help="At most N samples, evenly spaced over the split."),
    recording: Path | None = typer.Option(None, "--recording", help="Source recording with ground_truth.npz (default: the one the dataset's summary.json names)."),
    vgg_weights: Path | None = typer.Option(None, "--vgg-weights", help="Local VGG16 state dict for LPIPS."),
    lpips_weights: Path | None = typer.Option(None, "--lpips-weights", help="Local LPIPS linear-layer weights."),
    device: str = typer.Option("cpu", "--device", help="Torch device (cpu, cuda)."),
    threads: int | None = THREADS_OPTION,
    dtype: str | None = typer.Option(None, "--dtype", help="Stage-1 dtype: fp32, bf16, fp16 [default: fp32 on CPU, bf16 on CUDA]."),
    seed: int = typer.Option(0, "--seed", help="Seed of each sample's Stage-1 generation."),
    solver: str = typer.Option("ddim", "--solver", help="Stage-1 sampler: ddim (FaceLift's) or dpm++."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Stage-1 sampling steps [default: 50 for ddim, 20 for dpm++]."),
    guidance: float | None = typer.Option(None, "--guidance", help="Classifier-free guidance scale [default: 3]."),
    eta: float | None = typer.Option(None, "--eta", help="DDIM eta [default: 1, FaceLift's]."),
    no_filters: bool = typer.Option(False, "--no-filters", help="Keep every Gaussian GS-LRM predicts (no inference filters)."),
    overwrite: bool = OVERWRITE_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Evaluate the fit, Stage 2, Stage 1 and the whole pipeline on a prepared split."""
    from ..config import load_config
    from ..fit.config import FitConfig
    from ..mvdiff.solvers import SamplingSettings

    require_existing(("DATASET", dataset), ("--gslrm", gslrm), ("--mvdiff", mvdiff),
                     ("--recording", recording), ("--vgg-weights", vgg_weights),
                     ("--lpips-weights", lpips_weights))
    sampler = {"solver": solver, "steps": steps, "guidance": guidance, "eta": eta}
    SamplingSettings.from_options(**sampler)
    fit_config = None
    if fit is not None:
        fit_config = load_config(FitConfig, "fit", fit, {"steps": fit_steps} if fit_steps else None)
    from ..devices import resolve_device
    from ..flows.evaluate import evaluate_dataset
    from ..gslrm.inference import SplatFilters
    from ..threads import use_threads

    resolve_device(device)
    use_threads(threads)
    filters = (SplatFilters(min_opacity=None, max_scale=None, box=None, corner_floaters=None)
               if no_filters else None)
    result = evaluate_dataset(
        dataset, out_dir, split=split, gslrm=gslrm, mvdiff=mvdiff, fit=fit_config,
        samples=samples, recording=recording, vgg_weights=vgg_weights,
        lpips_weights=lpips_weights, device=device, dtype=dtype, seed=seed, sampler=sampler,
        filters=filters, progress=not quiet, overwrite=overwrite,
        builtin=True if builtin else None)
    typer.echo(result.format())
