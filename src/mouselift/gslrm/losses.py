"""Training losses of Stage 2 (GS-LRM): MSE, FaceLift's VGG19 perceptual loss, SSIM, LPIPS.

All of them compare renders with target views, images ``(N, 3, H, W)`` in [0, 1] on the same
background; :func:`stage2_loss` takes FaceLift's ``(B, V, 3, H, W)`` and flattens the views.
Weights (:class:`GSLRMLossConfig`) default to FaceLift's ``configs/gslrm.yaml``: MSE 1.0,
perceptual 0.5, SSIM 0, LPIPS 0, and an "L2 warm-up": before step ``l2_warmup_steps`` (500) the
perceptual and LPIPS weights count as 0 (FaceLift's ``GSLRM._apply_warmup_modifications``; SSIM is
left as it is, as there).

**Perceptual loss** (:class:`PerceptualLoss`; FaceLift's ``gslrm/model/utils_losses.py``, itself
from Li et al.'s *Crowdsampling the Plenoptic Function*):

1. images scaled to [0, 255] and the MatConvNet VGG mean subtracted per channel,
   ``x' = 255·x − (123.68, 116.779, 103.939)`` (RGB order, no division by a std);
2. VGG19 convolutions with **average** pooling (2×2, stride 2; FaceLift's modules are named
   ``max`` but are ``AvgPool2d``), features after ``relu1_2``, ``relu2_2``, ``relu3_2``,
   ``relu4_2``, ``relu5_2`` (torchvision ``features`` indices 3, 8, 13, 22, 31; FaceLift's
   ``relu2``, ``relu4``, ``relu6``, ``relu10``, ``relu14``; conv5_3 and conv5_4 are loaded but
   unused);
3. distance: the mean absolute difference (L1, mean over batch, channels and positions) of the
   scaled images ``x'`` and of each feature map, weighted by ``LAYER_WEIGHTS`` =
   (1, 1/2.6, 1/4.8, 1/3.7, 1/5.6, 10/1.5) in that order (image first), summed and divided by 255.

It is 0 for identical images and positive otherwise. The network is frozen (no gradients to its
weights, always in eval mode); gradients flow to the images.

**VGG19 weights come from a local file only** (never downloaded), read by
:func:`mouselift.metrics.vgg19_weights.read_vgg19_weights`: (a) FaceLift's GS-LRM checkpoint,
(b) a torchvision-layout ``vgg19`` state dict or (c) MatConvNet's
``imagenet-vgg-verydeep-19.mat``. (a) and (c) hold the same network FaceLift trains with. The
input convention above is the one those weights expect; torchvision's own ImageNet ``vgg19``
weights were trained on ``(x − mean)/std`` inputs in [0, 1] units, so loaded through (b) they
give a perceptual loss on a different scale from FaceLift's — (b) is meant for the same
MatConvNet weights in torchvision layout. A wrong file is a one-line
:class:`~mouselift.errors.WeightsError`.

**SSIM loss**: ``1 − SSIM`` with :func:`mouselift.metrics.image.ssim` at FaceLift's
``pytorch_msssim.SSIM`` settings (11-tap Gaussian window, σ 1.5, 'valid' positions, K 0.01/0.03,
population covariances: ``sample_covariance=False``), averaged over images.

**LPIPS**: :class:`mouselift.metrics.LPIPS` (LPIPS-VGG v0.1 from local files; FaceLift's
``lpips.LPIPS(net="vgg")`` on ``2x − 1``), averaged over images.

**Masked losses** (``masked: true``): the mask is the target alpha, optionally dilated by
``mask_dilation`` pixels (a square max filter), used as per-pixel weights in [0, 1]; every loss
then averages over mouse pixels only, pooled over the whole batch (each mouse pixel of every view
counts the same): MSE ``Σ m·(x−y)² / (3·Σ m)``; perceptual and LPIPS terms weight each feature
position with the mask average-pooled to that layer's resolution (the perceptual network's own
2×2 pools), ``Σ m_l·|Δf| / (C_l·Σ m_l)``; SSIM is :func:`~mouselift.metrics.image.masked_ssim` per
view, averaged over views with a non-empty mask. A mask of ones gives exactly the unmasked
losses; an empty mask gives 0. Masked losses say nothing about the background: renders may put
anything there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from ..config import StrictModel
from ..errors import ConfigError
from ..metrics.image import masked_ssim, ssim
from ..metrics.lpips import LPIPS, LPIPSUnavailable, unit_normalize
from ..metrics.vgg import check_vgg_state_dict, vgg_features, vgg_layers
from ..metrics.vgg19_weights import read_vgg19_weights

#: FaceLift's weights of the image term and the five feature terms (``utils_losses.py``).
LAYER_WEIGHTS: tuple[float, ...] = (1.0, 1 / 2.6, 1 / 4.8, 1 / 3.7, 1 / 5.6, 10 / 1.5)
#: The VGG19 layers whose outputs the perceptual loss compares (FaceLift's content features).
PERCEPTUAL_LAYERS: tuple[str, ...] = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
#: MatConvNet's VGG mean in [0, 255] units, RGB order.
VGG_MEAN_255: tuple[float, float, float] = (123.68, 116.779, 103.939)


class GSLRMLossConfig(StrictModel):
    """Weights of the Stage-2 losses (FaceLift's ``training.losses`` and ``l2_warmup_steps``)."""

    mse: float = Field(1.0, ge=0.0, description="weight of the MSE (FaceLift's l2_loss_weight)")
    perceptual: float = Field(0.5, ge=0.0, description="weight of FaceLift's VGG19 perceptual "
                              "loss (needs VGG19 weights)")
    ssim: float = Field(0.0, ge=0.0, description="weight of 1 − SSIM")
    lpips: float = Field(0.0, ge=0.0, description="weight of LPIPS-VGG (needs LPIPS weights)")
    alpha: float = Field(0.0, ge=0.0, description="weight of the MSE between the rendered "
                         "opacity and the target mask, over all pixels (not FaceLift's: 0 "
                         "there); lets a model trained from scratch clear its initial fog. "
                         "Over every target view, the novel ones included: the silhouette loss")
    depth: float = Field(0.0, ge=0.0, description="weight of the depth loss against the "
                         "samples' geometry targets (`mouselift geometry`; not FaceLift's: 0 "
                         "there): L1 of log-depth, the mean of the input pixels' Gaussians "
                         "(camera z along their rays) and of the rendered expected depth at "
                         "the target views, over pixels with a target depth")
    masked: bool = Field(False, description="average every loss over mouse pixels only "
                         "(mask = target alpha)")
    ignore_unseen: bool = Field(True, description="average every image term and the alpha "
                                "term over the pixels each target's camera saw (where a crop ran "
                                "past its source image it is unknown, not background); with "
                                "nothing unseen, FaceLift's data, FaceLift's loss exactly; "
                                "false: background")
    mask_dilation: int = Field(0, ge=0, description="grow the mask by this many pixels first")
    l2_warmup_steps: int = Field(500, ge=0, description="before this step the perceptual and "
                                 "LPIPS weights count as 0 (FaceLift's)")


def loss_weights(config: GSLRMLossConfig, step: int) -> dict[str, float]:
    """The weights in effect at ``step`` (the L2 warm-up applied)."""
    warm = step < config.l2_warmup_steps
    return {"mse": config.mse, "perceptual": 0.0 if warm else config.perceptual,
            "ssim": config.ssim, "lpips": 0.0 if warm else config.lpips, "alpha": config.alpha,
            "depth": config.depth}


# ------------------------------------------------------------------------------- mask helpers


def dilate_mask(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """``(N, 1, H, W)`` mask grown by ``pixels`` (a ``(2p+1)²`` max filter); as is for 0."""
    if pixels <= 0:
        return mask
    return F.max_pool2d(mask, kernel_size=2 * pixels + 1, stride=1, padding=pixels)


def _mask_at(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The mask average-pooled (2×2, stride 2, as VGG's pools) down to ``size``."""
    while tuple(mask.shape[-2:]) != size and mask.shape[-1] >= 2 * size[1] \
            and mask.shape[-2] >= 2 * size[0]:
        mask = F.avg_pool2d(mask, 2, 2)
    if tuple(mask.shape[-2:]) != size:
        mask = F.adaptive_avg_pool2d(mask, size)
    return mask


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``(N, C, h, w)`` values; with a ``(N, 1, h, w)`` mask, ``Σ m·v / (C·Σ m)``
    (0 for an empty mask, still connected to the graph)."""
    if mask is None:
        return values.mean()
    weight = mask.to(values.dtype)
    total = weight.sum() * values.shape[1]
    # An empty mask has a zero numerator too: 0 / tiny = 0, and no host sync to test for it.
    return (values * weight).sum() / total.clamp_min(1e-12)


def _check_images(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 3:
        raise ValueError(f"expected two (N, 3, H, W) images of one shape, got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")
    if mask is not None and tuple(mask.shape) != (pred.shape[0], 1, *pred.shape[2:]):
        raise ValueError(f"mask must be (N, 1, H, W) = {(pred.shape[0], 1, *pred.shape[2:])}, "
                         f"got {tuple(mask.shape)}")


# -------------------------------------------------------------------------- individual losses


def mse_loss(pred: torch.Tensor, target: torch.Tensor,
             mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error (FaceLift's ``F.mse_loss``); masked: ``Σ m·(x−y)² / (3·Σ m)``."""
    _check_images(pred, target, mask)
    return masked_mean((pred - target).square(), mask)


def ssim_loss(pred: torch.Tensor, target: torch.Tensor,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """``1 − SSIM`` averaged over images (FaceLift's ``SsimLoss`` settings; masked: masked SSIM
    averaged over the images whose mask is not empty, 0 when all are)."""
    _check_images(pred, target, mask)
    if mask is None:
        value = ssim(pred, target, sample_covariance=False).mean()
    else:
        per_image = masked_ssim(pred, target, mask.clamp(0.0, 1.0), sample_covariance=False)
        valid = ~torch.isnan(per_image)
        if not bool(valid.any()):
            return (pred.sum() * 0.0).to(pred.dtype)
        value = per_image[valid].mean()
    return (1.0 - value).to(pred.dtype)


def lpips_loss(model: LPIPS, pred: torch.Tensor, target: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """LPIPS-VGG averaged over images; masked: each layer's distance map averaged over the mask
    (pooled to the layer's size) over the whole batch, summed over layers."""
    _check_images(pred, target, mask)
    if mask is None:
        return model(pred, target).mean()
    n = pred.shape[0]
    feats = model.vgg(torch.cat([pred, target]))
    total = pred.new_zeros(())
    for f, w in zip(feats, model.lin_weights(), strict=True):
        diff = (unit_normalize(f[:n]) - unit_normalize(f[n:])).square()
        d = (diff * w.reshape(1, -1, 1, 1).to(diff)).sum(dim=1, keepdim=True)
        total = total + masked_mean(d, _mask_at(mask.to(d), tuple(d.shape[-2:])))
    return total


# ----------------------------------------------------------------------- the perceptual loss


class PerceptualLoss(nn.Module):
    """FaceLift's VGG19 perceptual loss (see the module docstring), frozen and in eval mode.

    ``PerceptualLoss()`` has random weights (tests); use :meth:`from_file` for the real one.
    ``features`` is torchvision's VGG19 ``features`` Sequential up to ``relu5_2`` (index 31),
    with average pools, so a torchvision-layout state dict loads key for key."""

    def __init__(self) -> None:
        super().__init__()
        table = vgg_layers("vgg19")
        by_name = {layer.name: layer for layer in table}
        self.taps = tuple(by_name[name].index for name in PERCEPTUAL_LAYERS)
        self.features = vgg_features("vgg19", max(self.taps), pool="avg")
        self.register_buffer("mean", torch.tensor(VGG_MEAN_255).view(1, 3, 1, 1),
                             persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Always eval mode (the loss network never trains)."""
        return super().train(False)

    def load_vgg19(self, state: Mapping[str, torch.Tensor], source: str) -> None:
        """Load torchvision-layout VGG19 ``features.{i}.*`` tensors (all 16 convolutions,
        checked; those past ``relu5_2`` are not used)."""
        checked = check_vgg_state_dict(state, "vgg19", source)
        n = len(self.features)
        ours = {k: v.detach().to(torch.float32) for k, v in checked.items()
                if int(k.split(".")[1]) < n}
        self.features.load_state_dict({k[len("features."):]: v for k, v in ours.items()},
                                      strict=True)

    @classmethod
    def from_file(cls, path: str | Path) -> PerceptualLoss:
        """The loss with VGG19 weights from a FaceLift checkpoint, a torchvision-layout file or
        MatConvNet's ``.mat`` (see the module docstring)."""
        model = cls()
        model.load_vgg19(read_vgg19_weights(path), str(path))
        return model

    def forward(self, pred: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of ``(N, 3, H, W)`` images in [0, 1] (a scalar); ``mask`` ``(N, 1, H, W)``
        weights pixels (see the module docstring)."""
        _check_images(pred, target, mask)
        n = pred.shape[0]
        dtype = self.mean.dtype
        x = torch.cat([pred, target]).to(dtype) * 255.0 - self.mean
        m = None if mask is None else mask.to(dtype)
        total = masked_mean((x[:n] - x[n:]).abs(), m) * LAYER_WEIGHTS[0]
        h = x
        term = 1
        for i, module in enumerate(self.features):
            h = module(h)
            if m is not None and isinstance(module, nn.AvgPool2d):
                m = F.avg_pool2d(m, 2, 2)
            if i in self.taps:
                total = total + masked_mean((h[:n] - h[n:]).abs(), m) * LAYER_WEIGHTS[term]
                term += 1
        return total / 255.0


def load_perceptual_loss(path: str | Path, *,
                         device: torch.device | str | None = None) -> PerceptualLoss:
    """:meth:`PerceptualLoss.from_file`, moved to ``device``."""
    model = PerceptualLoss.from_file(path)
    return model.to(device) if device is not None else model


# ------------------------------------------------------------------------------- the total


def depth_loss(pred: torch.Tensor, target: torch.Tensor,
               where: torch.Tensor | None = None) -> torch.Tensor:
    """L1 of log-depth, ``|log pred − log target|``, averaged over the pixels with a target
    depth (``target > 0``), a positive prediction and ``where`` (bool, same shape) — unitless
    (a relative error), so its weight means the same at any resolution and scale of the world.
    0 (with gradients to ``pred``, all zero) when no pixel qualifies."""
    if pred.shape != target.shape:
        raise ValueError(f"depths of different shapes: {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    valid = (target > 0) & (pred.detach() > 0)
    if where is not None:
        valid = valid & where
    if not bool(valid.any()):
        return pred.sum() * 0.0
    log_pred = torch.log(pred[valid].clamp_min(1e-6))
    return (log_pred - torch.log(target[valid].to(pred.dtype))).abs().mean()


@dataclass(frozen=True)
class DepthTerms:
    """The depths :func:`stage2_loss`'s depth term compares (0 = no target there):
    ``pixel (B, Vi, 1, H, W)`` the camera-frame z of each input pixel's Gaussian against
    ``input_target``; ``render (B, Vt, 1, H, W)`` the rendered expected depth at the target
    views against ``target``."""

    pixel: torch.Tensor
    input_target: torch.Tensor
    render: torch.Tensor
    target: torch.Tensor


def stage2_loss(render: torch.Tensor, target: torch.Tensor, alpha: torch.Tensor | None,
                config: GSLRMLossConfig, step: int,
                perceptual: PerceptualLoss | None = None,
                lpips: LPIPS | LPIPSUnavailable | None = None,
                render_alpha: torch.Tensor | None = None,
                depths: DepthTerms | None = None,
                seen: torch.Tensor | None = None,
                ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The weighted Stage-2 loss of renders against targets, ``(B, V, 3, H, W)`` in [0, 1].

    ``seen`` ``(B, V, 1, H, W)``: the share of each target pixel its camera saw (the dataset's
    ``target_seen``); where it is below one and ``config.ignore_unseen``, every image term and
    the alpha term are averaged over the seen pixels only (the mask of the masked losses,
    multiplied by it) — a crop that ran past its source image is unknown there, not background.
    None, or all ones: FaceLift's loss exactly.

    ``alpha`` ``(B, V, 1, H, W)``: the target masks (needed when ``config.masked`` or
    ``config.alpha``); ``render_alpha`` (same shape): the renders' accumulated opacity (needed
    when ``config.alpha``); ``depths``: the predicted and target depths (needed when
    ``config.depth``); ``step`` the optimizer step (the L2 warm-up). Returns
    ``(total, parts)``: ``parts`` holds
    the unweighted, detached value of every loss that counts at this step plus ``mse`` and
    ``psnr`` (of the — masked — MSE) always. A term with a positive weight whose network is
    missing is a :class:`ConfigError`."""
    if render.ndim != 5 or render.shape != target.shape or render.shape[2] != 3:
        raise ValueError(f"expected render and target (B, V, 3, H, W) of one shape, got "
                         f"{tuple(render.shape)} and {tuple(target.shape)}")
    x = render.flatten(0, 1)
    y = target.flatten(0, 1).to(x.dtype)
    mask = None
    alpha_shape = (*render.shape[:2], 1, *render.shape[3:])
    if config.masked or config.alpha > 0.0:
        if alpha is None:
            raise ValueError("masked Stage-2 losses and the alpha loss need the target alpha")
        if alpha.shape != alpha_shape:
            raise ValueError(f"alpha must be (B, V, 1, H, W), got {tuple(alpha.shape)}")
    if config.masked:
        mask = dilate_mask(alpha.flatten(0, 1).to(x.dtype), config.mask_dilation)
    seen_mask = None
    if seen is not None and config.ignore_unseen:
        if seen.shape != alpha_shape:
            raise ValueError(f"seen must be (B, V, 1, H, W), got {tuple(seen.shape)}")
        if bool((seen < 1).any()):
            seen_mask = seen.flatten(0, 1).to(x.dtype)
            mask = seen_mask if mask is None else mask * seen_mask
    weights = loss_weights(config, step)

    mse = mse_loss(x, y, mask)
    total = weights["mse"] * mse
    parts: dict[str, torch.Tensor] = {"mse": mse.detach(),
                                      "psnr": -10.0 * torch.log10(mse.detach())}
    if weights["perceptual"] > 0.0:
        if perceptual is None:
            raise ConfigError(f"the perceptual loss (weight {config.perceptual}) needs VGG19 "
                              "weights: load them with load_perceptual_loss(path)")
        value = perceptual(x, y, mask).to(x.dtype)
        total = total + weights["perceptual"] * value
        parts["perceptual"] = value.detach()
    if weights["ssim"] > 0.0:
        value = ssim_loss(x, y, mask)
        total = total + weights["ssim"] * value
        parts["ssim"] = value.detach()
    if weights["lpips"] > 0.0:
        if lpips is None or isinstance(lpips, LPIPSUnavailable):
            reason = lpips.reason if isinstance(lpips, LPIPSUnavailable) else "none given"
            raise ConfigError(f"the LPIPS loss (weight {config.lpips}) needs LPIPS weights: "
                              f"{reason}")
        value = lpips_loss(lpips, x, y, mask).to(x.dtype)
        total = total + weights["lpips"] * value
        parts["lpips"] = value.detach()
    if weights["alpha"] > 0.0:
        if render_alpha is None or render_alpha.shape != alpha_shape:
            got = None if render_alpha is None else tuple(render_alpha.shape)
            raise ValueError(f"the alpha loss needs render_alpha (B, V, 1, H, W), got {got}")
        value = masked_mean((render_alpha.flatten(0, 1).to(x.dtype)
                             - alpha.flatten(0, 1).to(x.dtype)).square(), seen_mask)
        total = total + weights["alpha"] * value
        parts["alpha"] = value.detach()
    if weights["depth"] > 0.0:
        if depths is None:
            raise ValueError("the depth loss needs the predicted and target depths")
        seen = render_alpha.detach() > 0.5 if render_alpha is not None else None
        value = 0.5 * (depth_loss(depths.pixel, depths.input_target)
                       + depth_loss(depths.render, depths.target, seen))
        total = total + weights["depth"] * value
        parts["depth"] = value.detach()
    return total, parts


__all__ = [
    "LAYER_WEIGHTS",
    "PERCEPTUAL_LAYERS",
    "VGG_MEAN_255",
    "DepthTerms",
    "GSLRMLossConfig",
    "PerceptualLoss",
    "depth_loss",
    "dilate_mask",
    "load_perceptual_loss",
    "loss_weights",
    "lpips_loss",
    "masked_mean",
    "mse_loss",
    "ssim_loss",
    "stage2_loss",
]
