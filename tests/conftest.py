"""Fixtures shared across test folders: a small synthetic prepared dataset (64×64 views) and a
tiny random Stage-1 pipeline written to disk in diffusers layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mouselift.cameras.rig import facelift_rig
from mouselift.data.prepare import PrepareConfig, prepare_dataset
from mouselift.data.synth import SynthConfig, synthesize
from mouselift.mvdiff import MultiViewDiffusionPipeline, load_architecture

SIZE = 64


def pytest_configure(config) -> None:
    """One compute thread per xdist worker: with ``-n 2`` on 2 cores, two workers with two OpenMP
    threads each oversubscribe the CPU and PyTorch's spinning threads slow down ~10×."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_arch():
    return load_architecture("tiny")


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
def mouse_dataset(tmp_path_factory) -> Path:
    """12 synthetic frames prepared at 64×64: 6 train, 4 val samples of 6 rig views."""
    root = tmp_path_factory.mktemp("mvd_data")
    synthesize(root / "rec", SynthConfig(frames=12, scale=0.25), progress=False)
    prepare_dataset(root / "rec", root / "ds",
                    PrepareConfig(size=SIZE, workers=1, block_frames=4, gap_frames=1,
                                  val_fraction=0.25, min_blocks=2),
                    progress=False)
    return root / "ds"
