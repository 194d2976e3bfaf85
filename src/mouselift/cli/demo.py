"""``mouselift demo``: the whole available flow on a synthetic recording, on a CPU."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import OVERWRITE_OPTION

EPILOG = """\
**Examples**

With the built-in models when this installation has them (a recording they never saw → infer
one frame → eval against the per-scene fit); else the training demo:

    mouselift demo    # writes out/demo/

The training demo (tiny models trained from random weights on the demo's own recording):

    mouselift demo --train

    mouselift demo /tmp/mouselift-demo --frames 12 --quiet
"""


def demo(
    out_dir: Path = typer.Argument(
        Path("out/demo"),
        help="Folder for the demo outputs: new, empty, or an earlier demo's (then cleared first).",
    ),
    frames: int | None = typer.Option(
        None, "--frames", "-n", help="Frames to synthesise. [default: preset]"
    ),
    train: bool = typer.Option(False, "--train", help="Train tiny models of both stages first (the training demo), even when built-in models are installed."),
    overwrite: bool = OVERWRITE_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Synthesise a recording, prepare a dataset, infer one held-out frame and evaluate, with the built-in models (or, with --train or without them, tiny models trained first)."""
    from ..flows.demo import run_demo
    from ..weights import find_builtin

    if not train and find_builtin() is None:
        typer.echo("no built-in models installed (`make weights` builds them): the training "
                   "demo (mouselift demo --train)")
    result = run_demo(out_dir, frames=frames, progress=not quiet, overwrite=overwrite,
                      train=True if train else None)
    typer.echo(result.report)
