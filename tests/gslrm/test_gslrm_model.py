"""GS-LRM: FaceLift's parameter names and shapes, its activations and hard pixel alignment, and
the token/pixel layouts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mouselift.cameras.rays import closest_points_to_origin, pixel_rays
from mouselift.cameras.rig import facelift_rig
from mouselift.gslrm.config import load_gslrm_config
from mouselift.gslrm.model import GSLRM, Patchify, _unpatchify, cameras_to_tensors

MANIFEST = Path(__file__).resolve().parents[1] / "fixtures" / "facelift_gslrm_state_dict.json"


def test_facelift_preset_equals_the_released_checkpoint_manifest():
    """Names and shapes of FaceLift's released GS-LRM (its 'model' state dict without the 32
    perceptual-loss VGG tensors), built on the meta device: no 1 GB allocation."""
    manifest = json.loads(MANIFEST.read_text())
    expected = {k: tuple(v) for k, v in manifest["state_dict"].items()
                if not k.startswith("loss_calculator.")}
    with torch.device("meta"):
        model = GSLRM(load_gslrm_config("facelift"))
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == expected
    assert len(ours) == manifest["_num_tensors_model_only"] == 151
    assert sum(math.prod(s) for s in ours.values()) == manifest["_num_params_model_only"]


def _tiny(**overrides) -> GSLRM:
    torch.manual_seed(0)
    return GSLRM(load_gslrm_config("tiny", overrides))


def _views(size: int = 64, count: int = 3):
    rig = facelift_rig(size)
    K, c2w = cameras_to_tensors(rig.cameras[:count])
    images = torch.rand(1, count, 3, size, size, generator=torch.Generator().manual_seed(1))
    return images, K[None], c2w[None]


def test_zero_pixel_head_puts_gaussians_at_the_rays_closest_points():
    """σ(0) = ½ → t = −o·d: each pixel's Gaussian is its ray's point closest to the origin, with
    FaceLift's scale e^−2.3 and opacity σ(−2), colour SH 0 (grey 0.5)."""
    model = _tiny().eval()
    torch.nn.init.zeros_(model.pixel_gaussian_decoder[1].weight)
    images, K, c2w = _views()
    with torch.no_grad():
        out = model(images, K, c2w)
    origins, directions = pixel_rays(K, c2w, 64, 64)
    closest = closest_points_to_origin(origins, directions)  # (1, V, H, W, 3)
    torch.testing.assert_close(out.pixel_positions.permute(0, 1, 3, 4, 2), closest,
                               atol=1e-5, rtol=0)
    g = model.config.global_tokens
    pixel = slice(g, None)
    torch.testing.assert_close(out.means[:, pixel], closest.reshape(1, -1, 3), atol=1e-5, rtol=0)
    assert torch.allclose(out.log_scales[:, pixel], torch.full_like(out.log_scales[:, pixel],
                                                                    -2.3))
    assert torch.allclose(torch.sigmoid(out.opacity_logits[:, pixel]),
                          torch.full_like(out.opacity_logits[:, pixel], 1 / (1 + math.e ** 2)))
    assert torch.count_nonzero(out.sh[:, pixel]) == 0
    assert torch.count_nonzero(out.rotations[:, pixel]) == 0  # as they come (unnormalised)
    # depth along the ray is the distance from the camera to the closest point: |o|cos θ
    depth = -(origins * directions).sum(-1)
    torch.testing.assert_close(out.pixel_depths[:, :, 0], depth, atol=1e-5, rtol=0)
    assert out.means.shape == (1, g + 3 * 64 * 64, 3)


def test_activations_and_clipping():
    model = _tiny()
    images, K, c2w = _views()
    model.eval()
    with torch.no_grad():
        free = model(images, K, c2w)
    assert float(free.log_scales.max()) <= -1.2 + 1e-6  # min(raw − 2.3, −1.2)
    assert float(free.pixel_positions.abs().max()) > 1.0  # rays of a 2.7-unit rig leave [−1, 1]
    # positions stay on their rays within ±1.8 of the closest point
    origins, directions = pixel_rays(K, c2w, 64, 64)
    pos = free.pixel_positions.permute(0, 1, 3, 4, 2)
    offset = pos - closest_points_to_origin(origins, directions)
    along = (offset * directions).sum(-1, keepdim=True)
    torch.testing.assert_close(offset, along * directions, atol=1e-5, rtol=0)
    assert float(along.abs().max()) < 1.8
    model.train()
    with torch.no_grad():
        clipped = model(images, K, c2w)
    assert float(clipped.pixel_positions.abs().max()) <= 1.0  # FaceLift's clip_xyz in training
    no_clip = _tiny(clip_xyz=False).train()
    with torch.no_grad():
        assert float(no_clip(images, K, c2w).pixel_positions.abs().max()) > 1.0


def test_patch_layout_is_channel_then_column_then_row():
    """FaceLift's '(h ph) (w pw) c → (h w) (ph pw c)' ordering, and its inverse for the pixel
    head: pixel (row, col) comes from token (row // p, col // p), slot (row % p)·p + col % p."""
    p, c, h, w = 2, 3, 4, 6
    x = torch.arange(c * h * w, dtype=torch.float32).reshape(1, c, h, w)
    tokens = Patchify(p)(x)  # (1, (h/p)(w/p), p·p·c)
    for row in range(h):
        for col in range(w):
            for ch in range(c):
                token = (row // p) * (w // p) + col // p
                slot = ((row % p) * p + col % p) * c + ch
                assert tokens[0, token, slot] == x[0, ch, row, col]
    pixels = _unpatchify(tokens, 1, 1, h, w, p)  # (1, 1, H, W, C)
    torch.testing.assert_close(pixels[0, 0].permute(2, 0, 1), x[0])


def test_views_interact_and_objects_do_not():
    model = _tiny().eval()
    images, K, c2w = _views()
    two = torch.cat([images, images.flip(1)]), torch.cat([K, K]), torch.cat([c2w, c2w])
    with torch.no_grad():
        base = model(*two)
        changed_images = two[0].clone()
        changed_images[1, 2] = 0.0
        other = model(changed_images, two[1], two[2])
    assert torch.equal(base.means[0], other.means[0])  # object 0 untouched
    assert not torch.allclose(base.means[1, :2], other.means[1, :2])  # its global Gaussians move
    g = model.config.global_tokens
    view0 = slice(g, g + 64 * 64)
    assert not torch.allclose(base.opacity_logits[1, view0], other.opacity_logits[1, view0])


def test_gaussians_per_object_render_and_backpropagate():
    from mouselift.splat.render import render

    model = _tiny().train()
    images, K, c2w = _views(count=2)
    out = model(images, K, c2w)
    gaussians = out.gaussians(0)
    rig = facelift_rig(64)
    rgb = render(gaussians, rig.cameras[:2], torch.ones(3)).rgb
    loss = (rgb - images[0].permute(0, 2, 3, 1)).pow(2).mean()
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert float(model.patch_embedder[1].weight.grad.abs().sum()) > 0


def test_gradient_checkpointing_gives_the_same_gradients():
    images, K, c2w = _views(count=2)
    grads = []
    for flag in (False, True):
        model = _tiny(gradient_checkpointing=flag).train()
        out = model(images, K, c2w)
        (out.means.square().mean() + out.opacity_logits.mean()).backward()
        grads.append(np.concatenate([p.grad.flatten().numpy() for p in model.parameters()]))
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-5, atol=1e-7)


def test_bad_inputs():
    model = _tiny()
    images, K, c2w = _views()
    with pytest.raises(ValueError, match=r"\(B, V, 3, H, W\)"):
        model(images[0], K, c2w)
    with pytest.raises(ValueError, match="multiple of the patch size"):
        model(images[..., :62, :62], K, c2w)
