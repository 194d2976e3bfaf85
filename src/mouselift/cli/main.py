"""Entry point of the ``mouselift`` command.

Each sub-command lives in its own module and only parses options, calls the library and prints a
summary. User mistakes (:class:`~mouselift.errors.MouseliftError`) are printed as one line on
stderr with exit status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer

# typer 0.29 parses with its own copy of click: its usage errors are these classes
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from .. import __version__
from ..errors import MouseliftError
from . import (
    demo,
    embeds,
    fit,
    geometry,
    infer,
    locator,
    prepare,
    reconstruct,
    synth,
    train,
    turntable,
    view,
)
from . import eval as eval_cli
from .help import HELP_WIDTH, ConfigHelp, command

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
    rich_markup_mode=None,  # plain help: examples survive a pipe and a paste (cli/help.py)
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": HELP_WIDTH},
)

app.command("synth", no_args_is_help=True, epilog=synth.EPILOG,
            cls=command(ConfigHelp("mouselift.data.synth.config.SynthConfig", "synth")))(
    synth.synth)
app.command("prepare", no_args_is_help=True, epilog=prepare.EPILOG,
            cls=command(ConfigHelp("mouselift.data.prepare.config.PrepareConfig", "prepare")))(
    prepare.prepare)
app.command("geometry", no_args_is_help=True, epilog=geometry.EPILOG, cls=command())(
    geometry.geometry)
app.command("locator", no_args_is_help=True, epilog=locator.EPILOG, cls=command())(
    locator.locator)
app.command("demo", epilog=demo.EPILOG, cls=command())(demo.demo)
app.command("fit", no_args_is_help=True, epilog=fit.EPILOG,
            cls=command(ConfigHelp("mouselift.fit.config.FitConfig", "fit")))(fit.fit)
app.command("turntable", no_args_is_help=True, epilog=turntable.EPILOG, cls=command())(
    turntable.turntable)
app.command("embeds", no_args_is_help=True, epilog=embeds.EPILOG, cls=command())(embeds.embeds)
app.command("reconstruct", no_args_is_help=True, epilog=reconstruct.EPILOG, cls=command())(
    reconstruct.reconstruct)
app.command("view", no_args_is_help=True, epilog=view.EPILOG, cls=command())(view.view)
app.command("infer", no_args_is_help=True, epilog=infer.EPILOG, cls=command())(infer.infer)
app.command("eval", no_args_is_help=True, epilog=eval_cli.EPILOG, cls=command())(
    eval_cli.eval_command)

train_app = typer.Typer(
    name="train",
    help="Train a stage: `mvdiff` (multi-view diffusion), `gslrm` (GS-LRM) or `vae` (a Stage-1 "
    "preset's own autoencoder). Runs under "
    "`accelerate launch` too.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: examples survive a pipe and a paste (cli/help.py)
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": HELP_WIDTH},
)
train_app.command("mvdiff", epilog=train.MVDIFF_EPILOG, cls=command(
    ConfigHelp("mouselift.mvdiff.train_config.TrainMVDiffConfig", "train_mvdiff")))(train.mvdiff)
train_app.command("gslrm", epilog=train.GSLRM_EPILOG, cls=command(
    ConfigHelp("mouselift.gslrm.train_config.TrainGSLRMConfig", "train_gslrm")))(train.gslrm)
train_app.command("vae", epilog=train.VAE_EPILOG, cls=command(
    ConfigHelp("mouselift.mvdiff.train_config.TrainVAEConfig", "train_vae")))(train.vae)
train_app.command("builtin", no_args_is_help=True, epilog=train.BUILTIN_EPILOG, cls=command(
    ConfigHelp("mouselift.flows.builtin.BuiltinRecipe", "builtin")))(train.builtin)
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

    Usage errors (unknown option, missing argument, bad value) are one line too, naming the
    command whose ``--help`` explains it.
    """
    try:
        code = app(args=argv, prog_name="mouselift", standalone_mode=False)
    except MouseliftError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except NoArgsIsHelpError as exc:  # a command given nothing: its help, as click shows it
        exc.show()
        sys.exit(exc.exit_code)
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "mouselift"
        message = " ".join(exc.format_message().split())
        typer.echo(f"error: {message} (see `{where} --help`)", err=True)
        sys.exit(exc.exit_code)
    except ClickException as exc:
        typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
