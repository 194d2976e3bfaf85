"""LPIPS-VGG (Zhang et al. 2018, version 0.1) on our own VGG16, from local weight files only.

Definition, for images ``x``, ``y`` (B, 3, H, W) with values in [0, 1]:

1. ``2·x − 1`` (to [−1, 1]), then LPIPS's scaling layer ``(x − shift) / scale``, shift
   (−0.030, −0.088, −0.188), scale (0.458, 0.448, 0.450) (:class:`~.vgg.VGGFeatures`,
   ``input_norm="lpips"``);
2. VGG16 features after ``relu1_2``, ``relu2_2``, ``relu3_3``, ``relu4_3``, ``relu5_3``
   (C = 64, 128, 256, 512, 512);
3. each feature vector unit-normalised over channels: ``f / (‖f‖₂ + 1e-10)``;
4. ``d_l = Σ_c w_{l,c} · (f̂x − f̂y)²_c`` with the linear weights ``w_l`` (the LPIPS package's
   ``lin{l}.model.1.weight``, shape (1, C, 1, 1): a bias-free 1×1 convolution);
5. spatial mean of ``d_l``, summed over the five layers. One value per image, ≥ 0 for
   non-negative weights (the released ones are), 0 for identical images, symmetric.

Weights: torchvision's VGG16 state dict (``features.{i}.weight/bias``, ``classifier.*``
ignored) and the LPIPS package's VGG linear layers (``lin0.model.1.weight`` …
``lin4.model.1.weight``), either in two files or one combined file (the LPIPS package's full-model
layout ``net.slice{s}.{i}.*`` + ``lin{l}.*`` is accepted too). ``.pth`` / ``.pt`` / ``.safetensors``
(see :mod:`.weights_io`). Without weights LPIPS is *unavailable* (:class:`LPIPSUnavailable`, with a
reason), never silently 0.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from mouselift.errors import WeightsError

from .vgg import VGGFeatures, split_vgg_keys
from .weights_io import first_of, read_state_dict

LPIPS_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
LPIPS_EPS = 1e-10
LPIPS_MIN_SIZE = 16  # relu5_3 sits after four 2×2 pools

_LIN_KEY = re.compile(r"^(?:lin(\d)|lins\.(\d))\.model\.1\.weight$")

NO_WEIGHTS_REASON = (
    "no LPIPS weights given (LPIPS-VGG needs local files: --vgg-weights for torchvision's VGG16 "
    "and --lpips-weights for the LPIPS lin layers, or one combined file)"
)


@dataclass(frozen=True)
class LPIPSUnavailable:
    """LPIPS could not be computed; ``reason`` is a one-line explanation for reports."""

    reason: str = NO_WEIGHTS_REASON


def unit_normalize(features: torch.Tensor, eps: float = LPIPS_EPS) -> torch.Tensor:
    """``f / (‖f‖₂ + eps)`` with the norm over the channel axis 1 of (B, C, H, W)."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + eps)


def lpips_from_features(
    features_x: Sequence[torch.Tensor],
    features_y: Sequence[torch.Tensor],
    lin_weights: Sequence[torch.Tensor],
) -> torch.Tensor:
    """Steps 3–5 of the definition: (B,) distances from per-layer (B, C_l, H_l, W_l) features.

    ``lin_weights[l]`` has C_l elements (any shape, e.g. (1, C_l, 1, 1)).
    """
    if not (len(features_x) == len(features_y) == len(lin_weights)):
        raise ValueError("lpips_from_features: need one weight tensor per feature layer")
    total: torch.Tensor | None = None
    for fx, fy, w in zip(features_x, features_y, lin_weights, strict=True):
        diff = (unit_normalize(fx) - unit_normalize(fy)).square()
        layer = (diff * w.reshape(1, -1, 1, 1).to(diff)).sum(dim=1).mean(dim=(1, 2))
        total = layer if total is None else total + layer
    assert total is not None
    return total


def _lin_tensors(state: Mapping[str, torch.Tensor]) -> dict[int, torch.Tensor]:
    """``{l: tensor}`` from ``lin{l}.model.1.weight`` (preferred) or ``lins.{l}.model.1.weight``."""
    found: dict[int, torch.Tensor] = {}
    for key, value in state.items():
        m = _LIN_KEY.match(key)
        if m and (m.group(1) is not None or int(m.group(2)) not in found):
            found[int(m.group(1) or m.group(2))] = value
    return found


def check_lin_weights(lins: Mapping[int, torch.Tensor], source: str) -> list[torch.Tensor]:
    """Validate the five LPIPS-VGG linear weights; one-line WeightsError naming ``source``."""
    out = []
    for layer, channels in enumerate(LPIPS_CHANNELS):
        key = f"lin{layer}.model.1.weight"
        if layer not in lins:
            raise WeightsError(f"{source}: missing LPIPS key {key!r}")
        t = lins[layer]
        if tuple(t.shape) != (1, channels, 1, 1) or not t.is_floating_point():
            raise WeightsError(
                f"{source}: {key!r} has shape {tuple(t.shape)} ({t.dtype}), expected "
                f"(1, {channels}, 1, 1) (float; LPIPS-VGG)"
            )
        out.append(t)
    return out


class LPIPS(nn.Module):
    """LPIPS-VGG distance (see the module docstring); frozen, differentiable w.r.t. the images.

    ``LPIPS()`` is untrained (random VGG16, all linear weights 1) — for tests; use
    :meth:`from_files` (or :func:`load_lpips`) for the real metric.
    """

    def __init__(
        self, vgg: VGGFeatures | None = None, lin_weights: Sequence[torch.Tensor] | None = None
    ) -> None:
        super().__init__()
        if vgg is None:
            vgg = VGGFeatures("vgg16", LPIPS_LAYERS, input_norm="lpips")
        if vgg.arch != "vgg16" or vgg.layers != LPIPS_LAYERS or vgg.input_norm != "lpips":
            raise ValueError("LPIPS needs VGGFeatures('vgg16', LPIPS_LAYERS, input_norm='lpips')")
        self.vgg = vgg
        if lin_weights is None:
            lin_weights = [torch.ones(1, c, 1, 1) for c in LPIPS_CHANNELS]
        lins = check_lin_weights(dict(enumerate(lin_weights)), "LPIPS linear weights")
        for layer, w in enumerate(lins):
            self.register_buffer(f"lin{layer}", w.detach().to(torch.float32).clone())
        self.requires_grad_(False)

    def lin_weights(self) -> list[torch.Tensor]:
        """The five (1, C, 1, 1) linear weights."""
        return [getattr(self, f"lin{layer}") for layer in range(len(LPIPS_CHANNELS))]

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) LPIPS distances of (B, 3, H, W) images in [0, 1] (H, W ≥ 16)."""
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"LPIPS expects two (B, 3, H, W) images of equal shape, got {tuple(x.shape)} "
                f"and {tuple(y.shape)}"
            )
        if min(x.shape[-2:]) < LPIPS_MIN_SIZE:
            raise ValueError(f"LPIPS needs images of at least {LPIPS_MIN_SIZE}×{LPIPS_MIN_SIZE}")
        n = x.shape[0]
        feats = self.vgg(torch.cat([x, y]))
        return lpips_from_features(
            [f[:n] for f in feats], [f[n:] for f in feats], self.lin_weights()
        )

    @classmethod
    def from_files(
        cls, vgg_weights: str | Path | None, lpips_weights: str | Path | None = None
    ) -> LPIPS:
        """Load from torchvision's VGG16 file and the LPIPS lin-weights file (or one combined).

        Either argument may name a combined file holding both; VGG tensors are taken from
        ``vgg_weights`` first, lin weights from ``lpips_weights`` first.
        """
        paths = [str(p) for p in (vgg_weights, lpips_weights) if p is not None]
        if not paths:
            raise WeightsError(NO_WEIGHTS_REASON)
        parsed = []
        for path in paths:
            features, other, unknown = split_vgg_keys(read_state_dict(path, "LPIPS/VGG16 weights"))
            if unknown:
                raise WeightsError(
                    f"{path}: unexpected key {first_of(unknown)} (expected torchvision VGG16 "
                    "features.{i}.* and/or LPIPS lin{l}.model.1.weight)"
                )
            parsed.append((path, features, _lin_tensors(other)))
        vgg_part = next(((p, f) for p, f, _ in parsed if f), None)
        lin_part = next(((p, lin) for p, _, lin in reversed(parsed) if lin), None)
        names = " + ".join(paths)
        if vgg_part is None:
            raise WeightsError(
                f"{names}: no VGG16 'features.{{i}}.weight' tensors found; LPIPS needs "
                "torchvision's VGG16 state dict (--vgg-weights)"
            )
        if lin_part is None:
            raise WeightsError(
                f"{names}: no LPIPS 'lin0.model.1.weight' … 'lin4.model.1.weight' found; LPIPS "
                "needs the LPIPS package's VGG linear weights (--lpips-weights)"
            )
        vgg = VGGFeatures("vgg16", LPIPS_LAYERS, input_norm="lpips")
        vgg.load_vgg_state_dict(vgg_part[1], vgg_part[0])
        return cls(vgg, check_lin_weights(lin_part[1], lin_part[0]))


def load_lpips(
    vgg_weights: str | Path | None = None,
    lpips_weights: str | Path | None = None,
    *,
    device: torch.device | str | None = None,
) -> LPIPS | LPIPSUnavailable:
    """:class:`LPIPS` from the given files, or :class:`LPIPSUnavailable` when none is given.

    Files that are given but wrong raise :class:`~mouselift.errors.WeightsError`.
    """
    if vgg_weights is None and lpips_weights is None:
        return LPIPSUnavailable(NO_WEIGHTS_REASON)
    model = LPIPS.from_files(vgg_weights, lpips_weights)
    return model.to(device) if device is not None else model
