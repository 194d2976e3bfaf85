"""``render``'s interface: camera inputs, shapes, backgrounds, colours, backends, edge cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from render_testutils import orbit_camera, random_scene, single

from mouselift.splat.gaussians import Gaussians
from mouselift.splat.render import RenderOutput, render


@pytest.fixture(scope="module")
def scene():
    cams = [orbit_camera((20, 16), eye) for eye in ([2.0, 0.0, 0.5], [0.0, 2.0, 0.5])]
    return random_scene(60, seed=0), cams


def test_shapes_dtype_and_tuple_unpacking(scene):
    gaussians, cams = scene
    out = render(gaussians, cams, [1.0, 1.0, 1.0])
    assert isinstance(out, RenderOutput)
    rgb, alpha, depth = out
    assert rgb.shape == (2, 16, 20, 3) and alpha.shape == (2, 16, 20, 1)
    assert depth.shape == (2, 16, 20, 1)
    assert rgb.dtype == torch.float64
    assert float(alpha.min()) >= 0.0 and float(alpha.max()) <= 1.0
    assert 0.0 < float(alpha.mean()) < 1.0


def test_single_camera_list_and_batched_matrices_agree(scene):
    gaussians, cams = scene
    both = render(gaussians, cams)
    one = render(gaussians, cams[1])
    torch.testing.assert_close(one.rgb[0], both.rgb[1], rtol=0, atol=1e-12)
    Ks = torch.tensor(np.stack([c.K for c in cams]))
    w2cs = torch.tensor(np.stack([c.w2c for c in cams]))
    batched = render(gaussians, Ks=Ks, w2cs=w2cs, width=20, height=16)
    for a, b in zip(batched, both, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_per_camera_backgrounds(scene):
    gaussians, cams = scene
    bgs = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    out = render(gaussians, cams, bgs)
    black = render(gaussians, cams)
    torch.testing.assert_close(out.rgb, black.rgb + (1 - out.alpha) * bgs[:, None, None, :])


def test_precomputed_colours_per_camera(scene):
    gaussians, cams = scene
    flat = torch.full((len(gaussians), 3), 0.25, dtype=torch.float64)
    out = render(gaussians, cams, colors=flat)
    torch.testing.assert_close(out.rgb, 0.25 * out.alpha.expand(-1, -1, -1, 3))
    per_camera = torch.stack([flat, 2 * flat])
    out2 = render(gaussians, cams, colors=per_camera)
    torch.testing.assert_close(out2.rgb[1], 2 * out.rgb[1])


def test_empty_and_fully_culled_gaussians_render_background():
    cam = orbit_camera((12, 10), [2.0, 0.0, 0.0])
    bg = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    for gaussians in (Gaussians.empty(dtype=torch.float64), single((0.0, 0.0, 5.0), 0.1, 0.9)):
        # the second one is far outside the field of view (camera at x=2 looks towards −x)
        means = gaussians.means.clone().requires_grad_(True)
        g = gaussians.replace(means=means)
        out = render(g, [cam], bg)
        torch.testing.assert_close(out.rgb, bg.expand(1, 10, 12, 3))
        assert not out.alpha.detach().any() and not out.depth.detach().any()
        out.rgb.sum().backward()  # a graph exists even with nothing drawn
        assert means.grad is not None and not means.grad.any()


def test_input_errors(scene):
    gaussians, cams = scene
    with pytest.raises(ValueError, match="share a size"):
        render(gaussians, [cams[0], orbit_camera((21, 16), [2.0, 0.0, 0.5])])
    with pytest.raises(ValueError, match="distortion"):
        render(gaussians, [dataclasses.replace(cams[0], dist=np.array([0.1, 0.0, 0.0, 0.0]))])
    with pytest.raises(ValueError, match="background"):
        render(gaussians, cams, torch.zeros(4))
    with pytest.raises(ValueError, match="colors"):
        render(gaussians, cams, colors=torch.zeros(3, 3))
    with pytest.raises(ValueError, match="needs cameras"):
        render(gaussians)
    with pytest.raises(ValueError, match="backend"):
        render(gaussians, cams, backend="opengl")
    with pytest.raises(ValueError, match="sh_degree"):
        render(gaussians, cams, sh_degree=2)


def test_gsplat_backend_on_cpu_tensors_fails_with_install_hint_or_device_message(scene):
    gaussians, cams = scene
    with pytest.raises(RuntimeError, match=r"pip install gsplat|CUDA"):
        render(gaussians, cams, backend="gsplat")


def test_auto_backend_on_cpu_is_the_native_rasteriser_when_built(scene, monkeypatch):
    gaussians, cams = scene
    auto = render(gaussians, cams)
    explicit = render(gaussians, cams, backend="native")
    torch.testing.assert_close(auto.rgb, explicit.rgb, rtol=0, atol=0)
    # turned off (or not built): auto falls back to the pure-PyTorch rasteriser
    monkeypatch.setenv("MOUSELIFT_NATIVE", "0")
    fallback = render(gaussians, cams)
    torch.testing.assert_close(fallback.rgb, render(gaussians, cams, backend="torch").rgb,
                               rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="MOUSELIFT_NATIVE"):
        render(gaussians, cams, backend="native")


def test_camera_gradients_take_the_pytorch_rasteriser(scene, request):
    request.getfixturevalue("native_library")
    gaussians, cams = scene
    Ks = torch.stack([torch.tensor(np.array(c.K)) for c in cams]).requires_grad_(True)
    w2cs = torch.stack([torch.tensor(np.array(c.w2c)) for c in cams]).requires_grad_(True)
    width, height = cams[0].size
    out = render(gaussians, Ks=Ks, w2cs=w2cs, width=width, height=height)
    out.rgb.sum().backward()
    assert float(w2cs.grad.abs().sum()) > 0  # auto chose the PyTorch path, which has them
    with pytest.raises(ValueError, match=r"no gradients w\.r\.t\. the cameras"):
        render(gaussians, Ks=Ks, w2cs=w2cs, width=width, height=height, backend="native")
