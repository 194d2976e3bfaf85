"""All image metrics for a batch of predictions in one call, for evaluation reports."""

from __future__ import annotations

import torch

from .image import ImageLike, _mask_batch, _pair, masked_psnr, masked_ssim, psnr, ssim
from .lpips import LPIPS, NO_WEIGHTS_REASON, LPIPSUnavailable

LPIPS_CHUNK = 8
#: The image metrics of a scored view (:func:`compute_metrics`' numbers), in the order a
#: summary lists them (:func:`~.views.score_views`); ``*_masked``: over the mouse only.
IMAGE_METRICS = ("psnr", "ssim", "psnr_masked", "ssim_masked", "lpips")


def _mean(values: torch.Tensor) -> float:
    return float(values.reshape(-1).mean())


@torch.no_grad()
def compute_metrics(
    pred: ImageLike,
    target: ImageLike,
    mask: ImageLike | None = None,
    lpips: LPIPS | LPIPSUnavailable | None = None,
) -> dict[str, float | str | None]:
    """PSNR, SSIM, LPIPS (and masked PSNR / SSIM) averaged over the images of a batch.

    Layouts and definitions as :mod:`.image` (RGB in [0, 1], or ``uint8``); LPIPS needs 3
    channels and H, W ≥ 16. Returns ``{"psnr", "ssim", "lpips"}``, plus ``"psnr_masked"`` and
    ``"ssim_masked"`` when ``mask`` is given. Values are means of per-image values (a PSNR of
    ``inf`` — an identical image — makes the mean ``inf``; an empty mask makes the masked
    values NaN). When ``lpips`` is None or :class:`LPIPSUnavailable`, ``"lpips"`` is None and
    ``"lpips_unavailable"`` holds the one-line reason: LPIPS is never reported as 0 for lack of
    weights.
    """
    x, y, single = _pair(pred, target)
    out: dict[str, float | str | None] = {
        "psnr": _mean(psnr(x, y)),
        "ssim": _mean(ssim(x, y)),
    }
    if isinstance(lpips, LPIPS):
        if x.shape[1] != 3:
            raise ValueError(f"LPIPS needs RGB images (3 channels), got {x.shape[1]}")
        ref = lpips.lin_weights()[0]
        values = [
            lpips(
                x[i : i + LPIPS_CHUNK].to(ref.device, ref.dtype),
                y[i : i + LPIPS_CHUNK].to(ref.device, ref.dtype),
            )
            for i in range(0, x.shape[0], LPIPS_CHUNK)
        ]
        out["lpips"] = _mean(torch.cat(values).double())
    else:
        out["lpips"] = None
        out["lpips_unavailable"] = lpips.reason if lpips is not None else NO_WEIGHTS_REASON
    if mask is not None:
        m = _mask_batch(mask, x.shape, single, x.device)
        out["psnr_masked"] = _mean(masked_psnr(x, y, m))
        out["ssim_masked"] = _mean(masked_ssim(x, y, m))
    return out
