"""Write a synthetic recording in MAMMAL's ``markerless_mouse_1_nerf`` layout.

::

    <out>/videos_undist/{k}.mp4        RGB, H.264 (crf = config.crf), one per rig camera
    <out>/simpleclick_undist/{k}.mp4   masks, 3-channel, white = mouse, H.264 (crf = mask_crf)
    <out>/new_cam.pkl                  list of dicts K, R, T (3,), mapx, mapy (the real structure)
    <out>/ground_truth.npz, .json      see :mod:`.ground_truth`
    <out>/eval/...                     held-out cameras in the same layout (when eval_cameras > 0)

The recording is rendered into a hidden folder beside ``<out>`` and moved into place when complete
(:func:`mouselift.atomic.atomic_dir`), so an interrupted run never leaves a complete-looking
recording.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ... import __version__
from ...atomic import atomic_dir
from ...cameras import Camera
from ...cameras.mammal import write_mammal_pkl
from ...errors import MouseliftError
from ..recording import CALIBRATION_FILE, EVAL_DIR, MASK_DIR, VIDEO_DIR
from ..video import VideoWriter
from .config import RIG_NAME, SynthConfig
from .ground_truth import GroundTruth, write_ground_truth
from .motion import Trajectory, simulate
from .mouse import build_parts, surface_points
from .render import Renderer, Scene
from .rig import EVAL_TARGET_Z_MM, eval_cameras, rig_cameras

#: Margin (mm) of arena floor drawn beyond the disc the mouse walks in.
FLOOR_MARGIN_MM = 50.0


@dataclass(frozen=True)
class SynthResult:
    """What :func:`synthesize` wrote: the recording directory, frame count, the rig and held-out
    cameras, wall-clock seconds, and how many (frame, rig camera) views clip the mouse."""

    out_dir: Path
    num_frames: int
    cameras: list[Camera]
    eval_cameras: list[Camera]
    seconds: float
    clipped_views: int

    def format(self) -> str:
        """One-line summary for the command line."""
        cam = self.cameras[0]
        views = self.num_frames * len(self.cameras)
        extra = f" + {len(self.eval_cameras)} held-out in eval/" if self.eval_cameras else ""
        return (
            f"wrote {self.out_dir}: {self.num_frames} frames × {len(self.cameras)} cameras{extra} "
            f"at {cam.width}×{cam.height} in {self.seconds:.1f} s; the mouse is clipped in "
            f"{self.clipped_views} of {views} views"
        )


def scene_for(config: SynthConfig) -> Scene:
    """The static scene of a configuration (floor disc around the arena)."""
    return Scene(
        arena_center=tuple(config.arena_center_mm),
        floor_radius=config.arena_radius_mm + FLOOR_MARGIN_MM,
    )


def _render_threads() -> int:
    """Threads rendering the views of a frame in parallel (numpy releases the GIL): the usable
    cores, at most 4. Each view is rendered independently, so the output does not depend on it."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


def _check_target(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise MouseliftError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise MouseliftError(
            f"{out_dir}: directory is not empty (--overwrite, or overwrite=True, replaces it)"
        )


def _info(config: SynthConfig, rig: list[Camera], held_out: list[Camera]) -> dict:
    width, height = config.image_size()
    return {
        "generator": f"mouselift {__version__} mouselift.data.synth",
        "seed": config.seed,
        "config": config.model_dump(mode="json"),
        "units": {"length": "mm", "angle": "rad"},
        "world": "the rig's world: mm, Z up, floor is the plane z = 0",
        "rig": RIG_NAME,
        "image_size": [width, height],
        "fps": config.fps,
        "num_frames": config.frames,
        "cameras": [c.name for c in rig],
        "eval_cameras": [c.name for c in held_out],
        "eval_target_mm": [*config.arena_center_mm, EVAL_TARGET_Z_MM],
        "center_definition": (
            "volume-weighted mean of the centres of the mouse's ellipsoids (centroid of their "
            "volumes summed)"
        ),
        "heading_definition": (
            "atan2(dy, dx) of the tail-base-to-nose direction in the XY plane; 0 = +x, "
            "counter-clockwise seen from above"
        ),
        "surface_points_definition": (
            "area-uniform samples on the ellipsoids, kept when not strictly inside another part"
        ),
        "mask_encoding": "H.264, white = mouse, lossy: threshold at 127",
    }


def synthesize(
    out_dir: str | os.PathLike,
    config: SynthConfig | None = None,
    *,
    progress: bool = True,
    overwrite: bool = False,
) -> SynthResult:
    """Render the synthetic recording of ``config`` into ``out_dir`` (layout: module docstring).

    Refuses a non-empty ``out_dir`` unless ``overwrite``. Deterministic for ``config.seed``.
    """
    config = config or SynthConfig()
    out_dir = Path(out_dir)
    _check_target(out_dir, overwrite)
    start = time.perf_counter()
    rig = rig_cameras(config)
    held_out = eval_cameras(config)
    trajectory = simulate(config)

    with atomic_dir(out_dir, replace=True) as partial:
        groups = [(partial, rig)] + ([(partial / EVAL_DIR, held_out)] if held_out else [])
        rendered = _render_videos(groups, scene_for(config), trajectory, config, progress)
        for root, cams in groups:
            write_mammal_pkl(root / CALIBRATION_FILE, cams, undistortion_maps=True)
        truth = GroundTruth(
            frame_indices=np.arange(config.frames, dtype=np.int64),
            centers=rendered.centers,
            headings=trajectory.heading,
            bends=trajectory.bend,
            positions=np.stack([trajectory.x, trajectory.y], axis=1),
            surface_points=rendered.points,
            clipped=rendered.clipped[:, : len(rig)],
            eval_clipped=rendered.clipped[:, len(rig) :],
            info=_info(config, rig, held_out),
        )
        write_ground_truth(partial, truth)
    clipped = rendered.clipped
    return SynthResult(
        out_dir=out_dir,
        num_frames=config.frames,
        cameras=rig,
        eval_cameras=held_out,
        seconds=time.perf_counter() - start,
        clipped_views=int(clipped[:, : len(rig)].sum()),
    )


@dataclass(frozen=True)
class _Rendered:
    """Per frame: the body centre (mm), surface points, and which views clip the mouse."""

    centers: np.ndarray
    points: np.ndarray
    clipped: np.ndarray


def _render_videos(groups: list[tuple[Path, list[Camera]]], scene: Scene, trajectory: Trajectory,
                   config: SynthConfig, progress: bool) -> _Rendered:
    """Render every frame into every camera's RGB and mask video (views in parallel threads)."""
    width, height = config.image_size()
    with ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=_render_threads()))
        views = []  # (renderer, rgb writer, mask writer) per camera, rig first
        for root, cams in groups:
            for cam in cams:
                rgb, msk = (
                    stack.enter_context(VideoWriter(
                        root / folder / f"{cam.name}.mp4", fps=config.fps, width=width,
                        height=height, crf=crf, keyframe_interval=config.keyframe_interval))
                    for folder, crf in ((VIDEO_DIR, config.crf), (MASK_DIR, config.mask_crf))
                )
                views.append((Renderer(cam, scene, supersample=config.supersample), rgb, msk))
        centers = np.zeros((config.frames, 3))
        points = np.zeros((config.frames, config.surface_points, 3), dtype=np.float32)
        clipped = np.zeros((config.frames, len(views)), dtype=bool)
        for f in tqdm(range(config.frames), desc="synth", unit="frame", disable=not progress):
            parts = build_parts(trajectory.state(f))
            centers[f] = parts.center()
            points[f] = surface_points(parts, config.surface_points)
            results = list(pool.map(lambda view, p=parts: view[0].render(p), views))
            for v, result in enumerate(results):
                _, rgb_writer, mask_writer = views[v]
                rgb_writer.write(result.rgb)
                # The mask video marks every pixel the mouse touches (any supersample hit), like
                # a hand-clicked mask that includes the edge pixels: a point on the silhouette
                # then always lies in a white pixel.
                touched = (result.coverage > 0).astype(np.uint8) * np.uint8(255)
                mask_writer.write(np.repeat(touched[..., None], 3, axis=2))
                clipped[f, v] = result.clipped
    return _Rendered(centers, points, clipped)
