"""PSNR and SSIM, plain and masked, following FaceLift's / pixelSplat's evaluation convention.

Accepted layouts (``pred``, ``target``: NumPy arrays or torch tensors, same shape):

- ``(H, W)``: one grayscale image;
- ``(H, W, C)``: one image, **channel-last** (C must be 1 or 3; a channel-first single image
  must be passed as ``(1, C, H, W)``);
- ``(B, C, H, W)``: a batch, **channel-first** (PyTorch layout).

Values are floats in ``[0, data_range]`` (``data_range`` defaults to 1), or ``uint8`` in
[0, 255], which is divided by 255 first. Everything is computed in float64 on the input's device.
A single image gives a 0-d tensor, a batch a ``(B,)`` tensor of per-image values (average them
yourself, as FaceLift does).

Masks weight pixels, values in [0, 1] (bool, float, or ``uint8`` 0..255): ``(H, W)`` (shared by the
whole batch), ``(H, W, 1)`` for a single image, ``(B, H, W)`` or ``(B, 1, H, W)`` for a batch.

PSNR: ``10·log10(data_range² / MSE)`` with the MSE over all channels and pixels of one image;
both images are first clipped to ``[0, data_range]`` (FaceLift's ``compute_psnr`` does).
Identical images give ``+inf`` (not an error, not a large finite number); an average over a batch
that contains such an image is ``+inf`` too.

SSIM (Wang et al. 2004): Gaussian window of 11 taps (σ = 1.5, i.e. the 1-D kernel
``exp(-k²/(2σ²))`` for k = -5..5, normalised to sum 1, applied separably), ``C1 = (0.01·L)²``,
``C2 = (0.03·L)²`` with ``L = data_range``; local statistics only where the whole window fits
('valid' filtering: the SSIM map of an H×W image is (H-10)×(W-10)); per-channel maps averaged
over channels and positions. By default (``sample_covariance=True``) the local (co)variances
carry the sample factor 121/120: this is ``skimage.metrics.structural_similarity(x, y,
win_size=11, gaussian_weights=True, data_range=1)`` per channel with skimage's default
``use_sample_covariance=True`` — the call pixelSplat and FaceLift make, so our numbers compare with
theirs. ``sample_covariance=False`` gives Wang et al.'s population statistics. Inputs are not
clipped. SSIM(x, x) = 1 exactly (up to rounding).

Masked variants, with mask ``m`` (the mouse), ignore every pixel where ``m = 0``:

- masked PSNR: the MSE is ``Σ m·(x−y)² / (C·Σ m)``, i.e. over the mask pixels only;
- masked SSIM: the local statistics at each window position are computed over the mask pixels
  in that window only (normalised convolution: Gaussian weights ``g·m`` renormalised to sum 1,
  e.g. ``μx = (g*(m·x)) / (g*m)``), and the SSIM map is averaged with weights
  ``m(p) · (g*m)(p)`` — the mask at the window centre ``p`` times the Gaussian-weighted fraction
  of that window inside the mask — over the same 'valid' positions as the plain SSIM. So pixels
  outside the mask never enter the value, positions near the mask border count less, and a mask
  of all ones gives exactly the plain SSIM.

An empty mask (``Σ m = 0``) gives NaN for that image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

ImageLike = torch.Tensor | np.ndarray

SSIM_WINDOW_SIZE = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _to_float64(x: ImageLike, name: str, device: torch.device | None = None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    if t.dtype == torch.uint8:
        t = t.to(torch.float64) / 255.0
    elif t.dtype == torch.bool:
        t = t.to(torch.float64)
    elif t.is_floating_point():
        t = t.to(torch.float64)
    else:
        raise ValueError(f"{name}: expected a float or uint8 array, got dtype {t.dtype}")
    if device is not None:
        t = t.to(device)
    return t


def as_batch(image: ImageLike, name: str = "image") -> tuple[torch.Tensor, bool]:
    """``image`` in one of the accepted layouts -> ``((B, C, H, W) float64 tensor, single)``.

    ``single`` is True for the 2-D / 3-D single-image layouts. ``uint8`` is divided by 255.
    """
    t = _to_float64(image, name)
    if t.ndim == 2:
        return t[None, None], True
    if t.ndim == 3:
        if t.shape[-1] not in (1, 3):
            raise ValueError(
                f"{name}: a 3-D image must be channel-last (H, W, C) with C = 1 or 3, got shape "
                f"{tuple(t.shape)}; pass a channel-first image as (1, C, H, W)"
            )
        return t.permute(2, 0, 1)[None], True
    if t.ndim == 4:
        return t, False
    raise ValueError(
        f"{name}: expected (H, W), (H, W, C) or (B, C, H, W), got shape {tuple(t.shape)}"
    )


def _pair(pred: ImageLike, target: ImageLike) -> tuple[torch.Tensor, torch.Tensor, bool]:
    x, single = as_batch(pred, "pred")
    y, _ = as_batch(target, "target")
    if x.shape != y.shape:
        raise ValueError(
            f"pred and target differ in shape: {tuple(pred.shape)} vs {tuple(target.shape)}"
        )
    return x, y.to(x.device), single


def _mask_batch(
    mask: ImageLike, shape: torch.Size, single: bool, device: torch.device
) -> torch.Tensor:
    """``mask`` -> (B, 1, H, W) float64 weights broadcast to the image batch ``shape``."""
    b, _, h, w = shape
    m = _to_float64(mask, "mask", device)
    s = tuple(m.shape)
    if s == (h, w):
        m = m[None, None]
    elif m.ndim == 3 and single and s == (h, w, 1):
        m = m.permute(2, 0, 1)[None]
    elif m.ndim == 3 and s == (b, h, w):
        m = m[:, None]
    elif m.ndim == 4 and s in ((b, 1, h, w), (1, 1, h, w)):
        pass
    else:
        layout = "(H, W) or (H, W, 1)" if single else "(H, W), (B, H, W) or (B, 1, H, W)"
        raise ValueError(
            f"mask: expected {layout} for images of shape (B, C, H, W) = {tuple(shape)}, got {s}"
        )
    if bool(torch.isnan(m).any()) or float(m.min()) < 0.0 or float(m.max()) > 1.0:
        raise ValueError("mask: values must lie in [0, 1] (or be bool / uint8 0..255)")
    return m.expand(b, 1, h, w)


def _zero_outside(
    x: torch.Tensor, y: torch.Tensor, m: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero both images where the mask is 0, so that NaN/inf there cannot leak through 0·x."""
    outside = m == 0
    return x.masked_fill(outside, 0.0), y.masked_fill(outside, 0.0)


def _finish(values: torch.Tensor, single: bool) -> torch.Tensor:
    return values[0] if single else values


# ----------------------------------------------------------------------------------------- PSNR


def _psnr_from_mse(mse: torch.Tensor, data_range: float) -> torch.Tensor:
    # data_range² / 0 = inf -> +inf dB; 0 / 0 (empty mask) = nan.
    return 10.0 * torch.log10(data_range**2 / mse)


def psnr(
    pred: ImageLike, target: ImageLike, *, data_range: float = 1.0, clip: bool = True
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (``+inf`` for identical images).

    ``clip`` (default, FaceLift's convention) clips both images to ``[0, data_range]`` first.
    """
    x, y, single = _pair(pred, target)
    if clip:
        x, y = x.clamp(0.0, data_range), y.clamp(0.0, data_range)
    mse = (x - y).square().mean(dim=(1, 2, 3))
    return _finish(_psnr_from_mse(mse, data_range), single)


def masked_psnr(
    pred: ImageLike,
    target: ImageLike,
    mask: ImageLike,
    *,
    data_range: float = 1.0,
    clip: bool = True,
) -> torch.Tensor:
    """PSNR over the mask pixels only: MSE = ``Σ m·(x−y)² / (C·Σ m)``; NaN for an empty mask."""
    x, y, single = _pair(pred, target)
    m = _mask_batch(mask, x.shape, single, x.device)
    x, y = _zero_outside(x, y, m)
    if clip:
        x, y = x.clamp(0.0, data_range), y.clamp(0.0, data_range)
    sq = ((x - y).square() * m).sum(dim=(1, 2, 3))
    mse = sq / (m.sum(dim=(1, 2, 3)) * x.shape[1])
    return _finish(_psnr_from_mse(mse, data_range), single)


# ------------------------------------------------------------------------------ silhouette IoU


def silhouette_iou(pred_alpha: torch.Tensor | np.ndarray, target_alpha: torch.Tensor | np.ndarray,
                   threshold: float = 0.5) -> float | None:
    """Intersection over union of two silhouettes ``(H, W)``: ``pred_alpha > threshold`` (a
    render's accumulated opacity) against ``target_alpha > threshold`` (the real mask), the
    number Pose Splatter and MoReMouse report for mice. None when both are empty."""
    pred = torch.as_tensor(pred_alpha) > threshold
    target = torch.as_tensor(target_alpha).to(pred.device) > threshold
    if pred.shape != target.shape:
        raise ValueError(f"silhouettes of different sizes: {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    union = int((pred | target).sum())
    return None if union == 0 else int((pred & target).sum()) / union


#: How far below white (in any channel, images in [0, 1]) a pixel of a view generated on white
#: must be to count as mouse: a generated view has no alpha channel.
WHITE_TOLERANCE = 0.1


def silhouette_on_white(rgb: torch.Tensor, tolerance: float = WHITE_TOLERANCE) -> torch.Tensor:
    """The silhouette ``(..., H, W)`` (1.0 = mouse) of images ``(..., H, W, 3)`` in [0, 1] drawn
    on white: where some channel is more than ``tolerance`` below 1. For the views Stage 1
    generates (it composites on white), to score them with :func:`silhouette_iou`; a mouse as
    pale as the background is missed."""
    return ((1.0 - torch.as_tensor(rgb)).amax(dim=-1) > tolerance).to(torch.float32)


# ----------------------------------------------------------------------------------------- SSIM


def gaussian_kernel(
    size: int = SSIM_WINDOW_SIZE,
    sigma: float = SSIM_SIGMA,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Normalised 1-D Gaussian taps ``exp(-k²/(2σ²))``, k = -(size//2)..size//2, shape (size,)."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"SSIM window size must be odd and positive, got {size}")
    k = torch.arange(size, dtype=dtype, device=device) - (size // 2)
    g = torch.exp(-(k**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering of every (H, W) plane of ``x`` (..., H, W)."""
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    n = taps.numel()
    flat = x.reshape(-1, 1, h, w)
    flat = F.conv2d(flat, taps.view(1, 1, 1, n))
    flat = F.conv2d(flat, taps.view(1, 1, n, 1))
    return flat.reshape(*lead, h - n + 1, w - n + 1)


def _check_size(x: torch.Tensor, window_size: int) -> None:
    if x.shape[-1] < window_size or x.shape[-2] < window_size:
        raise ValueError(
            f"SSIM needs images of at least {window_size}×{window_size} pixels, got "
            f"{x.shape[-2]}×{x.shape[-1]}"
        )


def _ssim_from_moments(
    mx: torch.Tensor,
    my: torch.Tensor,
    exx: torch.Tensor,
    eyy: torch.Tensor,
    exy: torch.Tensor,
    *,
    data_range: float,
    k1: float,
    k2: float,
    cov_norm: float,
) -> torch.Tensor:
    vx = cov_norm * (exx - mx * mx)
    vy = cov_norm * (eyy - my * my)
    vxy = cov_norm * (exy - mx * my)
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    num = (2.0 * mx * my + c1) * (2.0 * vxy + c2)
    den = (mx * mx + my * my + c1) * (vx + vy + c2)
    return num / den


def _cov_norm(window_size: int, sample_covariance: bool) -> float:
    n = window_size * window_size
    return n / (n - 1.0) if sample_covariance else 1.0


def ssim_map(
    pred: ImageLike,
    target: ImageLike,
    *,
    data_range: float = 1.0,
    window_size: int = SSIM_WINDOW_SIZE,
    sigma: float = SSIM_SIGMA,
    k1: float = SSIM_K1,
    k2: float = SSIM_K2,
    sample_covariance: bool = True,
) -> torch.Tensor:
    """Per-channel SSIM map (B, C, H−w+1, W−w+1) (w = ``window_size``) of the batch layout."""
    x, y, _ = _pair(pred, target)
    return _ssim_map(x, y, data_range, window_size, sigma, k1, k2, sample_covariance)


def _ssim_map(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float,
    window_size: int,
    sigma: float,
    k1: float,
    k2: float,
    sample_covariance: bool,
) -> torch.Tensor:
    _check_size(x, window_size)
    taps = gaussian_kernel(window_size, sigma, device=x.device)
    mx, my, exx, eyy, exy = _filter_valid(torch.stack([x, y, x * x, y * y, x * y]), taps)
    return _ssim_from_moments(
        mx, my, exx, eyy, exy,
        data_range=data_range, k1=k1, k2=k2, cov_norm=_cov_norm(window_size, sample_covariance),
    )  # fmt: skip


def ssim(
    pred: ImageLike,
    target: ImageLike,
    *,
    data_range: float = 1.0,
    window_size: int = SSIM_WINDOW_SIZE,
    sigma: float = SSIM_SIGMA,
    k1: float = SSIM_K1,
    k2: float = SSIM_K2,
    sample_covariance: bool = True,
) -> torch.Tensor:
    """Mean SSIM per image (see the module docstring for the exact definition)."""
    x, y, single = _pair(pred, target)
    smap = _ssim_map(x, y, data_range, window_size, sigma, k1, k2, sample_covariance)
    return _finish(smap.mean(dim=(1, 2, 3)), single)


def masked_ssim(
    pred: ImageLike,
    target: ImageLike,
    mask: ImageLike,
    *,
    data_range: float = 1.0,
    window_size: int = SSIM_WINDOW_SIZE,
    sigma: float = SSIM_SIGMA,
    k1: float = SSIM_K1,
    k2: float = SSIM_K2,
    sample_covariance: bool = True,
) -> torch.Tensor:
    """SSIM over the mask only (normalised-convolution statistics; see the module docstring).

    Pixels where the mask is 0 do not influence the value at all. NaN for an empty mask.
    """
    x, y, single = _pair(pred, target)
    _check_size(x, window_size)
    m = _mask_batch(mask, x.shape, single, x.device)
    taps = gaussian_kernel(window_size, sigma, device=x.device)
    x, y = _zero_outside(x, y, m)
    coverage = _filter_valid(m, taps)  # (B, 1, h, w): Σ g·m over each window
    mx, my, exx, eyy, exy = _filter_valid(torch.stack([m * x, m * y, m * x * x, m * y * y,
                                                       m * x * y]), taps)  # fmt: skip
    denom = coverage.clamp_min(1e-12)
    smap = _ssim_from_moments(
        mx / denom, my / denom, exx / denom, eyy / denom, exy / denom,
        data_range=data_range, k1=k1, k2=k2, cov_norm=_cov_norm(window_size, sample_covariance),
    )  # fmt: skip
    r = window_size // 2
    h, w = x.shape[-2:]
    weight = m[..., r : h - r, r : w - r] * coverage  # (B, 1, h', w')
    weight = weight.expand_as(smap)
    smap = torch.where(weight > 0, smap, torch.zeros_like(smap))
    values = (weight * smap).sum(dim=(1, 2, 3)) / weight.sum(dim=(1, 2, 3))
    return _finish(values, single)
