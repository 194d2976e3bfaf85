"""A small VGG16 / VGG19 feature extractor that loads torchvision-layout weights from a local file.

Architecture (Simonyan & Zisserman; torchvision's ``vgg16`` / ``vgg19`` ``features`` part, no
batch norm): five blocks of 3×3 convolutions (padding 1, bias) each followed by a ReLU, and a 2×2
max-pool (stride 2) after every block. Widths 64, 128, 256, 512, 512; convolutions per block
2, 2, 3, 3, 3 (VGG16) or 2, 2, 4, 4, 4 (VGG19). Module ``i`` of torchvision's ``features``
Sequential is ``self.features[i]`` here, so a torchvision state dict loads key for key:
``features.{i}.weight`` (out, in, 3, 3) and ``features.{i}.bias`` (out,) for every convolution
``i``; ``classifier.*`` keys are ignored. Files: see :mod:`.weights_io`.

Layer names: ``conv{b}_{k}`` (convolution output), ``relu{b}_{k}`` (after its ReLU), ``pool{b}``
(after the max-pool), blocks ``b`` = 1..5, ``k`` = 1..n_b. LPIPS uses VGG16's ``relu1_2``,
``relu2_2``, ``relu3_3``, ``relu4_3``, ``relu5_3``.

Input: (B, 3, H, W) RGB. ``input_norm`` says what is done to it first:
``"imagenet"``: values in [0, 1], normalised with ImageNet mean/std (torchvision's convention);
``"lpips"``: values in [0, 1], mapped to [−1, 1], then LPIPS's scaling layer
``(x − shift) / scale`` with shift (−0.030, −0.088, −0.188), scale (0.458, 0.448, 0.450);
``"none"``: fed to the first convolution as given.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from mouselift.errors import ConfigError, WeightsError

from .weights_io import first_of, read_state_dict

VGGArch = Literal["vgg16", "vgg19"]
InputNorm = Literal["imagenet", "lpips", "none"]

VGG_BLOCK_WIDTHS = (64, 128, 256, 512, 512)
VGG_BLOCK_CONVS: dict[str, tuple[int, ...]] = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)

# Keys that may sit next to the VGG convolutions in a file and are not ours to load:
# torchvision's classifier, and the LPIPS package's own layers (see :mod:`.lpips`).
_IGNORED_KEY = re.compile(r"^(classifier\.|scaling_layer\.|lins?\d*\.)")
_FEATURES_KEY = re.compile(r"^features\.(\d+)\.(weight|bias)$")
# The LPIPS package's full-model layout: net.slice{s}.{i}.* with torchvision's index i.
_LPIPS_NET_KEY = re.compile(r"^net\.slice\d\.(\d+)\.(weight|bias)$")


@dataclass(frozen=True)
class VGGLayer:
    """One module of ``features``: its torchvision index, name, kind and channels."""

    index: int
    name: str
    kind: Literal["conv", "relu", "pool"]
    channels: int
    in_channels: int


def vgg_layers(arch: str) -> list[VGGLayer]:
    """Every module of ``arch``'s ``features`` in torchvision order (index = position)."""
    if arch not in VGG_BLOCK_CONVS:
        raise ConfigError(f"unknown VGG architecture {arch!r} (expected 'vgg16' or 'vgg19')")
    out: list[VGGLayer] = []
    c_in = 3
    for b, (n, width) in enumerate(zip(VGG_BLOCK_CONVS[arch], VGG_BLOCK_WIDTHS, strict=True), 1):
        for k in range(1, n + 1):
            out.append(VGGLayer(len(out), f"conv{b}_{k}", "conv", width, c_in))
            out.append(VGGLayer(len(out), f"relu{b}_{k}", "relu", width, width))
            c_in = width
        out.append(VGGLayer(len(out), f"pool{b}", "pool", width, width))
    return out


def vgg_state_dict_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Expected torchvision ``features.*`` keys and shapes of ``arch``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in vgg_layers(arch):
        if layer.kind == "conv":
            shapes[f"features.{layer.index}.weight"] = (layer.channels, layer.in_channels, 3, 3)
            shapes[f"features.{layer.index}.bias"] = (layer.channels,)
    return shapes


def split_vgg_keys(
    state: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list[str]]:
    """Split a state dict into (VGG ``features.*`` tensors, other known tensors, unknown keys).

    LPIPS full-model keys ``net.slice{s}.{i}.*`` are renamed to ``features.{i}.*``; "other known"
    are ``classifier.*`` and the LPIPS package's ``lin*`` / ``lins.*`` / ``scaling_layer.*``.
    """
    features: dict[str, torch.Tensor] = {}
    other: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, value in state.items():
        m = _FEATURES_KEY.match(key) or _LPIPS_NET_KEY.match(key)
        if m:
            features[f"features.{m.group(1)}.{m.group(2)}"] = value
        elif _IGNORED_KEY.match(key):
            other[key] = value
        else:
            unknown.append(key)
    return features, other, unknown


def _guess_arch(features: Mapping[str, torch.Tensor]) -> str | None:
    for arch in VGG_BLOCK_CONVS:
        if set(features) == set(vgg_state_dict_shapes(arch)):
            return arch
    return None


def check_vgg_state_dict(
    features: Mapping[str, torch.Tensor], arch: str, source: str
) -> dict[str, torch.Tensor]:
    """Validate torchvision ``features.*`` tensors for ``arch``; one-line WeightsError if wrong."""
    expected = vgg_state_dict_shapes(arch)
    missing = [k for k in expected if k not in features]
    extra = [k for k in features if k not in expected]
    if missing or extra:
        guess = _guess_arch(features)
        hint = f"; the file looks like {guess}" if guess and guess != arch else ""
        what = f"missing {first_of(missing)}" if missing else f"unexpected {first_of(extra)}"
        raise WeightsError(f"{source}: not {arch} weights in torchvision layout: {what}{hint}")
    for key, shape in expected.items():
        t = features[key]
        if tuple(t.shape) != shape or not t.is_floating_point():
            raise WeightsError(
                f"{source}: {key!r} has shape {tuple(t.shape)} ({t.dtype}), expected {shape} "
                f"(float) for {arch}"
            )
    return {k: features[k] for k in expected}


def validated_vgg_state_dict(
    state: Mapping[str, torch.Tensor], arch: str, source: str
) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of a file's state dict, checked for ``arch``.

    ``classifier.*`` and LPIPS package keys are ignored; any other unknown key, a missing key or
    a wrong shape raises a one-line :class:`WeightsError` naming ``source``.
    """
    features, _, unknown = split_vgg_keys(state)
    if unknown:
        raise WeightsError(
            f"{source}: unexpected key {first_of(unknown)} in {arch} weights "
            f"(expected torchvision layout features.{{i}}.weight/bias)"
        )
    return check_vgg_state_dict(features, arch, source)


def vgg_features(arch: VGGArch, last: int, *, pool: Literal["max", "avg"] = "max"
                 ) -> nn.Sequential:
    """torchvision's ``vgg16/19().features`` up to index ``last`` (inclusive), with randomly
    initialised convolutions (load weights into it; keys match torchvision's ``features.N``) and
    ``pool`` pooling (torchvision: max; FaceLift's perceptual loss: average)."""
    modules: list[nn.Module] = []
    for layer in vgg_layers(arch)[: last + 1]:
        if layer.kind == "conv":
            conv = nn.Conv2d(layer.in_channels, layer.channels, 3, padding=1)
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(conv.bias)
            modules.append(conv)
        elif layer.kind == "relu":
            modules.append(nn.ReLU(inplace=False))
        else:
            modules.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*modules)


class VGGFeatures(nn.Module):
    """VGG16/VGG19 convolutional features at named layers (see the module docstring).

    ``forward(x)`` takes (B, 3, H, W) and returns a list with one (B, C, H_l, W_l) tensor per name
    in ``layers``, in that order; only the modules up to the deepest requested layer are built.
    Weights start random (He-normal, zero bias) until loaded; parameters are frozen
    (``requires_grad=False``) unless ``trainable``, but gradients flow to the input, so the module
    serves as a perceptual-loss network. There is no dropout or batch norm: train/eval mode
    makes no difference.
    """

    def __init__(
        self,
        arch: VGGArch = "vgg16",
        layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
        *,
        input_norm: InputNorm = "imagenet",
        trainable: bool = False,
    ) -> None:
        super().__init__()
        table = vgg_layers(arch)
        by_name = {layer.name: layer for layer in table}
        if not layers:
            raise ConfigError("VGGFeatures needs at least one layer name")
        unknown = [name for name in layers if name not in by_name]
        if unknown:
            raise ConfigError(
                f"unknown {arch} layer {unknown[0]!r} (expected conv{{b}}_{{k}}, relu{{b}}_{{k}} "
                f"or pool{{b}}, e.g. relu3_3)"
            )
        if input_norm not in ("imagenet", "lpips", "none"):
            raise ConfigError(f"unknown input_norm {input_norm!r} (imagenet, lpips or none)")
        self.arch = arch
        self.layers = tuple(layers)
        self.input_norm = input_norm
        self._indices = [by_name[name].index for name in self.layers]
        self.features = vgg_features(arch, max(self._indices))
        if input_norm == "imagenet":
            shift, scale = IMAGENET_MEAN, IMAGENET_STD
        elif input_norm == "lpips":
            shift, scale = LPIPS_SHIFT, LPIPS_SCALE
        else:
            shift, scale = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
        self.register_buffer("shift", torch.tensor(shift).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(trainable)

    def normalize_input(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``input_norm`` to (B, 3, H, W) images."""
        if self.input_norm == "lpips":
            x = 2.0 * x - 1.0
        return (x - self.shift) / self.scale

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects (B, 3, H, W) images, got {tuple(x.shape)}")
        h = self.normalize_input(x.to(self.shift.dtype))
        found: dict[int, torch.Tensor] = {}
        wanted = set(self._indices)
        for i, module in enumerate(self.features):
            h = module(h)
            if i in wanted:
                found[i] = h
        return [found[i] for i in self._indices]

    def load_vgg_state_dict(self, state: Mapping[str, torch.Tensor], source: str) -> None:
        """Load torchvision-layout tensors (validated for ``self.arch``; ``source`` names them).

        ``state`` may contain ``classifier.*`` and LPIPS package keys, which are ignored; any
        other unknown key is an error.
        """
        checked = validated_vgg_state_dict(state, self.arch, source)
        n = len(self.features)
        ours = {k: v for k, v in checked.items() if int(k.split(".")[1]) < n}
        self.load_state_dict(ours, strict=True)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        arch: VGGArch = "vgg16",
        layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3"),
        *,
        input_norm: InputNorm = "imagenet",
        trainable: bool = False,
    ) -> VGGFeatures:
        """Build and load from a torchvision ``vgg16`` / ``vgg19`` state dict file."""
        state = read_state_dict(path, f"{arch.upper()} weights")
        validated_vgg_state_dict(state, arch, str(path))  # before building: fail fast
        model = cls(arch, layers, input_norm=input_norm, trainable=trainable)
        model.load_vgg_state_dict(state, str(path))
        return model


def layer_names(arch: str, kinds: Iterable[str] = ("conv", "relu", "pool")) -> list[str]:
    """Names of ``arch``'s layers of the given kinds, in order."""
    wanted = set(kinds)
    return [layer.name for layer in vgg_layers(arch) if layer.kind in wanted]
