"""Gaussians container: validation, activations, covariances, indexing, FaceLift's pruning."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mouselift.splat import C0, Gaussians, quaternion_to_matrix

FIELDS = ("means", "log_scales", "rotations", "opacity_logits", "sh")


def assert_same(a: Gaussians, b: Gaussians) -> None:
    for name in FIELDS:
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def make(means, scales, opacities, rotations=None, dtype=torch.float64) -> Gaussians:
    means = torch.tensor(means, dtype=dtype)
    n = len(means)
    rotations = torch.tensor([[1.0, 0, 0, 0]] * n if rotations is None else rotations, dtype=dtype)
    return Gaussians.from_activated(
        means, torch.tensor(scales, dtype=dtype), rotations, torch.tensor(opacities, dtype=dtype),
        torch.full((n, 3), 0.5, dtype=dtype),
    )  # fmt: skip


def test_random_shapes_activations_and_reproducibility():
    g = Gaussians.random(50, seed=3, radius=2.0, sh_degree=2)
    assert len(g) == 50 and g.sh_degree == 2 and g.num_sh_coeffs == 9
    assert g.means.shape == (50, 3) and g.opacity_logits.shape == (50,) and g.sh.shape == (50, 9, 3)
    assert g.dtype == torch.float32 and g.device.type == "cpu"
    assert g.means.norm(dim=1).max() <= 2.0
    torch.testing.assert_close(g.scales, torch.exp(g.log_scales))
    torch.testing.assert_close(g.opacities, torch.sigmoid(g.opacity_logits))
    assert ((g.opacities > 0.05 - 1e-6) & (g.opacities < 0.95 + 1e-6)).all()
    torch.testing.assert_close(g.normalized_rotations.norm(dim=1), torch.ones(50))
    assert not torch.allclose(g.rotations.norm(dim=1), torch.ones(50))  # stored unnormalised
    torch.testing.assert_close(g.rgb_dc, 0.5 + C0 * g.sh[:, 0])
    assert ((g.rgb_dc >= 0) & (g.rgb_dc <= 1)).all()
    assert_same(g, Gaussians.random(50, seed=3, radius=2.0, sh_degree=2))
    assert not torch.equal(g.means, Gaussians.random(50, seed=4, radius=2.0, sh_degree=2).means)


def test_quaternion_to_matrix_matches_scipy_and_ignores_norm():
    q = Gaussians.random(64, seed=0, dtype=torch.float64).rotations
    ours = quaternion_to_matrix(q).numpy()
    wxyz = q.numpy()
    reference = Rotation.from_quat(wxyz[:, [1, 2, 3, 0]]).as_matrix()  # scipy is scalar-last
    np.testing.assert_allclose(ours, reference, atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(3.0 * q).numpy(), ours, atol=1e-12)


def test_covariance_hand_example():
    # 90 degrees about +z maps the local x axis (std 2) onto world y.
    half = math.sqrt(0.5)
    g = make([[0, 0, 0]], [[2.0, 1.0, 0.5]], [0.5], rotations=[[half, 0, 0, half]])
    expected = torch.diag(torch.tensor([1.0, 4.0, 0.25], dtype=torch.float64))
    torch.testing.assert_close(g.covariances()[0], expected)


def test_covariances_are_psd_and_follow_rotation_scale_formula():
    g = Gaussians.random(100, seed=5, sh_degree=1, dtype=torch.float64)
    cov = g.covariances()
    r = Rotation.from_quat(g.rotations.numpy()[:, [1, 2, 3, 0]]).as_matrix()
    s2 = g.scales.numpy() ** 2
    reference = np.einsum("nij,nj,nkj->nik", r, s2, r)  # R diag(s²) Rᵀ
    np.testing.assert_allclose(cov.numpy(), reference, rtol=1e-10, atol=1e-16)
    torch.testing.assert_close(cov, cov.transpose(1, 2))
    eig = torch.linalg.eigvalsh(cov)
    assert (eig > 0).all()
    torch.testing.assert_close(eig, torch.sort(g.scales**2, dim=1).values)


def test_from_activated_inverts_activations():
    means = torch.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]])
    scales = torch.tensor([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    rots = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
    opac = torch.tensor([[0.25], [0.75]])  # (N, 1) accepted
    colors = torch.tensor([[0.0, 0.5, 1.0], [0.2, 0.4, 0.6]])
    g = Gaussians.from_activated(means, scales, rots, opac, colors, sh_degree=1)
    assert g.sh.shape == (2, 4, 3) and torch.equal(g.sh[:, 1:], torch.zeros(2, 3, 3))
    torch.testing.assert_close(g.scales, scales)
    torch.testing.assert_close(g.opacities, opac[:, 0])
    torch.testing.assert_close(g.rgb_dc, colors)
    assert torch.equal(g.rotations, rots)  # stored raw
    # opacity 0 and 1 are clamped so the logits stay finite
    g01 = Gaussians.from_activated(means, scales, rots, torch.tensor([0.0, 1.0]), colors)
    assert torch.isfinite(g01.opacity_logits).all()
    sh = torch.randn(2, 16, 3)
    assert torch.equal(Gaussians.from_activated(means, scales, rots, opac, sh=sh).sh, sh)
    with pytest.raises(ValueError, match="exactly one"):
        Gaussians.from_activated(means, scales, rots, opac, colors, sh=sh)
    with pytest.raises(ValueError, match="exactly one"):
        Gaussians.from_activated(means, scales, rots, opac)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("means", torch.zeros(4, 2), r"Gaussians\.means must have shape \(4, 3\), got \(4, 2\)"),
        ("means", torch.zeros(12), r"Gaussians\.means must have shape \(N, 3\), got \(12,\)"),
        ("log_scales", torch.zeros(3, 3), r"Gaussians\.log_scales must have shape \(4, 3\)"),
        ("rotations", torch.zeros(4, 3), r"Gaussians\.rotations must have shape \(4, 4\)"),
        ("opacity_logits", torch.zeros(4, 1), r"Gaussians\.opacity_logits must have shape \(4,\)"),
        ("sh", torch.zeros(4, 5, 3), r"Gaussians\.sh: .*1, 4, 9 or 16"),
        ("sh", torch.zeros(4, 4, 4), r"Gaussians\.sh must have shape \(4, K, 3\)"),
        ("log_scales", torch.zeros(4, 3, dtype=torch.float64), r"log_scales is torch.float64"),
        ("means", torch.zeros(4, 3, dtype=torch.int64), r"means must be floating point"),
    ],
)
def test_validation_names_the_field(field, value, message):
    g = Gaussians.random(4)
    with pytest.raises(ValueError, match=message):
        g.replace(**{field: value})


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_values_are_rejected(field, bad):
    g = Gaussians.random(4, sh_degree=1)
    value = getattr(g, field).clone()
    value.view(-1)[3] = bad
    with pytest.raises(ValueError, match=rf"Gaussians\.{field} has 1 non-finite"):
        g.replace(**{field: value})
    g.replace(**{field: value}, validate=False)  # explicit opt-out


def test_to_detach_clone():
    g = Gaussians.random(6, sh_degree=3)
    d = g.to(dtype=torch.float64)
    assert d.dtype == torch.float64 and all(getattr(d, f).dtype == torch.float64 for f in FIELDS)
    assert_same(d.to(dtype=torch.float32), g)
    c = g.clone()
    c.means[0, 0] = 99.0
    assert g.means[0, 0] != 99.0
    leaf = g.means.clone().requires_grad_()
    assert not g.replace(means=leaf).detach().means.requires_grad
    with pytest.raises(ValueError, match=r"overflow|non-finite"):
        g.replace(means=torch.full((6, 3), 1e300, dtype=torch.float64), log_scales=d.log_scales,
                  rotations=d.rotations, opacity_logits=d.opacity_logits, sh=d.sh).to(
            dtype=torch.float32
        )  # fmt: skip


def test_indexing_filter_and_cat():
    g = Gaussians.random(10, seed=1, sh_degree=1)
    one = g[3]
    assert len(one) == 1 and torch.equal(one.means[0], g.means[3])
    assert torch.equal(g[-1].means[0], g.means[9])
    with pytest.raises(IndexError):
        g[10]
    assert torch.equal(g[2:5].sh, g.sh[2:5])
    assert torch.equal(g[[4, 0]].opacity_logits, g.opacity_logits[[4, 0]])
    mask = g.means[:, 0] > 0
    kept = g.filter(mask)
    assert len(kept) == int(mask.sum()) and torch.equal(kept.rotations, g.rotations[mask])
    assert_same(g[mask], kept)
    with pytest.raises(ValueError, match="bool tensor of shape"):
        g.filter(mask[:5])
    low = Gaussians.random(3, seed=2, sh_degree=0)
    both = Gaussians.cat([g, low])
    assert len(both) == 13 and both.sh_degree == 1
    assert torch.equal(both.sh[10:, 0], low.sh[:, 0]) and torch.equal(
        both.sh[10:, 1:], torch.zeros(3, 3, 3)
    )
    assert_same(Gaussians.cat([g[:4], g[4:]]), g)
    assert len(Gaussians.empty(2)) == 0 and Gaussians.empty(2).sh.shape == (0, 9, 3)


def test_with_sh_degree_pads_and_truncates():
    g = Gaussians.random(5, sh_degree=1)
    up = g.with_sh_degree(3)
    assert up.sh.shape == (5, 16, 3) and torch.equal(up.sh[:, :4], g.sh)
    assert torch.equal(up.sh[:, 4:], torch.zeros(5, 12, 3))
    assert_same(up.with_sh_degree(1), g)


def test_prune_default_facelift_filters():
    g = make(
        means=[[0, 0, -1], [0, 0, -1], [0, 0, -1], [0, 0, 1], [0, 0, -1], [0, 0, 0]],
        scales=[[0.05] * 3, [0.05] * 3, [0.01, 0.1001, 0.01], [0.5] * 3, [0.0999] * 3, [0.2] * 3],
        opacities=[0.041, 0.039, 0.9, 0.9, 0.9, 0.9],
    )
    # 0 kept; 1 too transparent; 2 too large at z<0; 3 large but z>0; 4 just small; 5 large, z=0
    assert g.prune_mask().tolist() == [True, False, False, True, True, False]
    assert len(g.prune()) == 3 and torch.equal(g.prune().means, g.means[[0, 3, 4]])
    # large Gaussians dropped everywhere without the z exception
    assert g.prune_mask(keep_scale_if_z_positive=False).tolist() == [
        True, False, False, False, True, False,
    ]  # fmt: skip
    # each filter can be disabled
    assert g.prune_mask(min_opacity=None).tolist() == [True, True, False, True, True, False]
    assert g.prune_mask(max_scale=None).tolist() == [True, False, True, True, True, True]
    assert g.prune_mask(None, None).all()


def test_prune_box_is_inclusive():
    g = make(
        means=[[0, 0, 0], [1, 1, 1], [1.0001, 0, 0], [-1, -1, -1], [0, -1.5, 0]],
        scales=[[0.01] * 3] * 5,
        opacities=[0.5] * 5,
    )
    box = ((-1, -1, -1), (1, 1, 1))
    assert g.prune_mask(box=box).tolist() == [True, True, False, True, False]
    tensor_box = (torch.tensor([-1.0, -2.0, -1.0]), torch.tensor([1.0, 1.0, 1.0]))
    assert g.prune_mask(box=tensor_box).tolist() == [True, True, False, True, True]
    with pytest.raises(ValueError, match="box must be"):
        g.prune(box=((0, 0), (1, 1)))
