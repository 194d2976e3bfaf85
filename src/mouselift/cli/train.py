"""``mouselift train mvdiff``, ``mouselift train gslrm`` and ``mouselift train vae``: fine-tune
(or train from random init) Stage 1, Stage 2, or a Stage-1 pipeline's own autoencoder, one
command body for all (:func:`_train`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from .options import SET_HELP, THREADS_OPTION, parse_set_options, require_existing

# The options both stages' commands take (the same meaning and config key in both).
DATASET_OPTION = typer.Option(None, "--dataset", "-d", help="Prepared dataset folder.")
OUTPUT_OPTION = typer.Option(None, "--output", "-o", help="Run folder (created).")
RESUME_OPTION = typer.Option(None, "--resume", help="'latest' (this run's newest complete checkpoint), a checkpoint folder, its payload folder, or a run folder (its newest).")
MAX_STEPS_OPTION = typer.Option(None, "--max-steps", help="Optimizer steps in total.")
BATCH_SIZE_OPTION = typer.Option(None, "--batch-size",
                                 help="Objects per process per micro-batch.")
LEARNING_RATE_OPTION = typer.Option(None, "--lr", help="Learning rate.")
MIXED_PRECISION_OPTION = typer.Option(None, "--mixed-precision", help="no, fp16 or bf16.")
LOG_WITH_OPTION = typer.Option(None, "--log-with", help="tensorboard, wandb or none.")
SEED_OPTION = typer.Option(None, "--seed", help="Random seed.")
SET_OPTION = typer.Option([], "--set", help=SET_HELP)
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="No progress bar.")

MVDIFF_EPILOG = """\
**Examples**

Fine-tune FaceLift's multi-view diffusion on a prepared mouse dataset (preset `mouse`: lr 5e-5,
batch 4 × accumulation 4, bf16, EMA, min-SNR 5, condition drop 0.05, the dataset's own rig):

    mouselift train mvdiff --pipeline checkpoints/mvdiffusion/pipeckpts --dataset data/mouse512 --output runs/mvd

Resume after an interruption (exactly where it stopped; same settings):

    mouselift train mvdiff --pipeline checkpoints/mvdiffusion/pipeckpts --dataset data/mouse512 --output runs/mvd --resume latest

Several GPUs or nodes: the same command under `accelerate launch` (configure with `accelerate config`):

    accelerate launch --multi_gpu --num_processes 4 -m mouselift train mvdiff --pipeline PIPE --dataset DATA --output runs/mvd

A tiny random pipeline on a CPU in seconds (tests, the demo):

    mouselift train mvdiff --config tiny --dataset out/demo/dataset --output runs/tiny

Any config key from the command line:

    mouselift train mvdiff ... --set camera_embedding=true --set augment.brightness=[0.8,1.2]

Writes `OUTPUT/checkpoints/checkpoint-NNNNNN/` (`pipeline/`: diffusers layout with EMA weights
and the rig; `training_state/`: for resuming), `OUTPUT/validation/step-NNNNNN.png` (rows: input |
generated views, then the real views), tensorboard logs in `OUTPUT/logs/`.
"""


def mvdiff(
    config: str = typer.Option(
        "mouse", "--config", "-c", help="Preset under mouselift/configs/train_mvdiff/ or a YAML file."
    ),
    pipeline: Path | None = typer.Option(
        None, "--pipeline", "-p", help="Pretrained Stage-1 pipeline to fine-tune: FaceLift's pipeckpts, one of our pipeline folders, a checkpoint folder or a run folder (its newest checkpoint)."
    ),
    init: str | None = typer.Option(
        None, "--init", help="Start from a random pipeline of this mouselift/configs/mvdiff preset (tiny)."
    ),
    dataset: Path | None = DATASET_OPTION,
    output: Path | None = OUTPUT_OPTION,
    resume: str | None = RESUME_OPTION,
    max_steps: int | None = MAX_STEPS_OPTION,
    batch_size: int | None = BATCH_SIZE_OPTION,
    learning_rate: float | None = LEARNING_RATE_OPTION,
    mixed_precision: str | None = MIXED_PRECISION_OPTION,
    rig: str | None = typer.Option(
        None, "--rig", help="dataset, pipeline, facelift, or a rig folder/file."
    ),
    log_with: str | None = LOG_WITH_OPTION,
    seed: int | None = SEED_OPTION,
    set_values: list[str] = SET_OPTION,
    threads: int | None = THREADS_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Train the multi-view diffusion stage (accelerate: CPU, GPU, multi-GPU, multi-node)."""
    from ..mvdiff.train_config import load_train_mvdiff_config
    from ..mvdiff.trainer import train_mvdiff

    options = {
        "pipeline": _text(pipeline), "init": init, "dataset": _text(dataset),
        "output_dir": _text(output), "max_steps": max_steps, "batch_size": batch_size,
        "learning_rate": learning_rate, "mixed_precision": mixed_precision, "rig": rig,
        "log_with": log_with, "seed": seed,
    }
    _train(load_train_mvdiff_config, train_mvdiff, config, options, set_values, resume, quiet,
           threads, {"--dataset": "dataset", "--pipeline": "pipeline"})


GSLRM_EPILOG = """\
**Examples**

Fine-tune FaceLift's GS-LRM on a prepared mouse dataset (preset `mouse`: lr 2e-5, 20k steps,
100 warm-up, 5 of 6 views as inputs, all 6 as targets, masked MSE, bf16):

    mouselift train gslrm --checkpoint checkpoints/gslrm/ckpt_0000000000021125.pt --dataset data/mouse512 --output runs/gslrm

Resume exactly where it stopped:

    mouselift train gslrm --checkpoint checkpoints/gslrm/ckpt_0000000000021125.pt --dataset data/mouse512 --output runs/gslrm --resume latest

Several GPUs or nodes: the same command under `accelerate launch`:

    accelerate launch --multi_gpu --num_processes 4 -m mouselift train gslrm --checkpoint CKPT --dataset DATA --output runs/gslrm

FaceLift's perceptual loss (its VGG19 weights are inside its GS-LRM checkpoint):

    mouselift train gslrm ... --set losses.perceptual=0.5 --set perceptual_weights=checkpoints/gslrm/ckpt_0000000000021125.pt

A tiny random GS-LRM on a CPU (tests, the demo):

    mouselift train gslrm --config tiny --dataset out/demo/dataset --output runs/gslrm_tiny

Writes `OUTPUT/checkpoints/checkpoint-NNNNNN/model/` (safetensors, config, rig: load with
`mouselift reconstruct --gslrm`), `training_state/` (for resuming), `OUTPUT/validation/` (renders
over targets) and tensorboard logs in `OUTPUT/logs/`.
"""


def gslrm(
    config: str = typer.Option(
        "mouse", "--config", "-c", help="Preset under mouselift/configs/train_gslrm/ or a YAML file."
    ),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="Initial weights: FaceLift's GS-LRM .pt, one of our model folders, a checkpoint folder or a run folder (its newest checkpoint)."
    ),
    init: str | None = typer.Option(
        None, "--init", help="Start from a random model of this mouselift/configs/gslrm preset (tiny)."
    ),
    dataset: Path | None = DATASET_OPTION,
    output: Path | None = OUTPUT_OPTION,
    resume: str | None = RESUME_OPTION,
    max_steps: int | None = MAX_STEPS_OPTION,
    batch_size: int | None = BATCH_SIZE_OPTION,
    learning_rate: float | None = LEARNING_RATE_OPTION,
    mixed_precision: str | None = MIXED_PRECISION_OPTION,
    log_with: str | None = LOG_WITH_OPTION,
    seed: int | None = SEED_OPTION,
    set_values: list[str] = SET_OPTION,
    threads: int | None = THREADS_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Train GS-LRM (Stage 2) on a prepared dataset (accelerate: CPU, GPU, multi-GPU, multi-node)."""
    from ..gslrm.train_config import load_train_gslrm_config
    from ..gslrm.trainer import train_gslrm

    options = {
        "checkpoint": _text(checkpoint), "init": init, "dataset": _text(dataset),
        "output_dir": _text(output), "max_steps": max_steps, "batch_size": batch_size,
        "learning_rate": learning_rate, "mixed_precision": mixed_precision,
        "log_with": log_with, "seed": seed,
    }
    _train(load_train_gslrm_config, train_gslrm, config, options, set_values, resume, quiet,
           threads, {"--dataset": "dataset", "--checkpoint": "checkpoint"})


VAE_EPILOG = """\
**Examples**

Train the autoencoder of the `small` Stage-1 preset on a prepared dataset (random start, all
its views on white, black and grey), then a pipeline of that preset around it:

    mouselift train vae --config small --dataset data/synth_small --output runs/vae
    mouselift train mvdiff --config small --dataset data/synth_small --output runs/mvd --set vae=runs/vae

Resume exactly where it stopped:

    mouselift train vae --config small --dataset data/synth_small --output runs/vae --resume latest

A few steps of the `tiny` preset's autoencoder on a CPU (tests):

    mouselift train vae --config tiny --dataset out/demo/dataset --output runs/vae_tiny

Writes `OUTPUT/checkpoints/checkpoint-NNNNNN/vae/` (diffusers AutoencoderKL: config.json with the
measured scaling_factor, safetensors), `training_state/` (for resuming), `OUTPUT/validation/`
(real views over their reconstructions; val PSNR in the logs) and tensorboard logs in
`OUTPUT/logs/`.
"""


def vae(
    config: str = typer.Option(
        "small", "--config", "-c", help="Preset under mouselift/configs/train_vae/ or a YAML file."
    ),
    init: str | None = typer.Option(
        None, "--init", help="The mouselift/configs/mvdiff preset whose autoencoder is trained."
    ),
    dataset: Path | None = DATASET_OPTION,
    output: Path | None = OUTPUT_OPTION,
    resume: str | None = RESUME_OPTION,
    max_steps: int | None = MAX_STEPS_OPTION,
    batch_size: int | None = BATCH_SIZE_OPTION,
    learning_rate: float | None = LEARNING_RATE_OPTION,
    mixed_precision: str | None = MIXED_PRECISION_OPTION,
    log_with: str | None = LOG_WITH_OPTION,
    seed: int | None = SEED_OPTION,
    set_values: list[str] = SET_OPTION,
    threads: int | None = THREADS_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Train a Stage-1 pipeline's own autoencoder (VAE) on a prepared dataset's views."""
    from ..mvdiff.train_config import load_train_vae_config
    from ..mvdiff.vae_trainer import train_vae

    options = {
        "init": init, "dataset": _text(dataset), "output_dir": _text(output),
        "max_steps": max_steps, "batch_size": batch_size, "learning_rate": learning_rate,
        "mixed_precision": mixed_precision, "log_with": log_with, "seed": seed,
    }
    _train(load_train_vae_config, train_vae, config, options, set_values, resume, quiet,
           threads, {"--dataset": "dataset"})


BUILTIN_EPILOG = """\
**Examples**

Make the built-in models from nothing but the package (a synthetic recording, its dataset, the
autoencoder, Stage 1, Stage 2; a few hours on 2 CPU cores); re-run the same command to resume:

    mouselift train builtin build/builtin

A minute-long run of the same recipe with tiny models (checks the mechanism):

    mouselift train builtin build/builtin_tiny --config tiny

Writes `OUT/recording/`, `OUT/dataset/`, `OUT/runs/{vae,mvdiff,gslrm}/` and `OUT/models/stage1/`
(the Stage-1 pipeline folder) + `OUT/models/stage2/` (the GS-LRM folder), each model with a
`mouselift.json` naming this command, the recipe, the seed and the data, and the SHA-256 of its
weight files.
"""


def builtin(
    out: Path = typer.Argument(..., help="Folder of the whole build (created; re-run to resume)."),
    config: str = typer.Option("small", "--config", "-c", help="Recipe under mouselift/configs/builtin/ or a YAML file."),
    set_values: list[str] = SET_OPTION,
    threads: int | None = THREADS_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Make the built-in models: synthetic data, then every stage, seeded and resumable."""
    import shlex
    import sys

    from ..flows.builtin import load_builtin_recipe, train_builtin
    from ..threads import use_threads

    use_threads(threads)
    recipe = load_builtin_recipe(config, parse_set_options(set_values))
    command = "mouselift " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = train_builtin(out, recipe, recipe_name=config, command=command,
                           progress=not quiet)
    typer.echo(result.format())


def _text(path: Path | None) -> str | None:
    """A path option as a config value (``None``: not given)."""
    return str(path) if path else None


def _train(load: Callable[[str, dict[str, Any]], Any], train: Callable[..., Any], config: str,
           options: dict[str, Any], set_values: list[str], resume: str | None,
           quiet: bool, threads: int | None, paths: dict[str, str]) -> None:
    """The body of both commands: ``options`` (``None``: not given), then the ``--set`` values,
    override the preset or file ``config`` (read by the stage's loader ``load``); the config's
    ``paths`` (option → key) must exist before anything is loaded; the stage's
    ``train`` runs it, in each process with ``threads`` threads (default: the cores divided among
    the launch's processes), and the main process prints one summary."""
    from ..config import merge_overrides
    from ..threads import use_threads

    use_threads(threads)
    overrides = merge_overrides(options, parse_set_options(set_values))
    loaded = load(config, overrides)
    require_existing(*((option, getattr(loaded, key)) for option, key in paths.items()))
    _report(train(loaded, resume=resume, progress=not quiet))


def _report(result: Any) -> None:
    """One summary per run (the main process's), not one per process."""
    if not result.main_process:
        return
    last = result.checkpoints[-1] if result.checkpoints else None
    if result.resumed_from is not None:
        typer.echo(f"resumed from: {result.resumed_from}")
    typer.echo(f"trained steps {result.start_step} → {result.end_step}"
               + (f"; loss {result.losses[0]:.4f} → {result.losses[-1]:.4f}"
                  if result.losses else ""))
    if last is not None:
        typer.echo(f"last checkpoint: {last}")
