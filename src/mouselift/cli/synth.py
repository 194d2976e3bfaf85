"""``mouselift synth``: render a synthetic recording in MAMMAL's layout, with ground truth."""

from __future__ import annotations

from pathlib import Path

import typer

from ..config import load_config, merge_overrides
from ..data.synth.config import SynthConfig
from .options import SET_HELP, help_with_default, parse_set_options

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
        None, "--frames", "-n", help=help_with_default("Number of frames.", SynthConfig, "frames")
    ),
    fps: float | None = typer.Option(
        None, "--fps", help=help_with_default("Frame rate of the videos.", SynthConfig, "fps")
    ),
    scale: float | None = typer.Option(
        None,
        "--scale",
        help=help_with_default(
            "Resolution scale of the real 1152×1024 cameras.", SynthConfig, "scale"
        ),
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help=help_with_default("Random seed (the output is deterministic).", SynthConfig, "seed"),
    ),
    eval_cameras: int | None = typer.Option(
        None,
        "--eval-cameras",
        help=help_with_default(
            "Extra held-out cameras written to eval/.", SynthConfig, "eval_cameras"
        ),
    ),
    config: str | None = typer.Option(
        None, "--config", "-c", help="Preset name under mouselift/configs/synth/ or a YAML file."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace an existing non-empty OUT_DIR."
    ),
    set_values: list[str] = typer.Option([], "--set", help=SET_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Render a synthetic mouse recording (videos, mask videos, calibration, ground truth)."""
    from ..data.synth import synthesize

    overrides = {
        "frames": frames,
        "fps": fps,
        "scale": scale,
        "seed": seed,
        "eval_cameras": eval_cameras,
    }
    overrides = merge_overrides(overrides, parse_set_options(set_values))
    cfg = load_config(SynthConfig, "synth", config, overrides)
    result = synthesize(out_dir, cfg, progress=not quiet, overwrite=overwrite)
    typer.echo(result.format() if hasattr(result, "format") else str(result))
