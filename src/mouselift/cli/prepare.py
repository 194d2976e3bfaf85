"""``mouselift prepare``: recording → training dataset in FaceLift's sample layout."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import load_config, merge_overrides
from ..data.prepare.config import PrepareConfig
from .options import SET_HELP, help_with_default, parse_set_options

EPILOG = """\
**Examples**

Every frame of a recording, 512×512 crops, 2 worker processes:

    mouselift prepare markerless_mouse_1_nerf data/mouse512

Every 10th frame, 4 workers:

    mouselift prepare markerless_mouse_1_nerf data/mouse512 --every 10 --workers 4

1000 evenly spaced frames from the first minute, 256×256:

    mouselift prepare rec out --frames 0:6000 --num-samples 1000 --image-size 256

Cluster array job, task 3 of 16 (re-run any shard to finish the lists):

    mouselift prepare rec out --every 5 --shard 3/16

Re-running skips finished samples. Writes `OUT_DIR/sample_XXXXXX/images/cam_XXX.png` (RGBA) and
`opencv_cameras.json`, plus `train.txt`, `val.txt`, `manifest.jsonl`, `summary.json`.
"""


def prepare(
    recording_dir: Path = typer.Argument(
        ..., help="Recording in MAMMAL's layout (videos_undist/, simpleclick_undist/, new_cam.pkl)."
    ),
    out_dir: Path = typer.Argument(
        ..., help="Dataset folder to write (created; existing samples are kept)."
    ),
    image_size: int | None = typer.Option(
        None,
        "--image-size",
        help=help_with_default("Output image side in pixels.", PrepareConfig, "image_size"),
    ),
    every: int | None = typer.Option(
        None, "--every", help=help_with_default("Use every Nth frame.", PrepareConfig, "every")
    ),
    num_samples: int | None = typer.Option(
        None, "--num-samples", help="Use this many evenly spaced frames."
    ),
    frames: str | None = typer.Option(
        None, "--frames", help="Frame range a:b (b excluded) of the recording."
    ),
    radius_mm: float | None = typer.Option(
        None,
        "--radius-mm",
        help=help_with_default(
            "3D radius around the mouse that each crop covers.", PrepareConfig, "radius_mm"
        ),
    ),
    val_fraction: float | None = typer.Option(
        None,
        "--val-fraction",
        help=help_with_default(
            "Fraction of time blocks held out for validation.", PrepareConfig, "val_fraction"
        ),
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-j", help=help_with_default("Worker processes.", PrepareConfig, "workers")
    ),
    threads: int | None = typer.Option(
        None, "--threads", min=1, help="Threads of each worker rendering a frame's views (torch, "
        "OpenCV and BLAS run one each). [default: the available cores / workers]"
    ),
    shard: str | None = typer.Option(
        None, "--shard", help="Process only shard i of n (i/n, 0-based) of the selected frames."
    ),
    config: str | None = typer.Option(
        None, "--config", "-c", help="Preset name under mouselift/configs/prepare/ or a YAML file."
    ),
    set_values: list[str] = typer.Option([], "--set", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Crop, normalise and split a recording into FaceLift-layout training samples."""
    from ..data.prepare import prepare_dataset

    overrides = {
        "image_size": image_size,
        "every": every,
        "num_samples": num_samples,
        "frames": frames,
        "radius_mm": radius_mm,
        "val_fraction": val_fraction,
        "workers": workers,
        "threads": threads,
    }
    overrides = merge_overrides(overrides, parse_set_options(set_values))
    cfg = load_config(PrepareConfig, "prepare", config, overrides)
    summary = prepare_dataset(
        recording_dir, out_dir, cfg, shard=shard or (0, 1), progress=not quiet
    )
    typer.echo(summary.format())
