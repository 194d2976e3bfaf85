"""``mouselift reconstruct``: posed views → Gaussians with a GS-LRM checkpoint (Stage 2)."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import OVERWRITE_OPTION, THREADS_OPTION, require_existing

EPILOG = """\
**Examples**

The real views of a prepared sample with the built-in Stage 2 (no checkpoint to give; it knows
synthetic mice only):

    mouselift reconstruct out/dataset/sample_000000 out/rec

The real views of a prepared sample with FaceLift's released GS-LRM (on a GPU):

    mouselift reconstruct data/mouse512/sample_000120 out/rec_000120 --gslrm checkpoints/gslrm/ckpt_0000000000021125.pt --device cuda

With our fine-tuned checkpoint, LPIPS in the metrics, no crop box:

    mouselift reconstruct SAMPLE OUT --gslrm runs/gslrm/checkpoints/checkpoint-020000/model --vgg-weights vgg16.pth --lpips-weights lpips_vgg.pth --no-box

VIEWS is a folder in FaceLift's layout (`opencv_cameras.json` + the RGBA images it lists): a
prepared sample, or your own. Its views go through the model with their own cameras; held-out
views in `VIEWS/eval/` are only used for the metrics. Writes `gaussians.ply`, `turntable.mp4`,
`views.png` (renders over images) and `metrics.json`. The filters are FaceLift's inference filters
(opacity > 0.04; max scale < 0.1 unless z > 0; a crop box; corner floaters).
"""


def reconstruct(
    views: Path = typer.Argument(..., help="Folder with opencv_cameras.json + RGBA images (e.g. a prepared sample)."),
    out_dir: Path = typer.Argument(..., help="Folder for the outputs (created)."),
    gslrm: Path | None = typer.Option(None, "--gslrm", "-g", help="GS-LRM: our model folder, a checkpoint or run folder of `train gslrm` (its newest checkpoint), or FaceLift's .pt file (default: the built-in Stage 2)."),
    device: str = typer.Option("cpu", "--device", help="Torch device (cpu, cuda)."),
    threads: int | None = THREADS_OPTION,
    min_opacity: float = typer.Option(0.04, "--min-opacity", help="Drop Gaussians at or below this opacity."),
    max_scale: float = typer.Option(0.1, "--max-scale", help="Drop Gaussians this large or larger (unless z > 0)."),
    no_box: bool = typer.Option(False, "--no-box", help="Keep Gaussians outside FaceLift's crop box."),
    no_filters: bool = typer.Option(False, "--no-filters", help="Write every predicted Gaussian."),
    vgg_weights: Path | None = typer.Option(None, "--vgg-weights", help="Local VGG16 state dict for LPIPS."),
    lpips_weights: Path | None = typer.Option(None, "--lpips-weights", help="Local LPIPS linear-layer weights."),
    turntable_frames: int = typer.Option(48, "--turntable-frames", min=1, help="Frames of turntable.mp4."),
    overwrite: bool = OVERWRITE_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Reconstruct 3D Gaussians from posed views with a GS-LRM checkpoint (or the built-in one)."""
    require_existing(("VIEWS", views), ("--gslrm", gslrm), ("--vgg-weights", vgg_weights),
                     ("--lpips-weights", lpips_weights))
    from ..devices import resolve_device
    from ..flows.reconstruct import reconstruct as run
    from ..gslrm.inference import SplatFilters
    from ..threads import use_threads

    resolve_device(device)
    use_threads(threads)
    filters = SplatFilters.from_options(min_opacity=min_opacity, max_scale=max_scale,
                                        no_box=no_box, no_filters=no_filters)
    result = run(views, out_dir, gslrm, filters=filters, device=device, vgg_weights=vgg_weights,
                 lpips_weights=lpips_weights, turntable_frames=turntable_frames,
                 progress=not quiet, overwrite=overwrite)
    typer.echo(result.format())
