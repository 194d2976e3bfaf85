"""``mouselift infer``: one image (or a recording's frames) → views → 3D Gaussians."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import ConfigError
from .options import OVERWRITE_OPTION, THREADS_OPTION, require_existing

EPILOG = """\
**Examples**

An RGBA image (alpha = the mouse mask) with our fine-tuned checkpoints (they carry one rig):

    mouselift infer mouse.png out/infer --mvdiff runs/mvd/checkpoints/checkpoint-030000/pipeline --gslrm runs/gslrm/checkpoints/checkpoint-020000/model --device cuda

An RGB image and its mask; fast sampler (DPM-Solver++, 20 steps), bf16:

    mouselift infer frame.jpg out/infer --mask frame_mask.png --mvdiff PIPE --gslrm GSLRM --solver dpm++ --device cuda --dtype bf16

A frame of a recording, camera 0 (its mask from the recording; the mouse located from that one
view; the cameras of this frame; the one-view centre checked against all views in report.json):

    mouselift infer out/infer_000120 --recording markerless_mouse_1_nerf --frame 120 --camera 0 --mvdiff PIPE --gslrm GSLRM

An image from a calibrated camera (the full undistorted frame and the calibration of the rig):

    mouselift infer cam0_000120.png out/infer --mask cam0_mask.png --calibration new_cam.pkl --camera 0 --mvdiff PIPE --gslrm GSLRM

The one-view centre of a calibrated image comes from the one-view locator `prepare` fitted
(the checkpoints carry it beside their rig); without one, or for another calibration, the plane
method is used and report.json says why. A locator of your own:

    mouselift infer cam0_000120.png out/infer --mask cam0_mask.png --calibration new_cam.pkl --camera 0 --locator data/mouse512/locator.json --mvdiff PIPE --gslrm GSLRM

FaceLift's released weights, from local paths (FaceLift's own inference: its rig, DDIM 50):

    mouselift infer face.png out/facelift --mvdiff checkpoints/mvdiffusion/pipeckpts --gslrm checkpoints/gslrm/ckpt_0000000000021125.pt --device cuda

Stage 2 only, on a prepared sample's real views:

    mouselift infer out/rec_000120 --views data/mouse512/sample_000120 --gslrm GSLRM

Video (4D): every 10th frame of camera 0, batches of 8, one PLY per frame; re-run to resume; a
cluster array job takes `--shard i/n`; `accelerate launch` spreads a shard over GPUs:

    mouselift infer out/video --video --recording REC --camera 0 --every 10 --batch 8 --mvdiff PIPE --gslrm GSLRM --device cuda
    mouselift infer out/video --video --recording REC --camera 0 --shard 3/16 --mvdiff PIPE --gslrm GSLRM --device cuda
    accelerate launch --multi_gpu --num_processes 4 -m mouselift infer out/video --video --recording REC --camera 0 --mvdiff PIPE --gslrm GSLRM --device cuda

Writes `input.png` (the crop Stage 1 got), `multiview.png`, `views/` + `opencv_cameras.json`
(generated views and their cameras), `gaussians.ply`, `turntable.mp4`, `views.png` +
`metrics.json` (renders vs the views), `report.json` (versions, checkpoints, rig fingerprint,
seed, sampler, cameras used and why, how the mouse was located and how certain, timings). `--video` writes `frames/frame_XXXXXX/` (a
`gaussians.ply` and `report.json` each; `mouselift view OUT/frames` plays them),
`turntable.mp4` and `report.json`. The two checkpoints must carry the same rig. Without --mvdiff and --gslrm the built-in models are
used (`python -m mouselift.weights status` says whether this installation has them; they know
the synthetic mouse only). The training
dataset (crop radius, the mouse's usual height) comes from `--dataset` or the checkpoints' rig.
"""


def infer(
    paths: list[Path] = typer.Argument(..., metavar="[INPUT] OUT", help="INPUT image (RGBA, or RGB with --mask) and OUT folder; OUT alone with --recording, --views or --video."),
    mvdiff: Path | None = typer.Option(None, "--mvdiff", "-m", help="Stage-1 pipeline: a pipeline folder (ours with its rig), a checkpoint or run folder of `train mvdiff` (its newest checkpoint), or FaceLift's pipeckpts."),
    gslrm: Path | None = typer.Option(None, "--gslrm", "-g", help="Stage-2 GS-LRM: our model folder, a checkpoint or run folder of `train gslrm` (its newest checkpoint), or FaceLift's .pt file [default, with no --mvdiff either: the built-in models]."),
    mask: Path | None = typer.Option(None, "--mask", help="Mask image of an RGB INPUT (white = mouse)."),
    recording: Path | None = typer.Option(None, "--recording", help="A recording (MAMMAL layout): lift --frame N of --camera K."),
    frame: int | None = typer.Option(None, "--frame", min=0, help="Frame of --recording."),
    camera: int | None = typer.Option(None, "--camera", min=0, help="Camera of --recording or --calibration that took the image."),
    calibration: Path | None = typer.Option(None, "--calibration", help="Calibration file of the camera that took INPUT (any format `read_calibration` reads)."),
    views: Path | None = typer.Option(None, "--views", help="Skip Stage 1: reconstruct this prepared sample's real views."),
    dataset: Path | None = typer.Option(None, "--dataset", help="Training dataset (prepare_config.yaml, manifest.jsonl) for the crop and the mouse's height [default: the one the checkpoints' rig names, if present]."),
    locator: Path | None = typer.Option(None, "--locator", help="One-view locator (locator.json of `prepare` / `mouselift locator`) [default: the dataset's, else the one the checkpoints carry]; one fitted for another calibration is refused."),
    crop: str = typer.Option("auto", "--crop", help="auto: crop as prepare does; none: INPUT is already such a crop."),
    centre: str = typer.Option("one-view", "--centre", help="Recording frames: locate the mouse from the one view (one-view) or from all views (all-views)."),
    video: bool = typer.Option(False, "--video", help="Every --every-th frame of --camera of --recording → one PLY per frame."),
    every: int = typer.Option(1, "--every", min=1, help="--video: take every Nth frame."),
    frames: str | None = typer.Option(None, "--frames", help="--video: frame range a:b (b excluded)."),
    batch: int = typer.Option(8, "--batch", min=1, help="--video: frames per batch through both stages."),
    shard: str = typer.Option("0/1", "--shard", help="--video: shard i/n of the frames (contiguous blocks)."),
    max_frames: int | None = typer.Option(None, "--max-frames", min=1, help="--video: stop after this many new frames (re-run to continue)."),
    triangulate: bool = typer.Option(False, "--triangulate", help="--video: also decode every camera's mask to check the one-view centre per frame."),
    device: str = typer.Option("cpu", "--device", help="Torch device (cpu, cuda, cuda:1)."),
    threads: int | None = THREADS_OPTION,
    dtype: str | None = typer.Option(None, "--dtype", help="Stage-1 dtype: fp32, bf16, fp16 [default: fp32 on CPU, bf16 on CUDA]."),
    seed: int = typer.Option(0, "--seed", help="Seed of Stage 1's noise."),
    solver: str = typer.Option("ddim", "--solver", help="Sampler: ddim (FaceLift's, 50 steps) or dpm++ (20 steps)."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Denoising steps [default: 50 ddim, 20 dpm++]."),
    guidance: float = typer.Option(3.0, "--guidance", help="Classifier-free guidance scale (FaceLift's 3)."),
    eta: float | None = typer.Option(None, "--eta", help="DDIM eta [default: FaceLift's 1; 0 = deterministic]."),
    min_opacity: float = typer.Option(0.04, "--min-opacity", help="Drop Gaussians at or below this opacity."),
    max_scale: float = typer.Option(0.1, "--max-scale", help="Drop Gaussians this large or larger (unless z > 0)."),
    no_box: bool = typer.Option(False, "--no-box", help="Keep Gaussians outside FaceLift's crop box."),
    no_filters: bool = typer.Option(False, "--no-filters", help="Write every predicted Gaussian."),
    turntable_frames: int = typer.Option(48, "--turntable-frames", min=1, help="Frames of turntable.mp4 (--video: frames per turn)."),
    turntable_size: int | None = typer.Option(None, "--turntable-size", min=16, help="Side of turntable.mp4 in pixels [default: the models' view resolution, e.g. 64 for tiny, 512 for FaceLift's]."),
    overwrite: bool = OVERWRITE_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Lift one image of a mouse (or every Nth frame of a video) to 3D Gaussians: multi-view
    diffusion, then GS-LRM, with the rig both checkpoints carry."""
    from ..mvdiff.solvers import SamplingSettings

    if len(paths) not in (1, 2):
        raise ConfigError("give INPUT OUT, or OUT alone with --recording, --views or --video")
    image, out = (paths[0], paths[1]) if len(paths) == 2 else (None, paths[0])
    require_existing(("INPUT", image), ("--mvdiff", mvdiff), ("--gslrm", gslrm), ("--mask", mask),
                     ("--recording", recording), ("--calibration", calibration),
                     ("--views", views), ("--dataset", dataset), ("--locator", locator))
    sampler = SamplingSettings.from_options(solver=solver, steps=steps, guidance=guidance,
                                            eta=eta)
    from ..devices import resolve_device
    from ..gslrm.inference import SplatFilters
    from ..threads import use_threads

    resolve_device(device)
    filters = SplatFilters.from_options(min_opacity=min_opacity, max_scale=max_scale,
                                        no_box=no_box, no_filters=no_filters)
    use_threads(threads)
    if video:
        from ..flows.infer_video import infer_video

        if recording is None or camera is None or image is not None:
            raise ConfigError("--video needs OUT, --recording DIR and --camera K (no INPUT)")
        result = infer_video(recording, out, mvdiff=mvdiff, gslrm=gslrm, camera=camera,
                             every=every, frames=frames, batch=batch, shard=shard,
                             dataset=dataset, locator=locator, centre=centre,
                             triangulate=triangulate,
                             device=device, dtype=dtype, seed=seed, sampler=sampler,
                             filters=filters, orbit_frames=turntable_frames,
                             turntable_size=turntable_size, max_frames=max_frames,
                             progress=not quiet, overwrite=overwrite)
        typer.echo(result.format())
        return
    from ..flows.infer import infer as run

    result_one = run(out, gslrm=gslrm, mvdiff=mvdiff, image=image, mask=mask,
                     recording=recording, frame=frame, camera=camera, calibration=calibration,
                     views=views, dataset=dataset, locator=locator, crop=crop, centre=centre,
                     device=device,
                     dtype=dtype, seed=seed, sampler=sampler, filters=filters,
                     turntable_frames=turntable_frames, turntable_size=turntable_size,
                     progress=not quiet, overwrite=overwrite)
    typer.echo(result_one.format())
