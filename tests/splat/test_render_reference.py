"""The tile rasteriser against the dense brute-force reference: images and gradients.

Tiling is exact (see :mod:`mouselift.splat.projection`): for any tile size and depth-chunk length
the images equal the dense reference to rounding, and the hand-written backward equals autograd
through the dense reference.
"""

from __future__ import annotations

import pytest
import torch
from render_testutils import orbit_camera, random_scene, requires_grad

from mouselift.cameras.rig import facelift_rig
from mouselift.gslrm.scenes import pixel_aligned_scene
from mouselift.splat.projection import covariances_from_scales_quats, project_gaussians
from mouselift.splat.rasterize_cpu import bin_gaussians, rasterize_tiles
from mouselift.splat.rasterize_dense import rasterize_dense
from mouselift.splat.render import render


def projected_inputs(gaussians, camera, dtype=torch.float64):
    K = torch.tensor(camera.K, dtype=dtype)
    w2c = torch.tensor(camera.w2c, dtype=dtype)
    cov = covariances_from_scales_quats(gaussians.scales, gaussians.rotations)
    p = project_gaussians(
        gaussians.means, cov, K, w2c, camera.width, camera.height, gaussians.opacities
    )
    idx = torch.nonzero(p.visible).squeeze(1)
    g = torch.Generator().manual_seed(5)
    colors = torch.rand(len(idx), 4, generator=g, dtype=dtype)
    return p, idx, colors


@pytest.mark.parametrize(
    ("tile_size", "chunk"), [(8, 16), (16, 4), (4, 1), (5, 3)], ids=["8x16", "16x4", "4x1", "5x3"]
)
def test_tiles_equal_dense_reference(tile_size, chunk):
    gaussians = random_scene(300, seed=1)
    camera = orbit_camera((45, 37), [2.0, -1.2, 0.8], skew=-1.5)  # sizes not multiples of tiles
    p, idx, colors = projected_inputs(gaussians, camera)
    args = (p.means2d[idx], p.conics[idx], colors, gaussians.opacities[idx])
    bins = bin_gaussians(p.means2d[idx], p.radii[idx], p.depths[idx], 45, 37, tile_size)
    color, alpha = rasterize_tiles(*args, bins, chunk=chunk)
    ref_color, ref_alpha = rasterize_dense(*args, p.depths[idx], 45, 37, pixel_chunk=500)
    assert float(ref_alpha.max()) > 0.99 and float(ref_alpha.min()) == 0.0  # opaque and empty
    torch.testing.assert_close(color, ref_color, rtol=0, atol=1e-12)
    torch.testing.assert_close(alpha, ref_alpha, rtol=0, atol=1e-12)
    # the binning is sparse: far fewer Gaussian-pixel pairs than the dense N·H·W
    assert bins.num_intersections * tile_size**2 < 0.5 * len(idx) * 45 * 37


def saturated_scene():
    """Opaque, overlapping Gaussians: most pixels stop at transmittance 1e-4 (early exit)."""
    return random_scene(400, seed=2, scales=(0.03, 0.12), opacities=(0.6, 0.999))


def test_early_termination_scene_matches_dense_and_saturates():
    gaussians = saturated_scene()
    camera = orbit_camera((40, 40), [0.4, -2.2, 0.5])
    p, idx, colors = projected_inputs(gaussians, camera)
    args = (p.means2d[idx], p.conics[idx], colors, gaussians.opacities[idx])
    bins = bin_gaussians(p.means2d[idx], p.radii[idx], p.depths[idx], 40, 40, 8)
    color, alpha = rasterize_tiles(*args, bins, chunk=4)
    ref_color, ref_alpha = rasterize_dense(*args, p.depths[idx], 40, 40)
    # pixels where compositing everything would leave transmittance <= 1e-4 stop early
    v, u = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    dx = args[0][:, 0, None, None] - u.double()
    dy = args[0][:, 1, None, None] - v.double()
    a, b, c = (args[1][:, i, None, None] for i in range(3))
    raw = args[3][:, None, None] * torch.exp(-(0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy))
    every = torch.where(raw >= 1 / 255, raw.clamp_max(0.999), torch.zeros_like(raw))
    stopped = torch.prod(1 - every, dim=0) <= 1e-4
    assert float(stopped.double().mean()) > 0.1
    assert float(ref_alpha[..., 0][stopped].min()) < 1 - 1e-4  # ... before reaching it
    torch.testing.assert_close(color, ref_color, rtol=0, atol=1e-12)
    torch.testing.assert_close(alpha, ref_alpha, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scene", ["translucent", "saturated"])
def test_custom_backward_equals_dense_autograd(scene):
    gaussians = random_scene(200, seed=3) if scene == "translucent" else saturated_scene()
    camera = orbit_camera((33, 29), [1.5, 1.9, -0.7], skew=2.0)
    p, idx, colors = projected_inputs(gaussians, camera)
    leaves = [
        t.detach().clone().requires_grad_(True)
        for t in (p.means2d[idx], p.conics[idx], colors, gaussians.opacities[idx])
    ]
    g = torch.Generator().manual_seed(9)
    w_color = torch.randn(29, 33, 4, generator=g, dtype=torch.float64)
    w_alpha = torch.randn(29, 33, 1, generator=g, dtype=torch.float64)

    def grads(fn):
        for leaf in leaves:
            leaf.grad = None
        color, alpha = fn(*leaves)
        ((color * w_color).sum() + (alpha * w_alpha).sum()).backward()
        return [leaf.grad.clone() for leaf in leaves]

    bins = bin_gaussians(p.means2d[idx], p.radii[idx], p.depths[idx], 33, 29, 8)
    ours = grads(lambda *a: rasterize_tiles(*a, bins, chunk=3))
    ref = grads(lambda *a: rasterize_dense(*a, p.depths[idx], 33, 29))
    for name, a, b in zip(("means2d", "conics", "colors", "opacities"), ours, ref, strict=True):
        assert float(b.abs().max()) > 0, name
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9 * float(b.abs().max()), msg=name)


def renders_and_gradients(gaussians, cameras, bg, backend):
    """``render`` outputs and the gradients of a fixed random weighting of them w.r.t. every
    raw Gaussian parameter."""
    leaves = requires_grad(gaussians)
    out = render(gaussians, cameras, bg, backend=backend)
    g = torch.Generator().manual_seed(11)
    loss = sum((t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in out)
    loss.backward()
    return [t.detach() for t in out], [leaf.grad.clone() for leaf in leaves]


def assert_backends_agree(ours, ref, atol=1e-10, grad_tol=1e-8, isotropic=False):
    """Images to ``atol``; gradients to ``grad_tol`` of their largest value (the rotations of
    isotropic Gaussians change nothing: their gradient is rounding noise in both)."""
    for name, a, b in zip(("rgb", "alpha", "depth"), ours[0], ref[0], strict=True):
        diff = float((a - b).abs().max())
        assert diff <= atol, f"{name}: {diff:.2e}"
    names = ("means", "log_scales", "rotations", "opacity_logits", "sh")
    for name, a, b in zip(names, ours[1], ref[1], strict=True):
        if isotropic and name == "rotations":
            assert float(a.abs().max()) < 1e-12 and float(b.abs().max()) < 1e-12
            continue
        scale = float(b.abs().max())
        diff = float((a - b).abs().max())
        assert scale > 0 and diff <= grad_tol * scale, f"{name}: {diff:.2e} of {scale:.2e}"


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_render_backends_agree_on_images_and_parameter_gradients(backend, request):
    if backend == "native":
        request.getfixturevalue("native_library")
    gaussians = random_scene(150, seed=4, sh_degree=2)
    cameras = [orbit_camera((30, 26), eye) for eye in ([2.0, 0.5, 0.5], [-0.4, -2.1, 1.0])]
    bg = torch.tensor([0.3, 0.6, 0.9], dtype=torch.float64)
    assert_backends_agree(renders_and_gradients(gaussians, cameras, bg, backend),
                          renders_and_gradients(gaussians, cameras, bg, "dense"))


@pytest.mark.parametrize("backend", ["torch", "native"])
@pytest.mark.parametrize("kind", ["trained", "fog"])
def test_gslrm_scenes_equal_dense_reference(kind, backend, request):
    """GS-LRM's dense pixel-aligned splats (one per pixel of 6 views), trained and at
    initialisation (the fog), into the 6 rig views: images and every parameter's gradient."""
    if backend == "native":
        request.getfixturevalue("native_library")
    size = 20
    gaussians = pixel_aligned_scene(kind, size, seed=1)
    cameras = facelift_rig(size).cameras
    bg = torch.ones(3, dtype=torch.float64)
    ref = renders_and_gradients(gaussians, cameras, bg, "dense")
    alpha = ref[0][1]
    # splats over every pixel, deep enough that some pixels stop at transmittance 1e-4
    assert float(alpha.min()) > 0.3 and float(alpha.mean()) > 0.9
    assert float((alpha > 1 - 1.01e-4).double().mean()) > 0.02
    assert_backends_agree(renders_and_gradients(gaussians, cameras, bg, backend), ref,
                          atol=1e-9, grad_tol=1e-7, isotropic=kind == "fog")


def test_float32_matches_float64():
    gaussians = random_scene(300, seed=6)
    camera = orbit_camera((40, 32), [2.2, -0.6, 0.9])
    ref = render(gaussians, [camera], torch.ones(3))
    out = render(gaussians.to(dtype=torch.float32), [camera], torch.ones(3))
    assert out.rgb.dtype == torch.float32
    torch.testing.assert_close(out.rgb.double(), ref.rgb, rtol=0, atol=2e-5)
    torch.testing.assert_close(out.alpha.double(), ref.alpha, rtol=0, atol=2e-5)
