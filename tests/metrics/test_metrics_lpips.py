"""LPIPS-VGG with random weights in the real file layouts: definition, properties, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from metrics_testutils import (
    LPIPS_RELU_INDICES,
    LPIPS_SCALE,
    LPIPS_SHIFT,
    random_lin_state,
    reference_vgg,
)

from mouselift.errors import WeightsError
from mouselift.metrics import (
    LPIPS,
    LPIPSUnavailable,
    compute_metrics,
    load_lpips,
    lpips_from_features,
    unit_normalize,
)

# LPIPS's full-model layout: slice s holds torchvision features[a:b] under their own indices.
LPIPS_SLICES = {1: range(0, 4), 2: range(4, 9), 3: range(9, 16), 4: range(16, 23), 5: range(23, 30)}


@pytest.fixture(scope="module")
def model(vgg16_file: Path, lin_file: Path) -> LPIPS:
    loaded = load_lpips(vgg16_file, lin_file)
    assert isinstance(loaded, LPIPS)
    return loaded


@pytest.fixture(scope="module")
def images() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(2, 3, 16, 20, generator=gen)
    y = (x + 0.15 * torch.randn(2, 3, 16, 20, generator=gen)).clamp(0, 1)
    return x, y


def reference_lpips(x: torch.Tensor, y: torch.Tensor, vgg: dict, lin: dict) -> torch.Tensor:
    """LPIPS written from the definition with functional ops on the raw state dicts."""
    total = torch.zeros(x.shape[0])
    feats = []
    for img in (x, y):
        inp = ((2 * img - 1) - LPIPS_SHIFT) / LPIPS_SCALE
        out = reference_vgg(inp, vgg, "vgg16", 29)
        feats.append([out[i] for i in LPIPS_RELU_INDICES])
    for layer, (fx, fy) in enumerate(zip(*feats, strict=True)):
        nx = fx / (torch.sqrt((fx**2).sum(1, keepdim=True)) + 1e-10)
        ny = fy / (torch.sqrt((fy**2).sum(1, keepdim=True)) + 1e-10)
        weighted = torch.nn.functional.conv2d((nx - ny) ** 2, lin[f"lin{layer}.model.1.weight"])
        total += weighted.mean(dim=(1, 2, 3))
    return total


def test_feature_distance_matches_a_hand_computation() -> None:
    # Layer 0: C = 2, 1×2 positions. Position 1: (3, 4) vs (4, 3) -> unit (.6, .8) vs (.8, .6),
    # squared differences (.04, .04); position 2: (0, 2) vs (1, 0) -> (0, 1) vs (1, 0) -> (1, 1).
    # Weights (2, .5): 2·.04 + .5·.04 = .1 and 2 + .5 = 2.5 -> spatial mean 1.3.
    # Layer 1: C = 1, one position: 2 vs −3 -> 1 vs −1 -> 4, weight .25 -> 1.  Total 2.3.
    f64 = torch.float64
    fx = [
        torch.tensor([[[[3.0, 0.0]], [[4.0, 2.0]]]], dtype=f64),
        torch.tensor([[[[2.0]]]], dtype=f64),
    ]
    fy = [
        torch.tensor([[[[4.0, 1.0]], [[3.0, 0.0]]]], dtype=f64),
        torch.tensor([[[[-3.0]]]], dtype=f64),
    ]
    weights = [torch.tensor([2.0, 0.5]).view(1, 2, 1, 1), torch.tensor([0.25]).view(1, 1, 1, 1)]
    value = lpips_from_features(fx, fy, weights)
    assert value.shape == (1,)
    assert float(value) == pytest.approx(2.3, abs=1e-8)
    # eps: a zero feature vector stays zero instead of dividing by zero.
    assert torch.equal(unit_normalize(torch.zeros(1, 3, 2, 2)), torch.zeros(1, 3, 2, 2))


def test_lpips_matches_reference_from_the_definition(
    model: LPIPS, images, vgg16_state: dict, lin_state: dict
) -> None:
    x, y = images
    ours = model(x, y)
    ref = reference_lpips(x, y, vgg16_state, lin_state)
    assert ours.shape == (2,)
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-6)


def test_lpips_properties(model: LPIPS, images) -> None:
    x, y = images
    assert torch.equal(model(x, x), torch.zeros(2))
    torch.testing.assert_close(model(x, y), model(y, x), rtol=1e-6, atol=0)
    assert (model(x, y) > 0).all()
    # More change -> larger distance (same direction, doubled amplitude).
    far = (x + 2 * (y - x)).clamp(0, 1)
    assert (model(x, far) > model(x, y)).all()


def test_lpips_is_differentiable_wrt_images(model: LPIPS, images) -> None:
    x, y = images
    x = x.clone().requires_grad_(True)
    model(x, y).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_combined_and_lpips_package_layouts_give_the_same_value(
    tmp_path: Path, model: LPIPS, images, vgg16_state: dict, lin_state: dict
) -> None:
    x, y = images
    expected = model(x, y)
    safetensors_torch = pytest.importorskip("safetensors.torch")
    combined = tmp_path / "lpips_vgg_combined.safetensors"
    safetensors_torch.save_file({**vgg16_state, **lin_state}, str(combined))
    for loaded in (load_lpips(combined), load_lpips(None, combined)):
        assert isinstance(loaded, LPIPS)
        torch.testing.assert_close(loaded(x, y), expected, rtol=0, atol=0)
    # The LPIPS package's own full state dict: net.slice{s}.{i}.*, lin{l}.*, lins.{l}.*, scaling.
    package = {
        "scaling_layer.shift": LPIPS_SHIFT.clone(),
        "scaling_layer.scale": LPIPS_SCALE.clone(),
    }
    for s, indices in LPIPS_SLICES.items():
        for i in indices:
            for p in ("weight", "bias"):
                if f"features.{i}.{p}" in vgg16_state:
                    package[f"net.slice{s}.{i}.{p}"] = vgg16_state[f"features.{i}.{p}"]
    for key, value in lin_state.items():
        package[key] = value
        package[key.replace("lin", "lins.", 1)] = value
    path = tmp_path / "lpips_full.pth"
    torch.save(package, path)
    torch.testing.assert_close(LPIPS.from_files(path)(x, y), expected, rtol=0, atol=0)


def test_two_files_take_vgg_from_the_first_and_lin_from_the_second(
    tmp_path: Path, vgg16_file: Path, vgg16_state: dict, images
) -> None:
    x, y = images
    other_lin = random_lin_state(seed=9)
    both = tmp_path / "both.pth"
    torch.save({**vgg16_state, **random_lin_state(seed=8)}, both)
    lin_only = tmp_path / "lin.pth"
    torch.save(other_lin, lin_only)
    loaded = LPIPS.from_files(both, lin_only)
    torch.testing.assert_close(
        loaded(x, y), reference_lpips(x, y, vgg16_state, other_lin), rtol=1e-4, atol=1e-6
    )


def test_weight_file_errors_are_one_line_and_name_the_file(
    tmp_path: Path, vgg16_file: Path, lin_file: Path, lin_state: dict
) -> None:
    def check(pattern: str, *files: Path | None) -> None:
        with pytest.raises(WeightsError, match=pattern) as info:
            load_lpips(*files)
        message = str(info.value)
        assert "\n" not in message
        assert any(str(f) in message for f in files if f is not None)

    check("--lpips-weights", vgg16_file)  # VGG alone: no lin weights
    check("--vgg-weights", None, lin_file)  # lin alone: no VGG

    no_lin3 = tmp_path / "no_lin3.pth"
    torch.save({k: v for k, v in lin_state.items() if not k.startswith("lin3")}, no_lin3)
    check(r"missing LPIPS key 'lin3\.model\.1\.weight'", vgg16_file, no_lin3)

    flat = tmp_path / "flat_lin.pth"
    torch.save({**lin_state, "lin2.model.1.weight": torch.rand(256)}, flat)
    check(r"'lin2\.model\.1\.weight' has shape \(256,\).*\(1, 256, 1, 1\)", vgg16_file, flat)

    stray = tmp_path / "stray.pth"
    torch.save({**lin_state, "something.else": torch.zeros(1)}, stray)
    check(r"unexpected key 'something\.else'", vgg16_file, stray)

    check("not found", vgg16_file, tmp_path / "missing_lin.pth")


def test_without_weights_lpips_is_unavailable_never_zero() -> None:
    unavailable = load_lpips()
    assert isinstance(unavailable, LPIPSUnavailable)
    assert "weights" in unavailable.reason and "\n" not in unavailable.reason
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 16, 16))
    for arg in (None, unavailable, LPIPSUnavailable("VGG16 file not configured")):
        out = compute_metrics(x, x, lpips=arg)
        assert out["lpips"] is None
        reason = out["lpips_unavailable"]
        assert isinstance(reason, str) and reason
    assert compute_metrics(x, x, lpips=LPIPSUnavailable("custom"))["lpips_unavailable"] == "custom"


def test_compute_metrics_with_lpips(model: LPIPS, images) -> None:
    x, y = images
    out = compute_metrics(x.double(), y.double(), lpips=model)
    assert "lpips_unavailable" not in out
    assert out["lpips"] == pytest.approx(float(model(x, y).mean()), rel=1e-5)
    hwc = x[0].permute(1, 2, 0).numpy()  # (H, W, 3) single image
    single = compute_metrics(hwc, hwc, lpips=model)
    assert single["lpips"] == 0.0 and single["ssim"] == pytest.approx(1.0)
    assert single["psnr"] == float("inf")
    with pytest.raises(ValueError, match="16"):
        model(x[..., :8, :8], y[..., :8, :8])
