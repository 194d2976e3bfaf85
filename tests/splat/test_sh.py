"""Spherical harmonics: basis against scipy's complex SH, colour conventions, eval_sh behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import sph_harm_y

from mouselift.splat import C0, eval_sh, num_sh_coeffs, rgb_to_sh, sh_basis, sh_to_rgb
from mouselift.splat.sh import sh_degree_from_coeffs


def _real_sh_reference(degree: int, dirs: np.ndarray) -> np.ndarray:
    """Real SH with the Condon–Shortley phase built from scipy's complex SH, index l² + l + m."""
    x, y, z = (dirs / np.linalg.norm(dirs, axis=1, keepdims=True)).T
    polar, azimuth = np.arccos(np.clip(z, -1, 1)), np.arctan2(y, x)
    out = np.zeros((len(dirs), num_sh_coeffs(degree)))
    for band in range(degree + 1):
        for m in range(-band, band + 1):
            value = sph_harm_y(band, abs(m), polar, azimuth)
            if m > 0:
                real = np.sqrt(2) * value.real
            elif m < 0:
                real = np.sqrt(2) * value.imag
            else:
                real = value.real
            out[:, band * band + band + m] = real
    return out


def test_basis_matches_scipy_real_sh_up_to_degree_3():
    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(200, 3)) * rng.uniform(0.1, 5.0, size=(200, 1))
    ours = sh_basis(3, torch.from_numpy(dirs)).numpy()
    np.testing.assert_allclose(ours, _real_sh_reference(3, dirs), atol=1e-12)
    # lower degrees are prefixes
    for degree in range(3):
        np.testing.assert_array_equal(
            sh_basis(degree, torch.from_numpy(dirs)).numpy(), ours[:, : num_sh_coeffs(degree)]
        )


def test_band_one_signs_follow_graphdeco():
    # Y_1 = (-C1 y, C1 z, -C1 x): looking along +x gives -C1 on coefficient 3.
    basis = sh_basis(1, torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    c1 = 0.4886025119029199
    expected = torch.tensor([[C0, 0, 0, -c1], [C0, -c1, 0, 0], [C0, 0, c1, 0]])
    torch.testing.assert_close(basis, expected)


def test_rgb_sh_conversions_are_inverse():
    rgb = torch.tensor([0.0, 0.5, 1.0, 0.25], dtype=torch.float64)
    torch.testing.assert_close(sh_to_rgb(rgb_to_sh(rgb)), rgb)
    assert rgb_to_sh(torch.tensor(0.5)).item() == 0.0
    assert sh_to_rgb(torch.tensor(1.0)).item() == pytest.approx(0.5 + C0)


def test_eval_sh_degree0_is_dc_colour_and_view_independent():
    rng = torch.Generator().manual_seed(1)
    coeffs = torch.randn(10, 1, 3, generator=rng, dtype=torch.float64)
    dirs = torch.randn(10, 3, generator=rng, dtype=torch.float64)
    out = eval_sh(0, coeffs, dirs, clamp=False)
    torch.testing.assert_close(out, 0.5 + C0 * coeffs[:, 0])
    torch.testing.assert_close(eval_sh(0, coeffs, -dirs, clamp=False), out)


def test_eval_sh_matches_manual_sum_and_uses_first_k_coefficients():
    rng = torch.Generator().manual_seed(2)
    coeffs = torch.randn(7, 16, 3, generator=rng, dtype=torch.float64)
    dirs = torch.randn(7, 3, generator=rng, dtype=torch.float64)
    for degree in range(4):
        k = num_sh_coeffs(degree)
        basis = sh_basis(degree, dirs)
        manual = 0.5 + torch.einsum("nk,nkc->nc", basis, coeffs[:, :k])
        torch.testing.assert_close(eval_sh(degree, coeffs, dirs, clamp=False), manual)
        torch.testing.assert_close(eval_sh(degree, coeffs, dirs), manual.clamp_min(0))
    # direction length does not matter
    torch.testing.assert_close(eval_sh(3, coeffs, 7.5 * dirs), eval_sh(3, coeffs, dirs))


def test_eval_sh_broadcasts_and_is_differentiable():
    coeffs = torch.randn(5, 9, 3, dtype=torch.float64, requires_grad=True)
    dirs = torch.randn(2, 1, 3, dtype=torch.float64, requires_grad=True)
    out = eval_sh(2, coeffs, dirs, clamp=False)
    assert out.shape == (2, 5, 3)
    out.sum().backward()
    assert coeffs.grad is not None and dirs.grad is not None
    assert torch.isfinite(dirs.grad).all()
    # d(out)/d(coeff_0) is C0 per channel, summed over the 2 directions
    torch.testing.assert_close(coeffs.grad[:, 0], torch.full((5, 3), 2 * C0, dtype=torch.float64))


def test_invalid_degrees_and_shapes():
    with pytest.raises(ValueError, match="degree"):
        num_sh_coeffs(4)
    with pytest.raises(ValueError, match="1, 4, 9 or 16"):
        sh_degree_from_coeffs(5)
    assert [sh_degree_from_coeffs(k) for k in (1, 4, 9, 16)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="K >= 9"):
        eval_sh(2, torch.zeros(3, 4, 3), torch.ones(3, 3))
