"""Helpers of the inference tests: tiny checkpoint pairs in the real on-disk formats (a Stage-1
pipeline folder saved with ``save_pretrained``, a GS-LRM folder saved with ``save_gslrm``),
and readers of an output folder."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch

from mouselift.cameras.rig import Rig
from mouselift.gslrm.checkpoints import save_gslrm
from mouselift.gslrm.config import load_gslrm_config
from mouselift.gslrm.model import GSLRM
from mouselift.mvdiff import MultiViewDiffusionPipeline, load_mvdiff_config
from mouselift.splat import Gaussians, read_ply

#: Steps of the tests' Stage-1 sampling (the tiny random models learn nothing: the mechanism is
#: tested, not the output).
STEPS = "2"
#: A stricter opacity filter for fast tests: the random GS-LRM's Gaussians all have opacity
#: ≈ 0.12 and σ ≈ 0.1, so with FaceLift's 0.04 ~14k of them overlap every pixel and rendering
#: the turntable dominates a test; 0.15 keeps about a thousand.
FAST_MIN_OPACITY = "0.15"


def tiny_gslrm(folder: Path, rig: Rig, seed: int = 0) -> Path:
    """A random ``tiny`` GS-LRM (64² views) saved with ``save_gslrm`` carrying ``rig``."""
    torch.manual_seed(seed)
    return save_gslrm(GSLRM(load_gslrm_config("tiny")), folder, rig)


def tiny_pipeline(folder: Path, rig: Rig | None, *, camera_embedding: bool = False,
                  seed: int = 0) -> Path:
    """A random ``tiny`` Stage-1 pipeline saved with ``save_pretrained`` (with ``rig``, or
    without one like FaceLift's ``pipeckpts``). With ``camera_embedding`` its MLP's last layer
    is made non-zero, so the cameras change the views."""
    arch = load_mvdiff_config("tiny").model_copy(update={"camera_embedding": camera_embedding})
    pipe = MultiViewDiffusionPipeline.from_architecture(arch, rig=rig, seed=seed,
                                                        workdir=folder.parent / "build")
    if camera_embedding:
        generator = torch.Generator().manual_seed(seed)
        weight = pipe.camera_embedding.linear_2.weight
        with torch.no_grad():
            weight.copy_(torch.randn(weight.shape, generator=generator) * 0.5)
    return pipe.save_pretrained(folder)


def video_frames(path: Path) -> int:
    """Frames PyAV decodes from an MP4."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def read_finite_ply(path: Path) -> Gaussians:
    """The PLY read back with the project's reader: at least one Gaussian, all finite."""
    gaussians = read_ply(path)
    assert len(gaussians) > 0
    for tensor in (gaussians.means, gaussians.log_scales, gaussians.rotations,
                   gaussians.opacity_logits, gaussians.sh):
        assert bool(torch.isfinite(tensor).all())
    return gaussians


def rgba_of(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))
