"""Parity with gsplat (``pip install gsplat``; skipped cleanly without it or without CUDA).

* Projection and SH colour against gsplat's own PyTorch reference implementation
  (``gsplat.cuda._torch_impl``), which runs on the CPU: needs gsplat only.
* ``gsplat.rasterization`` against our rasteriser: needs CUDA. Same images within 1e-3, except
  for the rare pixel where a fragment sits exactly at the 1/255 alpha threshold and CUDA's fast
  ``__expf`` decides it the other way (a jump of about 1/255): at most 0.1 % of the values may
  differ by more than 1e-3, none by more than 1e-2.
"""

from __future__ import annotations

import pytest
import torch
from render_testutils import orbit_camera, random_scene

from mouselift.splat.render import render


@pytest.fixture(scope="module")
def gsplat():
    return pytest.importorskip("gsplat", reason="pip install gsplat to run the parity test")


def assert_images_close(a: torch.Tensor, b: torch.Tensor) -> None:
    diff = (a - b).abs()
    assert float((diff > 1e-3).double().mean()) <= 1e-3, float(diff.max())
    assert float(diff.max()) < 1e-2


@pytest.mark.parametrize("skew", [0.0, -4.0])
def test_projection_and_sh_match_gsplat_torch_reference(gsplat, skew):
    from gsplat.cuda import _torch_impl as ref

    from mouselift.splat.projection import covariances_from_scales_quats, project_gaussians
    from mouselift.splat.rasterize_gsplat import gsplat_viewmats_and_Ks
    from mouselift.splat.sh import eval_sh

    # wide spread: some Gaussians sit outside the view, where the Jacobian clamp acts
    g = random_scene(400, seed=0, sh_degree=3, scales=(0.05, 0.5), radius=2.0)
    cam = orbit_camera((96, 80), [2.4, 0.5, 0.8], skew=skew)
    K, w2c = torch.tensor(cam.K), torch.tensor(cam.w2c)
    cov = covariances_from_scales_quats(g.scales, g.rotations)
    ref_cov, _ = ref._quat_scale_to_covar_preci(g.rotations, g.scales, True, False)
    torch.testing.assert_close(cov, ref_cov)
    ours = project_gaussians(g.means, cov, K, w2c, 96, 80)
    viewmats, ks = gsplat_viewmats_and_Ks(K[None], w2c[None])
    radii, means2d, depths, conics, _ = ref._fully_fused_projection(
        g.means, ref_cov, viewmats, ks, 96, 80, near_plane=0.01, far_plane=100.0
    )
    vis = ours.visible
    assert 100 < int(vis.sum()) < 400
    assert torch.equal(vis, (radii[0] > 0).all(-1))
    torch.testing.assert_close(means2d[0][vis] - 0.5, ours.means2d[vis])  # pixel-centre shift
    torch.testing.assert_close(conics[0][vis], ours.conics[vis])
    torch.testing.assert_close(depths[0][vis], ours.depths[vis])
    # SH colour along mean − camera centre (gsplat takes the centre from inverse(viewmat))
    centre = torch.inverse(viewmats)[0, :3, 3]
    torch.testing.assert_close(centre, torch.tensor(cam.center))
    dirs = g.means - centre
    expected = ref._spherical_harmonics(3, dirs, g.sh)
    torch.testing.assert_close(eval_sh(3, g.sh, dirs, clamp=False) - 0.5, expected)


@pytest.mark.parametrize(("sh_degree", "skew"), [(0, 0.0), (3, 0.0), (1, -4.0)])
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="gsplat parity needs CUDA")
def test_gsplat_matches_torch_backend(gsplat, sh_degree, skew):
    gaussians = random_scene(3000, seed=0, scales=(0.005, 0.04), sh_degree=sh_degree,
                             dtype=torch.float32).to("cuda")  # fmt: skip
    cams = [orbit_camera((96, 80), eye, skew=skew)
            for eye in ([2.4, 0.5, 0.8], [-1.0, -2.3, 0.4])]  # fmt: skip
    bg = torch.tensor([1.0, 1.0, 1.0], device="cuda")
    ref = render(gaussians, cams, bg, backend="torch")
    out = render(gaussians, cams, bg, backend="gsplat")
    assert float(ref.alpha.mean()) > 0.05
    assert_images_close(out.rgb, ref.rgb)
    assert_images_close(out.alpha, ref.alpha)
    drawn = ref.alpha[..., 0] > 0.2
    rel = (out.depth[..., 0][drawn] - ref.depth[..., 0][drawn]).abs() / ref.depth[..., 0][drawn]
    assert float((rel > 1e-3).double().mean()) <= 1e-3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="gsplat parity needs CUDA")
def test_gsplat_gradients_match_torch_backend(gsplat):
    gaussians = random_scene(1000, seed=1, scales=(0.01, 0.05), dtype=torch.float32).to("cuda")
    cams = [orbit_camera((64, 64), [2.2, 0.6, 0.9])]
    grads = {}
    for backend in ("torch", "gsplat"):
        leaves = [gaussians.means, gaussians.log_scales, gaussians.opacity_logits, gaussians.sh]
        for leaf in leaves:
            leaf.requires_grad_(True)
            leaf.grad = None
        out = render(gaussians, cams, backend=backend)
        (out.rgb.sum() + out.alpha.sum()).backward()
        grads[backend] = [leaf.grad.clone() for leaf in leaves]
    for a, b in zip(grads["gsplat"], grads["torch"], strict=True):
        cos = torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0)
        assert float(cos) > 0.999
