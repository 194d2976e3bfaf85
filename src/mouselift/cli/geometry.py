"""``mouselift geometry``: depth targets for every sample of a prepared dataset (Stage 2's
geometry supervision)."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import require_existing

EPILOG = """\
**Examples**

Depth maps of every sample from its visual hull (the default), 2 processes:

    mouselift geometry data/mouse512 --workers 2

From the per-scene fit of each sample instead (slower; sees concavities), on one of 8 cluster jobs:

    mouselift geometry data/mouse512 --from fit --fit default --shard 3/8

`hull` carves the full frames of the recording the dataset was prepared from when it is at hand
(as prepare does; `--recording DIR` if it moved), else the samples' crops (looser where a crop
runs past its source image). Writes `SAMPLE/geometry/cam_XXX.png` (16-bit depth: camera-frame z in the sample's world units
× 10 000; 0 = outside the mask or unknown), `SAMPLE/geometry/eval/…` for held-out views and
`SAMPLE/geometry/geometry.json`, each sample atomically. A re-run skips samples already done with
the same source and settings (`--overwrite` recomputes them). `train gslrm` uses them for
`losses.depth`.
"""


def geometry(
    dataset: Path = typer.Argument(..., help="A dataset written by `mouselift prepare`."),
    source: str = typer.Option("hull", "--from", help="hull (the visual hull of the rig's masks) or fit (the per-scene fit of the views)."),
    shard: str = typer.Option("0/1", "--shard", help="i/n: the i-th of n contiguous blocks of the samples."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes (each with its share of the cores)."),
    voxel_px: float = typer.Option(2.0, "--voxel-px", help="hull: voxel side in pixels of the views at the mouse."),
    fit: str = typer.Option("tiny", "--fit", help="fit: the fit preset or YAML file."),
    recording: Path | None = typer.Option(None, "--recording", help="hull: the recording the dataset was prepared from, to carve its full frames as prepare does [default: the one summary.json names, when it is here]."),
    crops_only: bool = typer.Option(False, "--crops-only", help="hull: carve the samples' crops even when the recording is at hand."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Recompute samples that already have targets of the same source and settings."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Depth maps of the mouse for every view of every sample (no ground truth needed)."""
    require_existing(("DATASET", dataset), ("--recording", recording))
    from ..flows.geometry import geometry_dataset

    where = None if crops_only else (recording or "auto")
    result = geometry_dataset(dataset, source=source, shard=shard,  # type: ignore[arg-type]
                              workers=workers, voxel_px=voxel_px, fit=fit, recording=where,
                              overwrite=overwrite, progress=not quiet)
    typer.echo(result.format())
    if result.failed:
        raise typer.Exit(1)
