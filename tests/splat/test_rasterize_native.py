"""The compiled CPU rasteriser and projection against the PyTorch references.

Images and gradients equal the dense brute-force reference (every Gaussian at every pixel, plain
autograd) to rounding, for any tile size and many images in one call; the compiled projection
equals :func:`mouselift.splat.projection.project_gaussians` with its autograd gradients; the
binning lists what the PyTorch binning lists, in the same order; results do not depend on timing.
"""

from __future__ import annotations

import ctypes
import subprocess
import sys

import numpy as np
import pytest
import torch
from render_testutils import orbit_camera, random_scene

from mouselift.splat import native
from mouselift.splat.projection import (
    bounding_radii,
    covariances_from_scales_quats,
    project_gaussians,
)
from mouselift.splat.rasterize_cpu import bin_gaussians
from mouselift.splat.rasterize_dense import rasterize_dense
from mouselift.splat.rasterize_native import bin_entries, project_native, rasterize_native

pytestmark = pytest.mark.usefixtures("native_library")


def screen_scene(n: int, width: int, height: int, seed: int, dtype=torch.float64,
                 opacities=(0.02, 0.97), spread: float = 2.0):
    """``n`` random 2D Gaussians (some partly off the image): means2d, conics, colours (4
    channels), opacities, depths, radii (gsplat's boxes)."""
    g = torch.Generator().manual_seed(seed)
    means2d = (torch.rand(n, 2, generator=g, dtype=dtype)
               * torch.tensor([width + 8.0, height + 8.0], dtype=dtype) - 4.0)
    half = torch.randn(n, 2, 2, generator=g, dtype=dtype) * spread
    cov = half @ half.transpose(1, 2) + 0.3 * torch.eye(2, dtype=dtype)
    inv = torch.linalg.inv(cov)
    conics = torch.stack([inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 1]], dim=-1)
    lo, hi = opacities
    opac = lo + (hi - lo) * torch.rand(n, generator=g, dtype=dtype)
    colors = torch.rand(n, 4, generator=g, dtype=dtype)
    depths = torch.rand(n, generator=g, dtype=dtype).round(decimals=2)  # with ties
    radii = bounding_radii(cov, opac).to(torch.int32)
    return means2d, conics, colors, opac, depths, radii


def weighted_loss(color, alpha, seed=9):
    g = torch.Generator().manual_seed(seed)
    return ((color * torch.randn(color.shape, generator=g, dtype=color.dtype)).sum()
            + (alpha * torch.randn(alpha.shape, generator=g, dtype=alpha.dtype)).sum())


def leaves_of(*tensors):
    return [t.detach().clone().requires_grad_(True) for t in tensors]


@pytest.mark.parametrize("tile_size", [1, 5, 8, 16])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_images_and_gradients_equal_dense_reference(tile_size, dtype):
    width, height = 37, 29  # not multiples of the tiles
    means2d, conics, colors, opac, depths, radii = screen_scene(150, width, height, 1, dtype,
                                                                spread=1.2)
    leaves = leaves_of(means2d, conics, colors, opac)
    bins = bin_entries(means2d, radii, depths, torch.zeros(150), 1, width, height, tile_size)
    color, alpha = rasterize_native(*leaves, bins)
    assert color.shape == (1, height, width, 4) and alpha.shape == (1, height, width, 1)
    ours = torch.autograd.grad(weighted_loss(color[0], alpha[0]), leaves)
    keep = (radii > 0).all(dim=1)
    ref_leaves = leaves_of(means2d, conics, colors, opac)
    ref_color, ref_alpha = rasterize_dense(*(t[keep] for t in ref_leaves), depths[keep], width,
                                           height)
    ref = torch.autograd.grad(weighted_loss(ref_color, ref_alpha), ref_leaves)
    # near-opaque, translucent and empty pixels
    ref_alpha_values = ref_alpha.detach()
    assert float(ref_alpha_values.max()) > 0.95
    assert 0 < float((ref_alpha_values == 0).double().mean()) < 0.3
    tol = 1e-12 if dtype == torch.float64 else 2e-6
    torch.testing.assert_close(color[0], ref_color, rtol=0, atol=tol)
    torch.testing.assert_close(alpha[0], ref_alpha, rtol=0, atol=tol)
    grad_tol = 1e-9 if dtype == torch.float64 else 2e-4
    for name, a, b in zip(("means2d", "conics", "colors", "opacities"), ours, ref, strict=True):
        scale = float(b.abs().max())
        assert scale > 0, name
        torch.testing.assert_close(a, b, rtol=0, atol=grad_tol * scale, msg=name)


def test_early_termination_equals_dense_reference():
    """Opaque, overlapping splats: most pixels stop at transmittance 1e-4."""
    width = height = 32
    means2d, conics, colors, opac, depths, radii = screen_scene(
        600, width, height, 2, opacities=(0.6, 0.999))
    leaves = leaves_of(means2d, conics, colors, opac)
    bins = bin_entries(means2d, radii, depths, torch.zeros(600), 1, width, height)
    color, alpha = rasterize_native(*leaves, bins)
    ours = torch.autograd.grad(weighted_loss(color[0], alpha[0]), leaves)
    ref_leaves = leaves_of(means2d, conics, colors, opac)
    ref_color, ref_alpha = rasterize_dense(*ref_leaves, depths, width, height)
    ref = torch.autograd.grad(weighted_loss(ref_color, ref_alpha), ref_leaves)
    stopped = (ref_alpha[..., 0] > 1 - 1.2e-4).double().mean()
    assert float(stopped) > 0.3
    torch.testing.assert_close(color[0], ref_color, rtol=0, atol=1e-12)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-9 * float(b.abs().max()))


def test_gradcheck_full_jacobian():
    means2d, conics, colors, opac, depths, radii = screen_scene(12, 9, 7, 3, opacities=(0.2, 0.9))
    bins = bin_entries(means2d, radii, depths, torch.zeros(12), 1, 9, 7, 4)
    assert torch.autograd.gradcheck(lambda *a: rasterize_native(*a, bins),
                                    leaves_of(means2d, conics, colors, opac), eps=1e-6,
                                    atol=1e-5)


def test_many_images_in_one_call_equal_one_at_a_time():
    width, height = 30, 22
    scenes = [screen_scene(120 + 40 * i, width, height, 10 + i) for i in range(3)]
    joined = [torch.cat([s[k] for s in scenes]) for k in range(6)]
    image = torch.cat([torch.full((len(s[0]),), i) for i, s in enumerate(scenes)])
    leaves = leaves_of(*joined[:4])
    bins = bin_entries(joined[0], joined[5], joined[4], image, 3, width, height, 8)
    color, alpha = rasterize_native(*leaves, bins)
    grads = torch.autograd.grad(weighted_loss(color, alpha), leaves)
    start = 0
    g = torch.Generator().manual_seed(9)
    w_color = torch.randn(color.shape, generator=g, dtype=color.dtype)
    w_alpha = torch.randn(alpha.shape, generator=g, dtype=alpha.dtype)
    for i, (m, c, col, o, d, r) in enumerate(scenes):
        one = leaves_of(m, c, col, o)
        bins_one = bin_entries(m, r, d, torch.zeros(len(m)), 1, width, height, 8)
        c1, a1 = rasterize_native(*one, bins_one)
        torch.testing.assert_close(c1[0], color[i], rtol=0, atol=0)
        torch.testing.assert_close(a1[0], alpha[i], rtol=0, atol=0)
        loss = (c1[0] * w_color[i]).sum() + (a1[0] * w_alpha[i]).sum()
        for a, b in zip(torch.autograd.grad(loss, one), grads, strict=True):
            torch.testing.assert_close(a, b[start:start + len(m)], rtol=0, atol=1e-12)
        start += len(m)


def test_results_do_not_depend_on_timing_and_images_not_on_threads():
    means2d, conics, colors, opac, depths, radii = screen_scene(800, 64, 48, 4, torch.float32)
    bins = bin_entries(means2d, radii, depths, torch.zeros(800), 1, 64, 48, 8)
    threads = torch.get_num_threads()

    def run():
        leaves = leaves_of(means2d, conics, colors, opac)
        color, alpha = rasterize_native(*leaves, bins)
        return color, torch.autograd.grad(weighted_loss(color, alpha), leaves)

    try:
        torch.set_num_threads(2)
        first, again = run(), run()
        torch.set_num_threads(1)
        single = run()
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(first[0], again[0])
    assert all(torch.equal(a, b) for a, b in zip(first[1], again[1], strict=True))
    assert torch.equal(first[0], single[0])  # each pixel's sum is one tile's, in one order
    for a, b in zip(first[1], single[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))


def test_binning_lists_what_the_pytorch_binning_lists_in_the_same_order():
    width, height = 45, 37
    means2d, _, _, _, depths, radii = screen_scene(300, width, height, 5)
    theirs = bin_gaussians(means2d, radii, depths, width, height, 8)
    ours = bin_entries(means2d, radii, depths, torch.zeros(300), 1, width, height, 8)
    lists = {int(t): theirs.gaussians[s:s + c].tolist() for t, s, c in
             zip(theirs.tiles, theirs.starts, theirs.counts, strict=True)}
    for t in range(ours.tiles_x * ours.tiles_y):
        got = ours.entries[ours.offsets[t]:ours.offsets[t + 1]].tolist()
        assert got == lists.get(t, []), t


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_radix_sort_is_a_stable_argsort(dtype):
    lib = native.load()
    g = torch.Generator().manual_seed(0)
    suffix = "f32" if dtype == torch.float32 else "f64"
    for n in (0, 1, 2, 17, 5000):
        # ties, both signs, -0 and +0 (equal), huge and denormal values
        keys = (torch.randn(n, generator=g, dtype=dtype) * 3).round(decimals=1)
        special = torch.tensor([1e30, -1e30, -0.0, 5e-40], dtype=dtype)[: min(4, n // 10)]
        keys[: len(special)] = special
        order = torch.empty(n, dtype=torch.int64)
        assert getattr(lib, f"ml_argsort_{suffix}")(n, ctypes.c_void_p(keys.data_ptr()),
                                                    ctypes.c_void_p(order.data_ptr())) == 0
        assert torch.equal(order, torch.argsort(keys, stable=True)), n


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_projection_equals_the_pytorch_projection_and_its_gradients(dtype):
    gaussians = random_scene(600, seed=7, dtype=dtype, scales=(0.01, 0.6), radius=2.2)
    cameras = [orbit_camera((40, 30), [2.0, 0.5, 0.3], skew=3.0),
               orbit_camera((40, 30), [-0.5, 1.9, 1.0]),
               orbit_camera((40, 30), [0.3, 0.2, 1.2], f=15.0)]  # wide: clamped Jacobians
    Ks = torch.tensor(np.stack([c.K for c in cameras]), dtype=dtype)
    w2cs = torch.tensor(np.stack([c.w2c for c in cameras]), dtype=dtype)
    means = gaussians.means.detach().clone().requires_grad_(True)
    cov = covariances_from_scales_quats(gaussians.scales, gaussians.rotations).detach()
    cov.requires_grad_(True)
    opac = gaussians.opacities.detach()
    ref = project_gaussians(means, cov, Ks, w2cs, 40, 30, opac)
    ours = project_native(means, cov, Ks, w2cs, 40, 30, opac)
    # some Gaussians are culled (behind the near plane, off the image), some clamped
    assert 0.2 < float(ref.visible.double().mean()) < 0.95
    assert torch.equal(ours.visible, ref.visible) and torch.equal(ours.radii, ref.radii)
    vis = ref.visible
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    for name in ("means2d", "conics", "depths"):
        a, b = getattr(ours, name)[vis], getattr(ref, name)[vis]
        torch.testing.assert_close(a, b, rtol=tol, atol=tol * float(b.detach().abs().max()),
                                   msg=name)
    g = torch.Generator().manual_seed(3)
    weights = [torch.randn(t.shape, generator=g, dtype=dtype) for t in
               (ref.means2d, ref.conics, ref.depths)]

    def loss(p):
        return sum((t * w * (vis[..., None] if t.ndim == 3 else vis)).sum() for t, w in
                   zip((p.means2d, p.conics, p.depths), weights, strict=True))

    grad_ref = torch.autograd.grad(loss(ref), (means, cov))
    grad_ours = torch.autograd.grad(loss(ours), (means, cov))
    grad_tol = 1e-9 if dtype == torch.float64 else 1e-3
    for name, a, b in zip(("means", "covariances"), grad_ours, grad_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=grad_tol * float(b.abs().max()), msg=name)


def test_bad_arguments_are_refused():
    means2d, conics, colors, opac, depths, radii = screen_scene(5, 8, 8, 6)
    with pytest.raises(ValueError, match="tile_size"):
        bin_entries(means2d, radii, depths, torch.zeros(5), 1, 8, 8, 17)
    bins = bin_entries(means2d, radii, depths, torch.zeros(5), 1, 8, 8)
    with pytest.raises(ValueError, match="D <= 16"):
        rasterize_native(means2d, conics, torch.rand(5, 17, dtype=torch.float64), opac, bins)
    with pytest.raises(ValueError, match="float32 or float64"):
        rasterize_native(*(t.half() for t in (means2d, conics, colors, opac)), bins)
    with pytest.raises(ValueError, match="one dtype"):
        rasterize_native(means2d, conics, colors.float(), opac, bins)


def test_nothing_to_draw_gives_an_empty_image_with_gradients():
    empty = torch.zeros(0, 2, dtype=torch.float64)
    bins = bin_entries(empty, torch.zeros(0, 2, dtype=torch.int32),
                       torch.zeros(0, dtype=torch.float64), torch.zeros(0), 2, 10, 6)
    leaves = leaves_of(empty, torch.zeros(0, 3, dtype=torch.float64),
                       torch.zeros(0, 3, dtype=torch.float64), torch.zeros(0, dtype=torch.float64))
    color, alpha = rasterize_native(*leaves, bins)
    assert color.shape == (2, 6, 10, 3)
    assert float(color.detach().abs().sum() + alpha.detach().sum()) == 0.0
    grads = torch.autograd.grad(color.sum() + alpha.sum(), leaves)
    assert [g.shape for g in grads] == [t.shape for t in leaves]


def test_build_writes_a_fingerprinted_library_and_says_why_it_fails(tmp_path):
    stale = tmp_path / "_rasterize_000000000000.so"
    stale.write_bytes(b"old")
    path = native.build(tmp_path)
    assert path.name == native.library_name() and path.parent == tmp_path
    assert not stale.exists()  # a build of older sources is removed
    assert ctypes.CDLL(str(path)).ml_abi_version() == native.ABI_VERSION
    with pytest.raises(native.NativeUnavailable, match="failed"):
        native.build(tmp_path / "other", compiler="false")


def test_turned_off_at_run_time(monkeypatch):
    monkeypatch.setenv("MOUSELIFT_NATIVE", "0")
    with pytest.raises(native.NativeUnavailable, match="MOUSELIFT_NATIVE=0"):
        native.load()


def test_status_command():
    proc = subprocess.run([sys.executable, "-m", "mouselift.splat.native", "status"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("available: "), proc.stderr
