"""``torch.autograd.gradcheck`` (float64) of the tile rasteriser and of ``render`` end to end.

Scenes are small, translucent (no pixel reaches the 1e-4 transmittance stop) and drawn with
non-integer positions, so no finite-difference step crosses the 1/255 alpha threshold.
"""

from __future__ import annotations

import torch
from render_testutils import orbit_camera, random_scene

from mouselift.splat.gaussians import Gaussians
from mouselift.splat.rasterize_cpu import bin_gaussians, rasterize_tiles
from mouselift.splat.render import render


def test_gradcheck_tile_rasteriser_full_jacobian():
    g = torch.Generator().manual_seed(0)
    n, width, height = 4, 11, 9
    means2d = torch.rand(n, 2, generator=g, dtype=torch.float64) * torch.tensor([10.0, 8.0])
    # conics of covariances with standard deviations 1.2–2.5 px and random orientation
    angle = torch.rand(n, generator=g, dtype=torch.float64) * 3.14
    sd = 1.2 + 1.3 * torch.rand(n, 2, generator=g, dtype=torch.float64)
    rot = torch.stack([angle.cos(), -angle.sin(), angle.sin(), angle.cos()], -1).view(n, 2, 2)
    cov = rot @ torch.diag_embed(sd**2) @ rot.transpose(1, 2)
    inv = torch.linalg.inv(cov)
    conics = torch.stack([inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 1]], -1)
    colors = torch.rand(n, 4, generator=g, dtype=torch.float64)
    opacities = 0.3 + 0.5 * torch.rand(n, generator=g, dtype=torch.float64)
    depths = torch.rand(n, generator=g, dtype=torch.float64)
    radii = torch.full((n, 2), 9.0)
    # 4-pixel tiles and 1-Gaussian chunks: several tiles, several chunks per tile
    bins = bin_gaussians(means2d, radii, depths, width, height, tile_size=4)
    inputs = [t.clone().requires_grad_(True) for t in (means2d, conics, colors, opacities)]
    assert torch.autograd.gradcheck(
        lambda *a: rasterize_tiles(*a, bins, chunk=1), inputs, eps=1e-6, atol=1e-7, rtol=1e-5
    )


def scene_and_cameras():
    gaussians = random_scene(12, seed=7, radius=0.4, scales=(0.08, 0.2), opacities=(0.2, 0.6),
                             sh_degree=1)  # fmt: skip
    cameras = [
        orbit_camera((14, 12), [2.0, 0.7, 0.6], f=35.0),
        orbit_camera((14, 12), [-0.5, -2.1, 0.9], f=38.0, skew=1.5),
    ]
    return gaussians, cameras


def test_scene_is_translucent_and_covers_the_images():
    gaussians, cameras = scene_and_cameras()
    out = render(gaussians, cameras)
    assert float(out.alpha.max()) < 0.99  # no pixel near the transmittance stop
    assert float((out.alpha > 0.05).double().mean()) > 0.3


def test_gradcheck_render_wrt_means_scales_rotations_opacities_and_sh():
    gaussians, cameras = scene_and_cameras()
    bg = torch.tensor([0.2, 0.5, 0.7], dtype=torch.float64)

    def fn(means, log_scales, rotations, logits, sh):
        g = Gaussians(means, log_scales, rotations, logits, sh, validate=False)
        out = render(g, cameras, bg, backend="torch")
        return out.rgb, out.alpha, out.depth

    inputs = [
        t.detach().clone().requires_grad_(True)
        for t in (gaussians.means, gaussians.log_scales, gaussians.rotations,
                  gaussians.opacity_logits, gaussians.sh)
    ]  # fmt: skip
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_gradcheck_render_with_precomputed_colours():
    gaussians, cameras = scene_and_cameras()
    colors = torch.rand(len(gaussians), 3, generator=torch.Generator().manual_seed(3),
                        dtype=torch.float64).requires_grad_(True)  # fmt: skip

    def fn(colors):
        return render(gaussians.detach(), cameras, colors=colors).rgb

    assert torch.autograd.gradcheck(fn, [colors], eps=1e-6, atol=1e-7, rtol=1e-5, fast_mode=True)
