"""``mouselift train mvdiff``: fine-tune (or train from random init) Stage 1."""

from __future__ import annotations

from pathlib import Path

import typer

from .options import parse_set_options

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
        None, "--pipeline", "-p", help="Pretrained Stage-1 pipeline folder to fine-tune."
    ),
    init: str | None = typer.Option(
        None, "--init", help="Start from a random pipeline of this mouselift/configs/mvdiff preset (tiny)."
    ),
    dataset: Path | None = typer.Option(None, "--dataset", "-d", help="Prepared dataset folder."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Run folder (created)."),
    resume: str | None = typer.Option(
        None, "--resume", help="'latest' or a checkpoint folder of this run."
    ),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Optimizer steps in total."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Objects per process per micro-batch."
    ),
    learning_rate: float | None = typer.Option(None, "--lr", help="Learning rate."),
    mixed_precision: str | None = typer.Option(
        None, "--mixed-precision", help="no, fp16 or bf16."
    ),
    rig: str | None = typer.Option(
        None, "--rig", help="dataset, pipeline, facelift, or a rig folder/file."
    ),
    log_with: str | None = typer.Option(None, "--log-with", help="tensorboard, wandb or none."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed."),
    set_values: list[str] = typer.Option(
        [], "--set", help="Override any config key: KEY=VALUE (YAML value), repeatable."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Train the multi-view diffusion stage (accelerate: CPU, GPU, multi-GPU, multi-node)."""
    from ..config import merge_overrides
    from ..mvdiff.train_config import load_train_config
    from ..mvdiff.trainer import train_mvdiff

    overrides = {
        "pipeline": str(pipeline) if pipeline else None,
        "init": init,
        "dataset": str(dataset) if dataset else None,
        "output_dir": str(output) if output else None,
        "max_steps": max_steps,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "mixed_precision": mixed_precision,
        "rig": rig,
        "log_with": log_with,
        "seed": seed,
    }
    overrides = merge_overrides(overrides, parse_set_options(set_values))
    cfg = load_train_config(config, overrides)
    result = train_mvdiff(cfg, resume=resume, progress=not quiet)
    if not result.main_process:  # one summary per run, not per process
        return
    last = result.checkpoints[-1] if result.checkpoints else None
    typer.echo(f"trained steps {result.start_step} → {result.end_step}"
               + (f"; loss {result.losses[0]:.4f} → {result.losses[-1]:.4f}"
                  if result.losses else ""))
    if last is not None:
        typer.echo(f"last checkpoint: {last}")
