"""Image metrics (PSNR, SSIM, LPIPS-VGG, masked variants) and VGG perceptual features.

Conventions follow FaceLift's / pixelSplat's evaluation (see :mod:`.image` and :mod:`.lpips`):
images in [0, 1]; PSNR in dB, ``inf`` for identical images; SSIM with an 11-tap Gaussian window
(σ 1.5), 'valid' positions only; LPIPS-VGG version 0.1. VGG and LPIPS weights come from local
files the user names (:mod:`.weights_io`); without them LPIPS is reported unavailable, never 0.
3D accuracy of Gaussians against ground-truth surface points (Chamfer distance, F-score, in mm):
:mod:`.geometry`.
"""

from .compute import compute_metrics
from .geometry import gaussian_surface_metrics, nearest_distances, surface_metrics
from .image import as_batch, gaussian_kernel, masked_psnr, masked_ssim, psnr, ssim, ssim_map
from .lpips import (
    LPIPS,
    LPIPS_CHANNELS,
    LPIPS_LAYERS,
    LPIPSUnavailable,
    load_lpips,
    lpips_from_features,
    unit_normalize,
)
from .vgg import VGGFeatures, layer_names, vgg_layers, vgg_state_dict_shapes
from .weights_io import read_state_dict

__all__ = [
    "LPIPS",
    "LPIPS_CHANNELS",
    "LPIPS_LAYERS",
    "LPIPSUnavailable",
    "VGGFeatures",
    "as_batch",
    "compute_metrics",
    "gaussian_kernel",
    "gaussian_surface_metrics",
    "layer_names",
    "load_lpips",
    "lpips_from_features",
    "masked_psnr",
    "masked_ssim",
    "nearest_distances",
    "psnr",
    "read_state_dict",
    "ssim",
    "ssim_map",
    "surface_metrics",
    "unit_normalize",
    "vgg_layers",
    "vgg_state_dict_shapes",
]
