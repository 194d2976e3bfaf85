"""Random VGG / LPIPS weights in the real on-disk layouts, and an independent reference VGG.

The layouts are written out here by hand (not taken from ``mouselift.metrics``): torchvision's
``vgg16`` / ``vgg19`` ``features`` Sequential, where index ``i`` is a 3×3 convolution, ``i + 1``
its ReLU, and the max-pools sit at the listed indices.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# (features index, out channels, in channels) of every convolution.
VGG16_CONVS = [
    (0, 64, 3), (2, 64, 64),
    (5, 128, 64), (7, 128, 128),
    (10, 256, 128), (12, 256, 256), (14, 256, 256),
    (17, 512, 256), (19, 512, 512), (21, 512, 512),
    (24, 512, 512), (26, 512, 512), (28, 512, 512),
]  # fmt: skip
VGG16_POOLS = (4, 9, 16, 23, 30)
VGG19_CONVS = [
    (0, 64, 3), (2, 64, 64),
    (5, 128, 64), (7, 128, 128),
    (10, 256, 128), (12, 256, 256), (14, 256, 256), (16, 256, 256),
    (19, 512, 256), (21, 512, 512), (23, 512, 512), (25, 512, 512),
    (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512),
]  # fmt: skip
VGG19_POOLS = (4, 9, 18, 27, 36)
ARCHS = {"vgg16": (VGG16_CONVS, VGG16_POOLS), "vgg19": (VGG19_CONVS, VGG19_POOLS)}

# LPIPS-VGG: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of VGG16 and their widths.
LPIPS_RELU_INDICES = (3, 8, 15, 22, 29)
LPIPS_WIDTHS = (64, 128, 256, 512, 512)
LPIPS_SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
LPIPS_SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)


def random_vgg_state(arch: str, seed: int = 0, *, classifier: bool = True) -> dict:
    """A torchvision-layout state dict of ``arch`` with He-normal weights and small biases."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, c_out, c_in in ARCHS[arch][0]:
        std = (2.0 / (9 * c_in)) ** 0.5
        state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen) * std
        state[f"features.{index}.bias"] = torch.randn(c_out, generator=gen) * 0.01
    if classifier:  # ignored on load; real shapes would be (4096, 25088) etc.
        state["classifier.0.weight"] = torch.randn(8, 16, generator=gen)
        state["classifier.0.bias"] = torch.randn(8, generator=gen)
        state["classifier.6.weight"] = torch.randn(4, 8, generator=gen)
    return state


def random_lin_state(seed: int = 1) -> dict:
    """The LPIPS package's VGG lin weights: non-negative, shape (1, C, 1, 1)."""
    gen = torch.Generator().manual_seed(seed)
    return {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) / c
        for i, c in enumerate(LPIPS_WIDTHS)
    }


def reference_vgg(x: torch.Tensor, state: dict, arch: str, last: int) -> dict[int, torch.Tensor]:
    """Run torchvision's ``features[: last + 1]`` functionally; outputs keyed by module index."""
    convs, pools = ARCHS[arch]
    conv_indices = {index for index, _, _ in convs}
    out: dict[int, torch.Tensor] = {}
    h = x
    for i in range(last + 1):
        if i in conv_indices:
            h = F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1)
        elif i in pools:
            h = F.max_pool2d(h, kernel_size=2, stride=2)
        else:
            assert i - 1 in conv_indices
            h = F.relu(h)
        out[i] = h
    return out
