"""Settings of the per-scene fit (``mouselift fit``; presets in ``mouselift/configs/fit/``).

Units: the prepared sample's normalised world (mouse centre at the origin, Z up, mean camera
distance 2.7). Lengths marked "× scene radius" are multiples of the radius of the sphere every
training view sees whole (:func:`mouselift.data.framing.crops.crop_sphere_radius`, ≈ 0.5 for samples
prepared with the default ``radius_mm``), so one preset suits any crop scale.

Expected runtime of the defaults on a 2-core CPU (torch backend, 6 views): 45–55 s at 128×128
and about 100 s at 256×256 (the cost per step grows with the pixel count and the number of
Gaussians), plus a few seconds for the evaluation renders and the turntable.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from ..config import StrictModel


class FitConfig(StrictModel):
    """Optimisation of 3D Gaussians on the views of one prepared sample."""

    renamed_keys: ClassVar[dict[str, str]] = {"hull_resolution": "hull_voxels"}

    # ------------------------------------------------------------------ schedule
    steps: int = Field(400, ge=1, le=1_000_000, description="optimisation steps")
    views_per_step: int = Field(
        1, ge=1, le=64, description="training views rendered (and averaged in the loss) per step"
    )
    seed: int = Field(0, ge=0, description="random seed (init points, views, backgrounds)")
    sh_degree: int = Field(
        0,
        ge=0,
        le=3,
        description="SH degree of the colours (0: view-independent; a handful "
        "of views does not constrain more)",
    )
    # ------------------------------------------------------------------ initialisation
    init: Literal["hull", "sphere"] = Field(
        "hull",
        description="initial points: inside the visual hull of the training masks, or "
        "uniform in the scene sphere",
    )
    init_points: int = Field(3000, ge=1, le=1_000_000, description="initial number of Gaussians")
    hull_voxels: int = Field(
        64, ge=8, le=256, description="voxels along the side of the hull grid"
    )
    hull_domain: float = Field(
        1.5,
        gt=0,
        le=10,
        description="half side of the hull grid (× scene radius): larger than "
        "1 so that parts outside the crop sphere (the tail) are initialised too",
    )
    hull_min_views: int = Field(
        3,
        ge=1,
        description="a voxel is kept only if at least this many views see it (inside "
        "their image) and every view that sees it has it inside the mask (2 initialises more "
        "of the tail but leaves two-view ghosts that float in novel views)",
    )
    init_opacity: float = Field(0.3, gt=0, lt=1, description="initial opacity")
    # ------------------------------------------------------------------ learning rates (Adam)
    lr_means: float = Field(
        3e-3, gt=0, description="means (× scene radius per step), decays exponentially"
    )
    lr_means_final: float = Field(
        0.01, gt=0, le=1, description="the means' learning rate at the last step, × lr_means"
    )
    lr_scales: float = Field(5e-3, gt=0, description="log-scales")
    lr_rotations: float = Field(1e-3, gt=0, description="quaternions")
    lr_opacities: float = Field(5e-2, gt=0, description="opacity logits")
    lr_colors: float = Field(1e-2, gt=0, description="SH coefficients")
    # ------------------------------------------------------------------ losses
    ssim_weight: float = Field(
        0.2, ge=0, le=1, description="λ in (1 − λ)·L1 + λ·(1 − SSIM) on the composited RGB"
    )
    mask_weight: float = Field(0.5, ge=0, description="weight of mean |alpha − target alpha|")
    background: Literal["random", "white", "black"] = Field(
        "random",
        description="background the targets are composited on during training "
        "(random colours per step keep the Gaussians from painting the background)",
    )
    # ------------------------------------------------------------------ densify / prune
    densify_every: int = Field(50, ge=1, description="steps between densify/prune passes")
    densify_until: int = Field(300, ge=0, description="no densify/prune pass after this step")
    densify_grad: float = Field(
        2e-4,
        gt=0,
        description="mean norm of a Gaussian's position gradient (per step it was "
        "rendered) above which it is cloned or split",
    )
    split_scale: float = Field(
        0.04,
        gt=0,
        description="Gaussians larger than this (× scene radius) are split, smaller ones cloned",
    )
    prune_opacity: float = Field(0.02, ge=0, lt=1, description="prune below this opacity")
    prune_scale: float = Field(
        0.5, gt=0, description="prune Gaussians larger than this (× scene radius)"
    )
    max_gaussians: int = Field(
        20_000, ge=1, description="cap on the number of Gaussians (CPU speed)"
    )
    # ------------------------------------------------------------------ evaluation and outputs
    holdout: str = Field(
        "eval",
        pattern=r"^(eval|none|\d+)$",
        description='held-out views: "eval" = the '
        'sample\'s eval/ views when present (else none), "none", or the index of a training '
        "view to leave out of the fit",
    )
    turntable_frames: int = Field(48, ge=1, le=10_000, description="frames of turntable.mp4")
    turntable_fps: float = Field(24.0, gt=0, le=240, description="frame rate of turntable.mp4")
    turntable_size: int = Field(
        256, ge=16, le=4096, description="side of turntable.mp4 in pixels (rounded up to even)"
    )
    turntable_elevation_deg: float = Field(
        20.0, gt=-90, lt=90, description="elevation of the turntable orbit (Z up)"
    )

    @model_validator(mode="after")
    def _check(self) -> FitConfig:
        if self.init == "hull" and self.hull_domain < 1:
            raise ValueError("hull_domain must be >= 1 (the crop sphere must fit in the grid)")
        if self.max_gaussians < self.init_points:
            raise ValueError(
                f"max_gaussians ({self.max_gaussians}) is below init_points ({self.init_points})"
            )
        return self


__all__ = ["FitConfig"]
