"""Fixtures shared across test folders: the suite's one synthetic recording, a small prepared
dataset of it (64×64 views) and a tiny random Stage-1 pipeline written to disk in diffusers
layout."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mouselift.cameras.rig import facelift_rig
from mouselift.data.prepare import PrepareConfig, prepare_dataset
from mouselift.data.synth import SynthConfig, synthesize
from mouselift.mvdiff import MultiViewDiffusionPipeline, load_mvdiff_config
from mouselift.threads import set_threads, threads_per_process

SIZE = 64


def pytest_configure(config) -> None:
    """The xdist workers share the cores (``-n 2`` on 2 cores: one thread each for torch, OpenCV
    and BLAS): oversubscribed, PyTorch's spinning threads slow down ~10× (docs/benchmarks.md)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        count = threads_per_process(processes=processes)
        # as a user's OMP_NUM_THREADS: commands run in-process (`use_threads`) and the
        # processes tests start keep the worker's share instead of taking every core
        os.environ["OMP_NUM_THREADS"] = str(count)
        set_threads(count)


@pytest.fixture(scope="session")
def tiny_arch():
    return load_mvdiff_config("tiny")


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tiny_arch, tmp_path_factory) -> Path:
    """A random tiny pipeline with FaceLift's rig at 64 px, saved with ``save_pretrained``."""
    work = tmp_path_factory.mktemp("tiny_pipe")
    pipe = MultiViewDiffusionPipeline.from_architecture(
        tiny_arch, rig=facelift_rig(SIZE), seed=0, workdir=work / "build")
    return pipe.save_pretrained(work / "pipeline")


@pytest.fixture
def tiny_pipeline(tiny_pipeline_dir) -> MultiViewDiffusionPipeline:
    return MultiViewDiffusionPipeline.from_pretrained(tiny_pipeline_dir)


@pytest.fixture(scope="session")
def synthetic_recording(tmp_path_factory) -> Path:
    """The suite's synthetic recording: 12 frames of the real rig at half resolution (576×512),
    seed 0, one held-out camera in ``eval/``. Read-only: tests write next to it, not into it."""
    rec = tmp_path_factory.mktemp("synthetic") / "rec"
    synthesize(rec, SynthConfig(frames=12, scale=0.5, seed=0, eval_cameras=1), progress=False)
    return rec


@pytest.fixture(scope="session")
def mouse_dataset(synthetic_recording, tmp_path_factory) -> Path:
    """The recording prepared at 64×64: 6 train, 4 val samples of 6 rig views."""
    root = tmp_path_factory.mktemp("mvd_data")
    prepare_dataset(synthetic_recording, root / "ds",
                    PrepareConfig(image_size=SIZE, workers=1, block_frames=4, gap_frames=1,
                                  val_fraction=0.25, min_blocks=2),
                    progress=False)
    return root / "ds"


@dataclass(frozen=True)
class KnownMouse:
    """Masks of a synthetic mouse of known geometry, rendered straight into the suite
    recording's calibration (``cameras``, the rig at half resolution): per frame and camera an
    :class:`~mouselift.data.framing.locator.Observation` whose centre is the true body centre.
    ``train`` the first 64 frames, ``test`` the last 16."""

    cameras: list
    train: list
    test: list


@pytest.fixture(scope="session")
def known_mouse() -> KnownMouse:
    """80 frames of a walk in the middle of the arena (radius 50 mm, so most views hold the
    whole mouse), 1 sample per pixel: ~8 s."""
    from mouselift.data.framing.locator import Observation
    from mouselift.data.framing.mask_shape import mask_shape
    from mouselift.data.synth import Renderer, build_parts, rig_cameras, scene_for, simulate

    config = SynthConfig(frames=80, fps=10, scale=0.5, seed=5, arena_radius_mm=50)
    cameras = rig_cameras(config)
    renderers = [Renderer(c, scene_for(config), supersample=1) for c in cameras]
    trajectory = simulate(config)
    observations = []
    for frame in range(len(trajectory)):
        parts = build_parts(trajectory.state(frame))
        shapes = [mask_shape(r.render(parts).mask.view(np.uint8) * 255) for r in renderers]
        whole = sum(1 for s in shapes if s is not None and not s.touches_border)
        observations += [Observation(k, frame, s, parts.center(), whole)
                         for k, s in enumerate(shapes) if s is not None]
    return KnownMouse(cameras, [o for o in observations if o.frame < 64],
                      [o for o in observations if o.frame >= 64])


@pytest.fixture(scope="session")
def tiny_builtin(tmp_path_factory):
    """``mouselift train builtin`` with the ``tiny`` recipe (~10 s): ``(build folder, result)``;
    ``build/models`` holds both models as they would be installed."""
    from mouselift.flows.builtin import load_builtin_recipe, train_builtin

    out = tmp_path_factory.mktemp("builtin") / "build"
    result = train_builtin(out, load_builtin_recipe("tiny"), recipe_name="tiny",
                           command="mouselift train builtin build --config tiny",
                           progress=False)
    return out, result
