"""``mouselift synth``: render a synthetic recording in MAMMAL's layout, with ground truth."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import load_config

EPILOG = """\
**Examples**

Default clip (60 frames at half resolution, the real 6-camera rig):

    mouselift synth out/synth

Longer full-resolution clip with two extra held-out cameras, another seed:

    mouselift synth out/synth_full --frames 600 --scale 1.0 --eval-cameras 2 --seed 7

From a preset or a YAML file (options given on the command line win):

    mouselift synth out/tiny --config tiny

Writes `videos_undist/{k}.mp4`, `simpleclick_undist/{k}.mp4`, `new_cam.pkl`,
`ground_truth.npz`/`.json`, and `eval/` (same layout) when `--eval-cameras` > 0.
"""


def synth(
    out_dir: Path = typer.Argument(
        ..., help="Folder to write the recording into (must be new or empty)."
    ),
    frames: int | None = typer.Option(
        None, "--frames", "-n", help="Number of frames. [default: 60]"
    ),
    fps: float | None = typer.Option(
        None, "--fps", help="Frame rate of the videos. [default: 100]"
    ),
    scale: float | None = typer.Option(
        None, "--scale", help="Resolution scale of the real 1152×1024 cameras. [default: 0.5]"
    ),
    seed: int | None = typer.Option(
        None, "--seed", help="Random seed (the output is deterministic). [default: 0]"
    ),
    eval_cameras: int | None = typer.Option(
        None, "--eval-cameras", help="Extra held-out cameras written to eval/. [default: 0]"
    ),
    config: str | None = typer.Option(
        None, "--config", "-c", help="Preset name under configs/synth/ or a YAML file."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing non-empty OUT_DIR."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render a synthetic mouse recording (videos, mask videos, calibration, ground truth)."""
    from ..data.synth import SynthConfig, synthesize

    overrides = {
        "frames": frames,
        "fps": fps,
        "scale": scale,
        "seed": seed,
        "eval_cameras": eval_cameras,
    }
    cfg = load_config(SynthConfig, "synth", config, overrides)
    result = synthesize(out_dir, cfg, progress=not quiet, overwrite=overwrite)
    typer.echo(result.format() if hasattr(result, "format") else str(result))
