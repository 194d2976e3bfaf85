"""VGGFeatures: torchvision-layout files (.pth / .safetensors) in, the right feature maps out."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from metrics_testutils import ARCHS, reference_vgg

from mouselift.errors import ConfigError, MouseliftError, WeightsError
from mouselift.metrics import VGGFeatures, read_state_dict, vgg_state_dict_shapes

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

# name -> torchvision features index, written out by hand.
VGG16_NAMES = {"conv1_1": 0, "relu1_2": 3, "pool1": 4, "conv3_3": 14, "relu3_3": 15,
               "relu4_3": 22, "relu5_3": 29}  # fmt: skip
VGG19_NAMES = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29,
               "conv5_4": 34, "relu5_4": 35, "pool5": 36}  # fmt: skip


def small_fake_state(arch: str, drop: str | None = None) -> dict:
    """Every torchvision key of ``arch`` with a tiny (wrong-shaped) tensor: for key checks."""
    convs, _ = ARCHS[arch]
    state = {}
    for index, _, _ in convs:
        state[f"features.{index}.weight"] = torch.zeros(1)
        state[f"features.{index}.bias"] = torch.zeros(1)
    if drop:
        del state[drop]
    return state


def test_expected_shapes_match_the_handwritten_layout() -> None:
    for arch, (convs, _) in ARCHS.items():
        expected = {}
        for index, c_out, c_in in convs:
            expected[f"features.{index}.weight"] = (c_out, c_in, 3, 3)
            expected[f"features.{index}.bias"] = (c_out,)
        assert vgg_state_dict_shapes(arch) == expected


@pytest.mark.parametrize("input_norm", ["none", "imagenet"])
def test_vgg16_from_pth_matches_reference(vgg16_file: Path, vgg16_state: dict, input_norm) -> None:
    model = VGGFeatures.from_file(vgg16_file, "vgg16", list(VGG16_NAMES), input_norm=input_norm)
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    feats = model(x)
    inp = x if input_norm == "none" else (x - IMAGENET_MEAN) / IMAGENET_STD
    ref = reference_vgg(inp, vgg16_state, "vgg16", max(VGG16_NAMES.values()))
    assert len(feats) == len(VGG16_NAMES)
    for f, (name, index) in zip(feats, VGG16_NAMES.items(), strict=True):
        assert f.shape == ref[index].shape, name
        torch.testing.assert_close(f, ref[index], rtol=1e-4, atol=1e-5, msg=name)
    assert feats[0].shape == (2, 64, 16, 16) and feats[-1].shape == (2, 512, 1, 1)


def test_vgg19_from_safetensors_matches_reference(tmp_path: Path, vgg19_state: dict) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "vgg19.safetensors"
    safetensors_torch.save_file(vgg19_state, str(path))
    model = VGGFeatures.from_file(path, "vgg19", list(VGG19_NAMES), input_norm="none")
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ref = reference_vgg(x, vgg19_state, "vgg19", 36)
    for f, (name, index) in zip(model(x), VGG19_NAMES.items(), strict=True):
        torch.testing.assert_close(f, ref[index], rtol=1e-4, atol=1e-5, msg=name)


def test_layer_order_and_truncation_and_gradients(vgg16_file: Path) -> None:
    model = VGGFeatures.from_file(vgg16_file, "vgg16", ["relu2_2", "relu1_1"])
    assert len(model.features) == 9  # built up to relu2_2 (index 8) only
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    deep, shallow = model(x)
    assert deep.shape == (1, 128, 8, 8) and shallow.shape == (1, 64, 16, 16)
    assert not any(p.requires_grad for p in model.parameters())
    (deep.square().mean() + shallow.mean()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_conv_outputs_are_not_overwritten_by_relu(vgg16_file: Path) -> None:
    conv, relu = VGGFeatures.from_file(vgg16_file, "vgg16", ["conv1_1", "relu1_1"])(
        torch.rand(1, 3, 16, 16)
    )
    assert (conv < 0).any()
    torch.testing.assert_close(relu, conv.clamp_min(0))


def test_user_errors_are_one_line_and_name_the_file(tmp_path: Path) -> None:
    def check(path: Path, arch: str, pattern: str) -> None:
        with pytest.raises(WeightsError, match=pattern) as info:
            VGGFeatures.from_file(path, arch)
        message = str(info.value)
        assert "\n" not in message and str(path) in message
        assert isinstance(info.value, MouseliftError)

    missing = tmp_path / "missing.pth"
    torch.save(small_fake_state("vgg16", drop="features.28.bias"), missing)
    check(missing, "vgg16", r"missing 'features\.28\.bias'")

    wrong_shape = tmp_path / "wrong_shape.pth"
    torch.save(small_fake_state("vgg16"), wrong_shape)
    check(wrong_shape, "vgg16", r"'features\.0\.weight' has shape \(1,\).*\(64, 3, 3, 3\)")

    vgg19_file = tmp_path / "vgg19_as_16.pth"
    torch.save(small_fake_state("vgg19"), vgg19_file)
    check(vgg19_file, "vgg16", "looks like vgg19")
    check(vgg19_file, "vgg19", "has shape")  # keys right for vgg19, shapes then checked

    stray = tmp_path / "stray.pth"
    torch.save({**small_fake_state("vgg16"), "fc.weight": torch.zeros(1)}, stray)
    check(stray, "vgg16", r"unexpected key 'fc\.weight'")

    check(tmp_path / "nope.pth", "vgg16", "not found")

    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a torch file")
    check(corrupt, "vgg16", "cannot read")

    pickled = tmp_path / "module.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)  # a whole pickled module: not weights-only
    check(pickled, "vgg16", "weights-only")

    other = tmp_path / "weights.npz"
    other.write_bytes(b"x")
    check(other, "vgg16", "unsupported")

    not_dict = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], not_dict)
    check(not_dict, "vgg16", "not a state dict")


def test_nested_state_dict_and_half_precision_load(tmp_path: Path, vgg16_state: dict) -> None:
    path = tmp_path / "nested.pth"
    half = {k: v.half() for k, v in vgg16_state.items()}
    torch.save({"state_dict": half}, path)
    assert set(read_state_dict(path)) == set(vgg16_state)
    model = VGGFeatures.from_file(path, "vgg16", ["relu1_2"], input_norm="none")
    x = torch.rand(1, 3, 16, 16)
    ref = reference_vgg(x, {k: v.float() for k, v in half.items()}, "vgg16", 3)[3]
    torch.testing.assert_close(model(x)[0], ref, rtol=1e-4, atol=1e-5)


def test_bad_layer_names_and_inputs() -> None:
    with pytest.raises(ConfigError, match="relu5_4"):
        VGGFeatures("vgg16", ["relu5_4"])  # VGG16 has 3 convs in block 5
    with pytest.raises(ConfigError, match="vgg11"):
        VGGFeatures("vgg11", ["relu1_1"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        VGGFeatures("vgg16", ["relu1_1"])(torch.rand(3, 16, 16))
