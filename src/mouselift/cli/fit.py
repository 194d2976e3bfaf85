"""``mouselift fit``: per-scene optimisation of Gaussians on one prepared sample."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import load_config, merge_overrides
from ..fit.config import FitConfig
from .options import (
    OVERWRITE_OPTION,
    SET_HELP,
    THREADS_OPTION,
    default_of,
    help_with_default,
    parse_set_options,
)

EPILOG = """\
**Examples**

Fit one sample of a prepared dataset (default preset: under a minute at 128×128, under 2 minutes
at 256×256 on a 2-core CPU); held-out views come from the sample's `eval/` folder if it has one:

    mouselift fit data/mouse128/sample_000120 out/fit_000120

Hold out rig view 3 instead, fit longer, another seed:

    mouselift fit data/mouse128/sample_000120 out/fit_h3 --holdout 3 --steps 1000 --seed 1

With LPIPS in the metrics (local weight files, never downloaded):

    mouselift fit SAMPLE OUT --vgg-weights vgg16.pth --lpips-weights lpips_vgg.pth

Quick check with the tiny preset (a few seconds):

    mouselift fit SAMPLE OUT --config tiny

Writes `OUT_DIR/gaussians.ply`, `turntable.mp4`, `views.png` (renders over targets) and
`metrics.json` (per-view and mean PSNR/SSIM, also on the mouse only, on white; LPIPS or the
reason it is unavailable; steps, seconds, number of Gaussians).
"""


def fit(
    sample_dir: Path = typer.Argument(
        ..., help="Prepared sample folder (opencv_cameras.json + images/, optional eval/)."
    ),
    out_dir: Path = typer.Argument(..., help="Folder for the outputs (created)."),
    steps: int | None = typer.Option(
        None, "--steps", "-n", help=help_with_default("Optimisation steps.", FitConfig, "steps")
    ),
    holdout: str | None = typer.Option(
        None,
        "--holdout",
        help="Held-out views: 'eval' (the sample's eval/ views when present), 'none', or the "
        "index K of a rig view to leave out of the fit. "
        f"[default: {default_of(FitConfig, 'holdout')}]",
    ),
    seed: int | None = typer.Option(
        None, "--seed", help=help_with_default("Random seed.", FitConfig, "seed")
    ),
    init_points: int | None = typer.Option(
        None,
        "--init-points",
        help=help_with_default("Initial number of Gaussians.", FitConfig, "init_points"),
    ),
    max_gaussians: int | None = typer.Option(
        None,
        "--max-gaussians",
        help=help_with_default("Cap on the number of Gaussians.", FitConfig, "max_gaussians"),
    ),
    turntable_frames: int | None = typer.Option(
        None,
        "--turntable-frames",
        help=help_with_default("Frames of turntable.mp4.", FitConfig, "turntable_frames"),
    ),
    vgg_weights: Path | None = typer.Option(
        None, "--vgg-weights", help="Local VGG16 state dict for LPIPS (torchvision layout)."
    ),
    lpips_weights: Path | None = typer.Option(
        None, "--lpips-weights", help="Local LPIPS linear-layer weights (or a combined file)."
    ),
    device: str = typer.Option(
        "cpu", "--device", help="Torch device, e.g. cpu or cuda (gsplat when installed)."
    ),
    threads: int | None = THREADS_OPTION,
    config: str | None = typer.Option(
        None, "--config", "-c", help="Preset name under mouselift/configs/fit/ or a YAML file."
    ),
    set_values: list[str] = typer.Option([], "--set", help=SET_HELP),
    overwrite: bool = OVERWRITE_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Optimise 3D Gaussians on one prepared sample's views; write PLY, turntable and metrics."""
    from ..fit import fit_sample
    from ..threads import use_threads

    use_threads(threads)
    overrides = {
        "steps": steps,
        "holdout": holdout,
        "seed": seed,
        "init_points": init_points,
        "max_gaussians": max_gaussians,
        "turntable_frames": turntable_frames,
    }
    overrides = merge_overrides(overrides, parse_set_options(set_values))
    cfg = load_config(FitConfig, "fit", config, overrides)
    result = fit_sample(
        sample_dir,
        out_dir,
        cfg,
        vgg_weights=vgg_weights,
        lpips_weights=lpips_weights,
        device=device,
        progress=not quiet,
        overwrite=overwrite,
    )
    typer.echo(result.format())
