"""Entry point of the ``mouselift`` command.

Each sub-command lives in its own module and only parses options, calls the library and prints a
summary. User mistakes (:class:`~mouselift.errors.MouseliftError`) are printed as one line on
stderr with exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer

from .. import __version__
from ..errors import MouseliftError
from . import demo, embeds, fit, infer, prepare, reconstruct, synth, train, turntable, view
from . import eval as eval_cli

app = typer.Typer(
    name="mouselift",
    help=(
        "Lift a single image of a laboratory mouse to 3D Gaussians (FaceLift's multi-view "
        "diffusion → GS-LRM pipeline, adapted to calibrated multi-camera mouse rigs)."
    ),
    epilog="Run `mouselift COMMAND --help` for the options and examples of each command.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)

app.command("synth", no_args_is_help=True, epilog=synth.EPILOG)(synth.synth)
app.command("prepare", no_args_is_help=True, epilog=prepare.EPILOG)(prepare.prepare)
app.command("demo", epilog=demo.EPILOG)(demo.demo)
app.command("fit", no_args_is_help=True, epilog=fit.EPILOG)(fit.fit)
app.command("turntable", no_args_is_help=True, epilog=turntable.EPILOG)(turntable.turntable)
app.command("embeds", no_args_is_help=True, epilog=embeds.EPILOG)(embeds.embeds)
app.command("reconstruct", no_args_is_help=True, epilog=reconstruct.EPILOG)(
    reconstruct.reconstruct)
app.command("view", no_args_is_help=True, epilog=view.EPILOG)(view.view)
app.command("infer", no_args_is_help=True, epilog=infer.EPILOG)(infer.infer)
app.command("eval", no_args_is_help=True, epilog=eval_cli.EPILOG)(eval_cli.eval_command)

train_app = typer.Typer(
    name="train",
    help="Train a stage: `mvdiff` (multi-view diffusion) or `gslrm` (GS-LRM). Runs under "
    "`accelerate launch` too.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
train_app.command("mvdiff", epilog=train.MVDIFF_EPILOG)(train.mvdiff)
train_app.command("gslrm", epilog=train.GSLRM_EPILOG)(train.gslrm)
app.add_typer(train_app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mouselift {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Lift a single image of a laboratory mouse to 3D Gaussians."""


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user errors become one line on stderr and exit status 2.

    Usage errors (unknown option, missing argument) are reported by click with status 2 too.
    """
    try:
        app(args=argv, prog_name="mouselift")
    except MouseliftError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
