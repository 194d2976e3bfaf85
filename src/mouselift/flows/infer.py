"""``mouselift infer``: one image → multi-view diffusion (Stage 1) → GS-LRM (Stage 2) → Gaussians.

Inputs (exactly one):

* ``image``: an RGBA image (alpha = the mouse mask), or RGB with ``mask`` (white = mouse); with
  ``calibration`` + ``camera`` the full, undistorted frame of that calibrated camera;
* ``recording`` + ``frame`` + ``camera``: that frame of a recording (mask from the recording);
* ``views``: a prepared sample — Stage 1 is skipped, Stage 2 reconstructs its real views with
  their own cameras.

The image is cropped as ``prepare`` crops (:mod:`mouselift.flows.lift_input`); the cameras are
the frame's own when the image comes from a calibrated camera of the rig's input view (located
in 3D from that one view), else the rig's average; ``report.json`` says which and why. Both
checkpoints must carry the same rig (:class:`~mouselift.flows.lift.RigMismatchError`).

The training data (crop radius, normalisation, the body centre's usual height, the mouse's size
in a crop) is read from ``dataset`` when given, else from the dataset the checkpoints' rig was
built from (``rig.source["dataset"]``) when that folder exists here; without one the defaults
of ``prepare`` are used and one-view localisation is unavailable (rig average cameras).

Outputs in ``out_dir``: ``input.png`` (the crop Stage 1 got, RGBA), ``multiview.png`` (input |
generated views, on white), ``views/<view>.png`` and ``opencv_cameras.json`` (the generated
views and the cameras Stage 2 used, FaceLift's layout: ``mouselift view OUT`` draws them),
``gaussians.ply``, ``turntable.mp4``, ``views.png`` + ``metrics.json`` (the Gaussians rendered
at those cameras against the views Stage 2 got: how well Stage 2 agrees with Stage 1), and
``report.json`` (versions, checkpoints, rig summary and fingerprint, seed, sampler, device and
dtypes, the crop, the cameras used and why, the one-view vs all-view mouse centre in mm on
recording frames, how the one-view centre was found — ``localisation.one_view_method``
``locator`` with its ``uncertainty_mm`` and a ``border_warning`` when the mask touches the
image border, or ``plane`` with ``locator_unused`` saying why — the seconds of each stage and
of each output file). The turntable is rendered
at the model's resolution unless ``turntable_size`` says otherwise (a larger one shows no more
detail than the model has). The folder appears whole when the run finishes,
replacing an earlier ``infer``'s result; any other non-empty folder only with ``overwrite``
(:func:`mouselift.atomic.result_folder`). ``mouselift infer --video`` is
:func:`mouselift.flows.infer_video.infer_video`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .. import __version__
from ..atomic import atomic_write_json, atomic_write_path, check_result_folder, result_folder
from ..cameras import read_calibration
from ..cameras.facelift import write_opencv_cameras
from ..cameras.rig import Rig
from ..data.framing.locator import OneViewLocator, carried_instead
from ..data.framing.training import TrainingFraming
from ..data.layout import CAMERAS_FILE, is_dataset
from ..data.png import write_png
from ..data.recording import Recording
from ..data.sample import SampleViews, load_sample_views
from ..devices import seconds_since
from ..errors import ConfigError
from ..gslrm.inference import SplatFilters, Stage2Model, checkpoint_lines, num_predicted
from ..images import WHITE, composite, image_grid, to_uint8
from ..metrics.views import format_view_scores, render_and_score
from ..mvdiff.solvers import SamplingSettings
from ..splat import Gaussians
from ..splat.outputs import (
    INPUT_NAME,
    MULTIVIEW_NAME,
    PLY_NAME,
    REPORT_NAME,
    VIDEO_NAME,
    VIEWS_DIR,
    TurntableSettings,
    default_turntable_size,
    write_splat_outputs,
)
from ..weights import BuiltinModels, require_builtin
from .lift import LiftModels
from .lift_input import CROPS, LiftInput, as_is_input, frame_input, one_view_line


@dataclass(frozen=True)
class InferResult:
    """What :func:`infer` wrote: ``out_dir``, the ``gaussians`` (CPU) and the ``report``."""

    out_dir: Path
    gaussians: Gaussians
    report: dict[str, Any]

    def format(self) -> str:
        r = self.report
        s = r["seconds"]
        stage1 = (f"stage 1 {s['stage1']:.2f} s ({r['sampler']['solver']}, "
                  f"{r['sampler']['steps']} steps)" if s.get("stage1") is not None
                  else "stage 1 skipped (real views)")
        lines = [f"infer → {self.out_dir}",
                 *([f"  {BuiltinModels.line_of(r['builtin'])}"] if r.get("builtin") else []),
                 *checkpoint_lines(r),
                 f"  {r['rig']}; cameras: {r['cameras']}"
                 + (f" ({r['cameras_reason']})" if r.get("cameras_reason") else ""),
                 f"  load {s['load']:.2f} s, {stage1}, stage 2 {s['stage2']:.2f} s, "
                 f"write {s['write']:.2f} s ({r['device']}; {VIDEO_NAME} "
                 f"{r['turntable']['size']}² {s['outputs'].get(VIDEO_NAME, 0.0):.2f} s)",
                 f"  {r['num_gaussians']} Gaussians kept of {r['num_predicted']}"]
        loc = r.get("localisation") or {}
        if loc.get("one_view_method"):
            lines.append("  " + one_view_line(loc))
        if "one_view_vs_all_views_mm" in loc:
            lines.append(f"  mouse centre from one view vs all views: "
                         f"{loc['one_view_vs_all_views_mm']:.1f} mm")
        if r.get("consistency"):
            lines.append(format_view_scores("stage-2 renders vs stage-1", r["consistency"]))
        lines.append(f"  wrote {INPUT_NAME}, {MULTIVIEW_NAME}, {PLY_NAME}, {VIDEO_NAME}, "
                     f"{REPORT_NAME}")
        return "\n".join(lines)


# --- inputs -----------------------------------------------------------------------------------
def read_image(path: str | os.PathLike, mask: str | os.PathLike | None = None
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(rgb uint8 (H, W, 3), mask uint8 (H, W) or None)`` of an RGBA image (alpha = mask), or
    of an RGB image and a mask image (its luma; white = mouse). One-line errors."""
    def load(p: Path, what: str) -> Image.Image:
        if not p.is_file():
            raise ConfigError(f"{p}: {what} not found")
        try:
            with Image.open(p) as image:
                image.load()
                return image
        except (UnidentifiedImageError, OSError) as exc:
            raise ConfigError(f"{p}: cannot read the {what} ({exc.__class__.__name__})"
                              ) from None

    image = load(Path(path), "image")
    has_alpha = image.mode in ("RGBA", "LA") or (image.mode == "P"
                                                 and "transparency" in image.info)
    rgba = np.asarray(image.convert("RGBA"))
    rgb = np.ascontiguousarray(rgba[..., :3])
    if mask is not None:
        mask_image = load(Path(mask), "mask")
        alpha = np.asarray(mask_image.convert("L"))
        if alpha.shape != rgb.shape[:2]:
            raise ConfigError(f"{mask}: the mask is {alpha.shape[1]}×{alpha.shape[0]} but the "
                              f"image is {rgb.shape[1]}×{rgb.shape[0]}")
        return rgb, np.ascontiguousarray(alpha)
    return rgb, np.ascontiguousarray(rgba[..., 3]) if has_alpha else None


def training_framing(rig: Rig, dataset: str | os.PathLike | None,
                     locator: str | os.PathLike | None = None) -> tuple[TrainingFraming, str]:
    """The training data's framing (module docstring) and where it came from. The one-view
    locator is ``locator`` (a ``locator.json``) when given, else the dataset's, else the one
    the checkpoints' rig carries (also when the dataset's has no camera model: a dataset too
    short to fit one)."""
    framing, found = _dataset_framing(rig, dataset)
    if locator is not None:
        return framing.with_locator(OneViewLocator.load(locator), str(locator)), found
    carried = carried_instead(framing.locator, rig.locator)
    if carried is not None:
        framing = framing.with_locator(carried, "the checkpoints' rig")
    return framing, found


def _dataset_framing(rig: Rig, dataset: str | os.PathLike | None
                     ) -> tuple[TrainingFraming, str]:
    if dataset is not None:
        return TrainingFraming.from_dataset(dataset), "--dataset"
    recorded = (rig.source or {}).get("dataset")
    if isinstance(recorded, str) and is_dataset(recorded):
        return TrainingFraming.from_dataset(recorded), "the checkpoints' rig"
    note = (f"the rig's dataset {recorded} is not here" if recorded
            else "the rig names no dataset")
    return TrainingFraming.defaults(), f"none ({note}; prepare's defaults)"


def read_input(rig: Rig, framing: TrainingFraming, *, image: str | os.PathLike | None = None,
               mask: str | os.PathLike | None = None,
               recording: str | os.PathLike | None = None, frame: int | None = None,
               camera: int | None = None, calibration: str | os.PathLike | None = None,
               crop: str = "auto", centre: str = "one-view", require_locator: bool = False
               ) -> tuple[LiftInput, dict[str, Any]]:
    """The crop and cameras of an image or a recording frame, and the ``input`` report
    (``require_locator``: see :func:`~mouselift.flows.lift_input.frame_input`)."""
    if crop not in CROPS:
        raise ConfigError(f"crop {crop!r}: use one of {', '.join(CROPS)}")
    if recording is not None:
        if frame is None or camera is None:
            raise ConfigError("a recording frame needs --frame N and --camera K")
        if crop == "none":
            raise ConfigError("--crop none is for images already cropped, not recording frames")
        rec = Recording.open(recording)
        if not 0 <= frame < rec.num_frames:
            raise ConfigError(f"--frame {frame}: the recording has frames 0..{rec.num_frames - 1}")
        got = next(iter(rec.camera_frames(camera, [frame], all_masks=True)))
        info = {"kind": "recording frame", "recording": str(rec.root), "frame": frame,
                "camera": camera}
        return frame_input(got.image, got.mask, rig=rig, framing=framing,
                           calibration=rec.cameras, camera=camera, all_masks=got.masks,
                           centre=centre, require_locator=require_locator), info
    assert image is not None
    rgb, alpha = read_image(image, mask)
    info: dict[str, Any] = {"kind": "image", "image": str(image),
                            "mask": str(mask) if mask is not None else None}
    if crop == "none":
        if calibration is not None:
            raise ConfigError("--crop none uses the image as given: leave out --calibration")
        return as_is_input(rgb, alpha, rig), info
    if alpha is None:
        raise ConfigError(f"{image}: an RGB image needs --mask (or give RGBA, or --crop none "
                          "for an image already cropped like the training views)")
    cameras = None
    if calibration is not None:
        if camera is None:
            raise ConfigError("--calibration needs --camera K (which camera took the image)")
        cameras = read_calibration(calibration, (rgb.shape[1], rgb.shape[0]))
        info.update(calibration=str(calibration), camera=camera)
    return frame_input(rgb, alpha, rig=rig, framing=framing, calibration=cameras,
                       camera=camera, centre=centre, require_locator=require_locator), info


# --- the flow ---------------------------------------------------------------------------------
def builtin_or_given(mvdiff: str | os.PathLike | None, gslrm: str | os.PathLike | None, *,
                     stage1: bool = True) -> tuple[BuiltinModels | None, Any, Any]:
    """``(the built-in models or None, the Stage-1 and Stage-2 checkpoints to load)``: neither
    checkpoint given → the built-in models (:mod:`mouselift.weights`; a one-line error when
    this installation has none); one of the two given where both are needed (``stage1``) → a
    one-line error."""
    if mvdiff is None and gslrm is None:
        found = require_builtin()
        return found, found.stage1, found.stage2
    if gslrm is None:
        raise ConfigError("--mvdiff needs --gslrm (or give neither: the built-in models)")
    if mvdiff is None and stage1:
        raise ConfigError("--gslrm needs --mvdiff (or --views SAMPLE to skip Stage 1, or give "
                          "neither: the built-in models)")
    return None, mvdiff, gslrm



def infer(out_dir: str | os.PathLike, *, gslrm: str | os.PathLike | None = None,
          mvdiff: str | os.PathLike | None = None, image: str | os.PathLike | None = None,
          mask: str | os.PathLike | None = None, recording: str | os.PathLike | None = None,
          frame: int | None = None, camera: int | None = None,
          calibration: str | os.PathLike | None = None, views: str | os.PathLike | None = None,
          dataset: str | os.PathLike | None = None, locator: str | os.PathLike | None = None,
          crop: str = "auto", centre: str = "one-view", device: str = "cpu",
          dtype: str | None = None, seed: int = 0, sampler: SamplingSettings | None = None,
          filters: SplatFilters | None = None,
          turntable_frames: int = 48, turntable_size: int | None = None, progress: bool = True,
          models: LiftModels | None = None, overwrite: bool = False) -> InferResult:
    """Lift one input to Gaussians and write ``out_dir`` (module docstring). ``models``: both
    stages already loaded (then ``mvdiff``, ``gslrm``, ``device`` and ``dtype`` only go into the
    report). ``locator``: a ``locator.json`` to use instead of the dataset's or the checkpoints'
    (refused in one line when fitted for another calibration). Raises one-line
    :class:`~mouselift.errors.MouseliftError` subclasses for bad input."""
    given = [name for name, v in (("an image", image), ("--recording", recording),
                                  ("--views", views)) if v is not None]
    if len(given) != 1:
        raise ConfigError("give one input: an image, --recording DIR --frame N --camera K, or "
                          f"--views SAMPLE (got {', '.join(given) or 'none'})")
    sampler = sampler or SamplingSettings()
    settings = sampler.resolved()
    filters = filters if filters is not None else SplatFilters()
    out = Path(out_dir)
    builtin = None
    if models is None:
        builtin, mvdiff, gslrm = builtin_or_given(mvdiff, gslrm, stage1=views is None)
    inputs = (image, mask, recording, calibration, views, dataset, locator, mvdiff, gslrm)
    check_result_folder(out, "infer", overwrite=overwrite, inputs=inputs)
    seconds: dict[str, float | None] = {}
    started = time.perf_counter()
    if views is not None:
        assert gslrm is not None
        loaded: LiftModels | Stage2Model = Stage2Model.load(gslrm, device=device)
    elif models is not None:
        loaded = models
    else:
        assert mvdiff is not None and gslrm is not None
        loaded = LiftModels.load(mvdiff, gslrm, device=device, dtype=dtype)
    seconds["load"] = time.perf_counter() - started
    report: dict[str, Any] = {"mouselift": __version__, "torch": torch.__version__,
                              "seed": seed, "sampler": settings}
    report.update(loaded.describe())
    report["builtin"] = builtin.describe() if builtin is not None else None
    rig = loaded.rig

    mark = time.perf_counter()
    if views is not None:
        real = load_sample_views(views)
        if len(real) != rig.num_views:
            raise ConfigError(f"{views}: {len(real)} views, but the GS-LRM's {rig.summary()}")
        if set(rig.names) <= set(real.view_names):  # a mouse rig: the rig's order
            real = real.in_order(rig.names, views)
        report.update(views=str(views), input={"kind": "prepared sample", "sample": str(views)},
                      cameras="the sample's own", sampler=None)
        if mvdiff is not None:
            report["note"] = f"--mvdiff {mvdiff} not used: --views skips Stage 1"
        crop_rgba = to_uint8(real.rgba[0])
        stage1_views: SampleViews = real
        seconds["input"] = time.perf_counter() - mark
        seconds["stage1"] = None
    else:
        assert isinstance(loaded, LiftModels)
        framing, found = training_framing(rig, dataset, locator)
        lift_input, info = read_input(rig, framing, image=image, mask=mask, recording=recording,
                                      frame=frame, camera=camera, calibration=calibration,
                                      crop=crop, centre=centre,
                                      require_locator=locator is not None)
        report.update(input=info, training_data={**framing.describe(), "from": found},
                      **lift_input.report,
                      stage1_cameras=loaded.stage1_cameras(lift_input.cameras is not None))
        crop_rgba = lift_input.rgba
        seconds["input"] = time.perf_counter() - mark
        mark = time.perf_counter()
        stage1_views = loaded.generate_views(
            crop_rgba, cameras=lift_input.cameras, seed=seed, solver=settings["solver"],
            steps=settings["steps"], guidance=settings["guidance"], eta=settings["eta"],
            progress=progress)
        seconds["stage1"] = seconds_since(loaded.device, mark)

    mark = time.perf_counter()
    gaussians = loaded.reconstruct(stage1_views, filters=filters)
    seconds["stage2"] = seconds_since(loaded.device, mark)
    report.update(num_predicted=num_predicted(loaded.gslrm, len(stage1_views)),
                  num_gaussians=len(gaussians), filters=filters.model_dump())

    mark = time.perf_counter()
    with result_folder(out, "infer", overwrite=overwrite, inputs=inputs) as tmp:
        size = default_turntable_size(rig.width, turntable_size)
        report["turntable"] = {"frames": turntable_frames, "size": size + size % 2}
        report["consistency"], outputs = _write_outputs(
            tmp, crop_rgba, stage1_views, gaussians, generated=views is None, report=report,
            device=loaded.device, sample_id=out.name, turntable_frames=turntable_frames,
            turntable_size=size, progress=progress)
        seconds["write"] = time.perf_counter() - mark
        report["seconds"] = {k: None if v is None else round(v, 3) for k, v in seconds.items()}
        report["seconds"]["outputs"] = {k: round(v, 3) for k, v in outputs.items()}
        atomic_write_json(tmp / REPORT_NAME, report)
    return InferResult(out, gaussians, report)


def _write_outputs(out: Path, crop_rgba: np.ndarray, views: SampleViews, gaussians: Gaussians,
                   *, generated: bool, report: dict[str, Any], device: torch.device,
                   sample_id: str, turntable_frames: int, turntable_size: int, progress: bool
                   ) -> tuple[dict[str, Any], dict[str, float]]:
    """Every output file but ``report.json`` into the folder ``out`` (renders on ``device``;
    ``sample_id`` names the result in ``opencv_cameras.json``); returns the consistency
    metrics and the seconds spent on each output (by file name; ``consistency``: rendering and
    scoring the input views)."""
    seconds: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        seconds[name] = time.perf_counter() - mark
        mark = time.perf_counter()

    atomic_write_path(out / INPUT_NAME, lambda tmp: write_png(tmp, crop_rgba))
    lap(INPUT_NAME)
    tiles = to_uint8(composite(views.rgba, WHITE))
    first = to_uint8(composite(torch.from_numpy(crop_rgba).float() / 255.0, WHITE))
    sheet = image_grid([[first, *tiles]] if generated else [list(tiles)])
    atomic_write_path(out / MULTIVIEW_NAME, lambda tmp: sheet.save(tmp, format="PNG"))
    lap(MULTIVIEW_NAME)
    if generated:
        for name, tile in zip(views.names, tiles, strict=True):
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_path(path, lambda tmp, tile=tile: Image.fromarray(tile).save(
                tmp, format="PNG"))
        write_opencv_cameras(out / CAMERAS_FILE, views.cameras, sample_id=sample_id,
                             file_paths=views.names)
        lap(f"{VIEWS_DIR}/ + {CAMERAS_FILE}")
    on_device = gaussians.to(device)
    consistency, renders = render_and_score(on_device, views)
    consistency.pop("per_view", None)
    lap("consistency")
    radius = float(np.mean([np.linalg.norm(c.center) for c in views.cameras]))
    seconds.update(write_splat_outputs(
        out, on_device, renders=renders, targets=tiles,
        metrics={"inputs": consistency, "views": report.get("views"),
                 "num_gaussians": len(gaussians)},
        turntable=TurntableSettings(radius=radius, frames=turntable_frames, size=turntable_size),
        progress=progress))
    return consistency, seconds


__all__ = ["InferResult", "builtin_or_given", "infer", "read_image", "read_input",
           "training_framing"]
