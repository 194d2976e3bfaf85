"""``mouselift demo``: the whole available flow on a synthetic recording, on a CPU."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import OVERWRITE_OPTION

EPILOG = """\
**Examples**

    mouselift demo    # writes out/demo/

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
    overwrite: bool = OVERWRITE_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Synthesise a recording, prepare a dataset, train tiny models of both stages, infer one held-out frame, evaluate."""
    from ..flows.demo import run_demo

    result = run_demo(out_dir, frames=frames, progress=not quiet, overwrite=overwrite)
    typer.echo(result.report)
