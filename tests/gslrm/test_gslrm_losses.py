"""Stage-2 losses: FaceLift's perceptual loss and its weight files, masks, SSIM, LPIPS, warm-up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F

from mouselift.errors import ConfigError, WeightsError
from mouselift.gslrm.losses import (
    GSLRMLossConfig,
    PerceptualLoss,
    load_perceptual_loss,
    lpips_loss,
    ssim_loss,
    stage2_loss,
)
from mouselift.metrics import LPIPS, LPIPSUnavailable, ssim
from mouselift.metrics.vgg19_weights import read_vgg19_weights

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# torchvision vgg19 `features`: (index, out, in) of every convolution, written out by hand.
VGG19_CONVS = [
    (0, 64, 3), (2, 64, 64),
    (5, 128, 64), (7, 128, 128),
    (10, 256, 128), (12, 256, 256), (14, 256, 256), (16, 256, 256),
    (19, 512, 256), (21, 512, 512), (23, 512, 512), (25, 512, 512),
    (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512),
]  # fmt: skip
BLOCKS = (2, 2, 4, 4, 4)
# FaceLift's utils_losses.py: image term + relu1_2, relu2_2, relu3_2, relu4_2, relu5_2
WEIGHTS = [1.0, 1 / 2.6, 1 / 4.8, 1 / 3.7, 1 / 5.6, 10 / 1.5]
MEAN = torch.tensor([123.68, 116.779, 103.939]).view(1, 3, 1, 1)
PREFIX = "loss_calculator.perceptual_loss_module.net."


def _random_vgg19(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for index, c_out, c_in in VGG19_CONVS:
        # small enough that the 0–255 inputs keep activations of moderate size
        state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=gen) * (
            1.0 / (9 * c_in)) ** 0.5
        state[f"features.{index}.bias"] = torch.randn(c_out, generator=gen) * 0.1
    return state


def _reference(state: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FaceLift's loss written out independently: conv/ReLU, 2×2 average pools, L1 means."""

    def taps(img: torch.Tensor) -> list[torch.Tensor]:
        h = img * 255.0 - MEAN
        out = [h]
        convs = iter(VGG19_CONVS)
        for b, n in enumerate(BLOCKS):
            for k in range(n):
                index = next(convs)[0]
                h = F.relu(F.conv2d(h, state[f"features.{index}.weight"],
                                    state[f"features.{index}.bias"], padding=1))
                if k == 1:
                    out.append(h)
                if b == 4 and k == 1:
                    return out
            h = F.avg_pool2d(h, 2, 2)
        raise AssertionError

    fx, fy = taps(x), taps(y)
    return sum(w * (a - b).abs().mean() for w, a, b in zip(WEIGHTS, fx, fy, strict=True)) / 255.0


@pytest.fixture(scope="module")
def vgg19_state() -> dict[str, torch.Tensor]:
    return _random_vgg19(seed=11)


@pytest.fixture(scope="module")
def weight_files(vgg19_state, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("vgg19")
    # (b) torchvision layout, with a classifier entry that must be ignored
    torchvision_file = folder / "vgg19.pth"
    torch.save({**vgg19_state, "classifier.0.weight": torch.zeros(4, 8)}, torchvision_file)
    # (a) FaceLift's GS-LRM checkpoint: names and shapes from the released checkpoint's manifest
    manifest = json.loads((FIXTURES / "facelift_gslrm_state_dict.json").read_text())["state_dict"]
    perceptual = {k: tuple(v) for k, v in manifest.items() if k.startswith(PREFIX)}
    assert len(perceptual) == 32
    model = {}
    for k, (index, _, _) in enumerate(VGG19_CONVS, 1):
        for kind in ("weight", "bias"):
            tensor = vgg19_state[f"features.{index}.{kind}"]
            assert perceptual[f"{PREFIX}conv{k}.{kind}"] == tuple(tensor.shape)
            model[f"{PREFIX}conv{k}.{kind}"] = tensor
    model["transformer_layers.0.norm1.weight"] = torch.ones(8)  # the model's own tensors
    checkpoint_file = folder / "ckpt_0000000000021125.pt"
    torch.save({"model": model, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]},
                "fwdbwd_pass_step": 21125}, checkpoint_file)
    # (c) MatConvNet: a cell array of layer structs, filters H×W×in×out
    layers = np.empty((1, 37), dtype=object)
    for i in range(37):
        layers[0, i] = {"name": f"layer{i}", "type": "relu"}
    for index, _, _ in VGG19_CONVS:
        weights = np.empty((1, 2), dtype=object)
        weights[0, 0] = vgg19_state[f"features.{index}.weight"].permute(2, 3, 1, 0).numpy()
        weights[0, 1] = vgg19_state[f"features.{index}.bias"].numpy()[:, None]
        layers[0, index] = {"name": f"conv{index}", "type": "conv", "weights": weights}
    mat_file = folder / "imagenet-vgg-verydeep-19.mat"
    scipy.io.savemat(mat_file, {"layers": layers})
    return {"torchvision": torchvision_file, "facelift": checkpoint_file, "matconvnet": mat_file}


def _images(seed: int, n: int = 2, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=gen)
    y = (x + 0.2 * torch.randn(n, 3, size, size, generator=gen)).clamp(0, 1)
    return x, y


def test_perceptual_loss_same_through_every_loader(vgg19_state, weight_files):
    x, y = _images(0)
    want = _reference(vgg19_state, x, y)
    values = {}
    for kind, path in weight_files.items():
        loss = load_perceptual_loss(path)
        state = read_vgg19_weights(path)
        for key, tensor in vgg19_state.items():
            assert torch.equal(state[key], tensor), (kind, key)
        values[kind] = loss(x, y)
        assert float(loss(x, x)) == 0.0
        assert float(values[kind]) > 0.0
    assert float(values["facelift"]) == float(values["torchvision"])
    assert float(values["matconvnet"]) == float(values["torchvision"])
    torch.testing.assert_close(values["facelift"], want, rtol=1e-5, atol=0)


def test_perceptual_loss_is_frozen_and_masks(weight_files):
    loss = load_perceptual_loss(weight_files["torchvision"])
    loss.train()
    assert not loss.training and all(not p.requires_grad for p in loss.parameters())
    x, y = _images(1)
    x.requires_grad_(True)
    value = loss(x, y)
    value.backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in loss.parameters())
    ones = torch.ones(2, 1, 32, 32)
    torch.testing.assert_close(loss(x, y, ones), value.detach(), rtol=1e-6, atol=0)
    assert float(loss(x.detach(), y, torch.zeros(2, 1, 32, 32))) == 0.0


def test_weights_errors_are_one_line(weight_files, tmp_path):
    bad = []
    vgg16 = {f"features.{i}.weight": torch.zeros(64, 3, 3, 3) for i in (0,)}
    torch.save(vgg16, tmp_path / "vgg16.pth")
    bad.append(tmp_path / "vgg16.pth")
    torch.save({"model": {"transformer_layers.0.norm1.weight": torch.ones(3)}},
               tmp_path / "no_perceptual.pt")
    bad.append(tmp_path / "no_perceptual.pt")
    state = torch.load(weight_files["facelift"], weights_only=True)
    state["model"][f"{PREFIX}conv3.weight"] = torch.zeros(128, 64, 1, 1)
    torch.save(state, tmp_path / "wrong_shape.pt")
    bad.append(tmp_path / "wrong_shape.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint")
    bad.append(tmp_path / "text.pt")
    (tmp_path / "text.mat").write_text("not a mat file")
    bad.append(tmp_path / "text.mat")
    scipy.io.savemat(tmp_path / "other.mat", {"x": np.zeros(3)})
    bad.append(tmp_path / "other.mat")
    bad.append(tmp_path / "missing.pth")
    (tmp_path / "weights.npz").write_bytes(b"")
    bad.append(tmp_path / "weights.npz")
    for path in bad:
        with pytest.raises(WeightsError) as exc:
            PerceptualLoss.from_file(path)
        assert "\n" not in str(exc.value) and str(path.name) in str(exc.value), path


def _batch(seed: int, b: int = 1, v: int = 2, size: int = 32):
    gen = torch.Generator().manual_seed(seed)
    target = torch.rand(b, v, 3, size, size, generator=gen)
    render = (target + 0.3 * torch.randn(b, v, 3, size, size, generator=gen)).clamp(0, 1)
    alpha = torch.rand(b, v, 1, size, size, generator=gen)
    alpha[..., : size // 2, :] = 0.0  # top half: background
    return render, target, alpha


def test_masked_mse_matches_hand_computation():
    render, target, alpha = _batch(2)
    cfg = GSLRMLossConfig(perceptual=0.0, masked=True)
    total, parts = stage2_loss(render, target, alpha, cfg, step=10_000)
    r, t, a = render.double().numpy(), target.double().numpy(), alpha.double().numpy()
    num = sum(a[0, v, 0, i, j] * (r[0, v, c, i, j] - t[0, v, c, i, j]) ** 2
              for v in range(2) for c in range(3) for i in range(32) for j in range(32))
    want = num / (3 * a.sum())
    assert float(total) == pytest.approx(want, rel=1e-5)
    assert float(parts["mse"]) == pytest.approx(want, rel=1e-5)
    assert float(parts["psnr"]) == pytest.approx(-10 * np.log10(want), rel=1e-5)
    assert set(parts) == {"mse", "psnr"}
    # pixels outside the mask do not count
    changed = render.clone()
    changed[..., :16, :] = 0.0
    assert float(stage2_loss(changed, target, alpha, cfg, step=0)[0]) == pytest.approx(
        float(total), rel=1e-6)
    # unmasked: FaceLift's F.mse_loss
    plain, _ = stage2_loss(render, target, None, GSLRMLossConfig(perceptual=0.0), step=0)
    assert float(plain) == pytest.approx(float(F.mse_loss(render, target)), rel=1e-6)
    # dilation: a one-pixel mask grown by 1 is the 3×3 block around it
    dot = torch.zeros_like(alpha)
    dot[0, 0, 0, 10, 20] = 1.0
    cfg_d = GSLRMLossConfig(perceptual=0.0, masked=True, mask_dilation=1)
    grown, _ = stage2_loss(render, target, dot, cfg_d, step=0)
    block = (r[0, 0, :, 9:12, 19:22] - t[0, 0, :, 9:12, 19:22]) ** 2
    assert float(grown) == pytest.approx(block.mean(), rel=1e-5)


def test_alpha_loss_compares_rendered_opacity_with_the_mask_everywhere():
    render, target, alpha = _batch(5)
    gen = torch.Generator().manual_seed(6)
    rendered_alpha = torch.rand(alpha.shape, generator=gen)
    cfg = GSLRMLossConfig(perceptual=0.0, alpha=0.3)
    total, parts = stage2_loss(render, target, alpha, cfg, 0, render_alpha=rendered_alpha)
    a, ra = alpha.double().numpy(), rendered_alpha.double().numpy()
    want_alpha = ((ra - a) ** 2).mean()
    assert float(parts["alpha"]) == pytest.approx(want_alpha, rel=1e-5)
    want = float(F.mse_loss(render, target)) + 0.3 * want_alpha
    assert float(total) == pytest.approx(want, rel=1e-5)
    # masking the colour losses does not mask the alpha term (background pixels count there)
    _, parts_m = stage2_loss(render, target, alpha, cfg.model_copy(update={"masked": True}),
                             0, render_alpha=rendered_alpha)
    assert float(parts_m["alpha"]) == pytest.approx(want_alpha, rel=1e-5)
    # gradient reaches the rendered opacity, zero where it equals the mask
    ra_t = alpha.clone().requires_grad_(True)
    stage2_loss(render, target, alpha, cfg, 0, render_alpha=ra_t)[0].backward()
    assert float(ra_t.grad.abs().max()) == 0.0
    # FaceLift's default has no such term; asking for it without the renders' alpha is an error
    assert GSLRMLossConfig().alpha == 0.0
    assert "alpha" not in stage2_loss(render, target, alpha, GSLRMLossConfig(perceptual=0.0),
                                      0)[1]
    with pytest.raises(ValueError, match="render_alpha"):
        stage2_loss(render, target, alpha, cfg, 0)
    with pytest.raises(ValueError, match="target alpha"):
        stage2_loss(render, target, None, cfg, 0, render_alpha=rendered_alpha)


def test_l2_warmup_switches_perceptual_and_lpips_off(weight_files):
    render, target, alpha = _batch(3)
    perceptual = load_perceptual_loss(weight_files["facelift"])
    lpips = LPIPS()  # random VGG16, unit linear weights
    cfg = GSLRMLossConfig(lpips=0.25)  # FaceLift's weights otherwise: mse 1, perceptual 0.5
    assert cfg.l2_warmup_steps == 500 and cfg.perceptual == 0.5 and cfg.mse == 1.0
    early, parts = stage2_loss(render, target, alpha, cfg, 499, perceptual=perceptual,
                               lpips=lpips)
    assert set(parts) == {"mse", "psnr"}
    assert float(early) == pytest.approx(float(F.mse_loss(render, target)), rel=1e-6)
    late, parts = stage2_loss(render, target, alpha, cfg, 500, perceptual=perceptual,
                              lpips=lpips)
    assert set(parts) == {"mse", "psnr", "perceptual", "lpips"}
    x, y = render.flatten(0, 1), target.flatten(0, 1)
    want = F.mse_loss(x, y) + 0.5 * perceptual(x, y) + 0.25 * lpips(x, y).mean()
    torch.testing.assert_close(late, want, rtol=1e-5, atol=0)
    # without the networks: fine during the warm-up, a one-line error after it
    stage2_loss(render, target, alpha, cfg, 0)
    with pytest.raises(ConfigError, match="VGG19"):
        stage2_loss(render, target, alpha, cfg, 500, lpips=lpips)
    with pytest.raises(ConfigError, match="LPIPS"):
        stage2_loss(render, target, alpha, cfg, 500, perceptual=perceptual,
                    lpips=LPIPSUnavailable())


def test_ssim_and_lpips_terms():
    render, target, _ = _batch(4)
    x, y = render.flatten(0, 1), target.flatten(0, 1)
    cfg = GSLRMLossConfig(mse=0.0, perceptual=0.0, ssim=1.0)
    total, parts = stage2_loss(render, target, None, cfg, 0)
    want = 1.0 - ssim(x, y, sample_covariance=False).mean()  # pytorch_msssim's statistics
    assert float(total) == pytest.approx(float(want), rel=1e-6)
    assert float(parts["ssim"]) == pytest.approx(float(want), rel=1e-6)
    assert float(ssim_loss(x, x)) == pytest.approx(0.0, abs=1e-6)
    ones = torch.ones(x.shape[0], 1, *x.shape[2:])
    assert float(ssim_loss(x, y, ones)) == pytest.approx(float(want), rel=1e-6)
    assert float(ssim_loss(x, y, torch.zeros_like(ones))) == 0.0
    lpips = LPIPS()
    torch.testing.assert_close(lpips_loss(lpips, x, y, ones), lpips(x, y).mean(), rtol=1e-5,
                               atol=0)
    assert float(lpips_loss(lpips, x, y, torch.zeros_like(ones))) == 0.0
    with pytest.raises(ValueError, match="alpha"):
        stage2_loss(render, target, None, GSLRMLossConfig(masked=True), 0)


def test_unseen_target_pixels_count_for_nothing():
    """Where a target's camera saw nothing (its crop ran past the source image), a render that
    differs from the (transparent) target there costs nothing — colour and alpha terms; all
    ones is FaceLift's loss exactly; the masked losses multiply their mask by it."""
    render, target, alpha = _batch(7)
    gen = torch.Generator().manual_seed(8)
    rendered_alpha = torch.rand(alpha.shape, generator=gen)
    cfg = GSLRMLossConfig(perceptual=0.0, alpha=0.5)
    plain, _ = stage2_loss(render, target, alpha, cfg, 0, render_alpha=rendered_alpha)
    ones = torch.ones_like(alpha)
    same, _ = stage2_loss(render, target, alpha, cfg, 0, render_alpha=rendered_alpha, seen=ones)
    assert torch.equal(same, plain)
    seen = ones.clone()
    seen[..., 20:, :] = 0.0  # the source image ended at row 20
    masked, masked_parts = stage2_loss(render, target, alpha, cfg, 0,
                                       render_alpha=rendered_alpha, seen=seen)
    r, t = render.double().numpy()[..., :20, :], target.double().numpy()[..., :20, :]
    ra, a = rendered_alpha.double().numpy()[..., :20, :], alpha.double().numpy()[..., :20, :]
    assert float(masked_parts["mse"]) == pytest.approx(((r - t) ** 2).mean(), rel=1e-5)
    assert float(masked_parts["alpha"]) == pytest.approx(((ra - a) ** 2).mean(), rel=1e-5)
    changed, changed_alpha = render.clone(), rendered_alpha.clone()
    changed[..., 20:, :] = 0.0
    changed_alpha[..., 20:, :] = 1.0  # the mouse goes on below the cut
    again, _ = stage2_loss(changed, target, alpha, cfg, 0, render_alpha=changed_alpha, seen=seen)
    assert float(again) == pytest.approx(float(masked), rel=1e-6)
    assert float(stage2_loss(changed, target, alpha, cfg, 0, render_alpha=changed_alpha)[0]) \
        > float(plain)
    m_cfg = GSLRMLossConfig(perceptual=0.0, masked=True)
    _, m_parts = stage2_loss(render, target, alpha, m_cfg, 0, seen=seen)
    w = alpha.double().numpy()[..., :20, :]
    assert float(m_parts["mse"]) == pytest.approx(
        float((w * (r - t) ** 2).sum() / (3 * w.sum())), rel=1e-5)
    with pytest.raises(ValueError, match="seen must be"):
        stage2_loss(render, target, alpha, cfg, 0, render_alpha=rendered_alpha, seen=seen[0])
    # losses.ignore_unseen false: those pixels count as background again
    as_background = cfg.model_copy(update={"ignore_unseen": False})
    assert torch.equal(stage2_loss(render, target, alpha, as_background, 0,
                                   render_alpha=rendered_alpha, seen=seen)[0], plain)
