"""``mouselift locator``: fit a prepared dataset's one-view locator (``DATASET/locator.json``)."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import require_existing

EPILOG = """\
**Examples**

Fit (or refit) the locator of a dataset — `prepare` fits it already; this serves datasets
prepared by an older mouselift (their masks' shapes are measured from the recording and added
to the records) and prints how well each camera places the mouse on the val split:

    mouselift locator data/mouse512

The recording moved since `prepare`:

    mouselift locator data/mouse512 --recording /data/markerless_mouse_1_nerf

The locator maps one calibrated view's mask to the all-view mouse centre, per camera; it is
fitted on the train split (frames with the whole mouse in that view and at least 3 views holding
the whole mouse) and measured on val. `infer` uses it for a calibrated image or a recording
frame; training copies it into both stages' checkpoints beside the rig (`rig/locator.json`).
"""


def locator(
    dataset: Path = typer.Argument(..., help="A dataset written by `mouselift prepare`."),
    recording: Path | None = typer.Option(None, "--recording", help="The recording the dataset was prepared from (its calibration; its masks where records lack shapes) [default: the one summary.json names]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Fit the one-view locator (one calibrated view's mask → the mouse's 3D centre)."""
    require_existing(("DATASET", dataset), ("--recording", recording))
    from ..data.framing.locator import LOCATOR_FILE, format_scores, locator_line
    from ..data.prepare.locator import fit_dataset_locator

    result = fit_dataset_locator(dataset, recording, progress=not quiet)
    typer.echo(f"locator → {dataset / LOCATOR_FILE}")
    typer.echo(f"  {locator_line(result.locator)}")
    typer.echo("  one-view centre vs all-view centre on val, mm (whole mouse in view | mask on "
               "the image border):")
    for line in format_scores(result.scores):
        typer.echo(f"    {line}")
