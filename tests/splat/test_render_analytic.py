"""Analytic checks of the CPU renderer: one Gaussian's footprint, occlusion, depth, conventions.

The footprint of a single Gaussian is recovered from the rendered alpha by an exact quadratic fit
of ``ln alpha`` (float64), giving its peak, centre and 2D covariance. The expected covariance is
built independently from a numerical Jacobian of :meth:`Camera.project` (skew included) plus
gsplat's 0.3 px² low-pass.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from render_testutils import pinhole, single

from mouselift.splat.gaussians import Gaussians
from mouselift.splat.render import render
from mouselift.splat.sh import C0

EPS2D = 0.3


def fit_footprint(alpha: np.ndarray, floor: float = 0.02):
    """Fit ``alpha = o·exp(−½ (p−m)ᵀ Σ⁻¹ (p−m))`` on pixels above ``floor``: (o, m, Σ)."""
    v, u = np.nonzero(alpha > floor)
    design = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, np.log(alpha[v, u]), rcond=None)
    conic = np.array([[-2 * coef[3], -coef[4]], [-coef[4], -2 * coef[5]]])
    centre = np.linalg.solve(conic, coef[1:3])
    peak = np.exp(coef[0] + 0.5 * centre @ conic @ centre)
    return peak, centre, np.linalg.inv(conic)


def projected_covariance(camera, mean, sigma: float) -> np.ndarray:
    """``J σ² Jᵀ + 0.3 I`` with ``J`` the numerical Jacobian of ``camera.project`` at ``mean``."""
    h = 1e-6
    jac = np.zeros((2, 3))
    for k in range(3):
        step = np.zeros(3)
        step[k] = h
        jac[:, k] = (camera.project((mean + step)[None]) - camera.project((mean - step)[None]))[0]
        jac[:, k] /= 2 * h
    return sigma**2 * jac @ jac.T + EPS2D * np.eye(2)


@pytest.mark.parametrize(
    ("mean", "skew"),
    [((0.0, 0.0, 5.0), 0.0), ((0.31, -0.22, 4.0), 0.0), ((0.2, 0.15, 4.5), -6.0)],
    ids=["on-axis", "off-axis", "skewed"],
)
def test_single_gaussian_footprint(mean, skew):
    f, sigma, opacity = 100.0, 0.4, 0.8
    camera = pinhole(64, 60, f, 31.3, 28.6, skew)
    out = render(single(mean, sigma, opacity), [camera], background=torch.zeros(3))
    alpha = out.alpha[0, ..., 0].numpy()
    peak, centre, cov = fit_footprint(alpha)
    assert peak == pytest.approx(opacity, rel=1e-9)
    expected_centre = camera.project(np.array([mean]))[0]
    np.testing.assert_allclose(centre, expected_centre, atol=1e-6)  # sub-pixel: exact
    expected_cov = projected_covariance(camera, np.array(mean), sigma)
    np.testing.assert_allclose(cov, expected_cov, rtol=1e-6, atol=1e-8)
    if mean[:2] == (0.0, 0.0):
        # on the axis the footprint is isotropic with standard deviation f·σ/z (plus low-pass)
        one_sigma = f * sigma / mean[2]
        assert one_sigma == 8.0
        np.testing.assert_allclose(cov, (one_sigma**2 + EPS2D) * np.eye(2), rtol=1e-6, atol=1e-8)
    # colour: red over black is alpha in the red channel only
    np.testing.assert_allclose(out.rgb[0, ..., 0].numpy(), alpha, atol=1e-12)
    assert float(out.rgb[0, ..., 1:].abs().max()) == 0.0


def test_footprint_is_cut_exactly_at_alpha_one_over_255():
    camera = pinhole(64, 64, 100.0, 31.3, 28.6)
    out = render(single((0.0, 0.0, 5.0), 0.4, 0.8), [camera])
    alpha = out.alpha[0, ..., 0].numpy()
    v, u = np.mgrid[0:64, 0:64]
    analytic = 0.8 * np.exp(-0.5 * ((u - 31.3) ** 2 + (v - 28.6) ** 2) / (64.0 + EPS2D))
    expected = np.where(analytic >= 1 / 255, analytic, 0.0)
    np.testing.assert_allclose(alpha, expected, atol=1e-12)
    assert (alpha > 0).sum() > 600  # the whole disc of radius ~26 px is drawn, across tiles


def test_pixel_centre_convention_column_i_is_at_u_equals_i():
    # a Gaussian projecting exactly onto pixel (column 10, row 20) peaks there at its opacity
    camera = pinhole(32, 40, 50.0, 15.0, 17.0)
    x, y, z = (10 - 15.0) / 50.0 * 2.0, (20 - 17.0) / 50.0 * 2.0, 2.0
    out = render(single((x, y, z), 0.01, 0.7), [camera])
    alpha = out.alpha[0, ..., 0]
    assert tuple(np.unravel_index(int(alpha.argmax()), alpha.shape)) == (20, 10)
    assert float(alpha[20, 10]) == pytest.approx(0.7, abs=1e-12)
    assert float(alpha[20, 9]) == pytest.approx(float(alpha[20, 11]), abs=1e-12)


@pytest.mark.parametrize("swap", [False, True])
def test_occlusion_order(swap):
    camera = pinhole(32, 32, 60.0, 15.5, 15.5)
    near_z, far_z = (6.0, 3.0) if swap else (3.0, 6.0)
    red = single((0.0, 0.0, near_z), 0.3 * near_z / 3, 0.99, rgb=(1.0, 0.0, 0.0))
    green = single((0.0, 0.0, far_z), 0.3 * far_z / 3, 0.99, rgb=(0.0, 1.0, 0.0))
    both = Gaussians.cat([red, green])
    out = render(both, [camera], background=torch.tensor([0.0, 0.0, 1.0]))
    centre = out.rgb[0, 15, 15]
    front, back = (1, 0) if swap else (0, 1)  # channel of the nearer Gaussian
    assert float(centre[front]) > 0.95
    assert float(centre[back]) < 0.05
    # expected depth at the centre: dominated by the nearer Gaussian
    z_front = min(near_z, far_z)
    assert float(out.depth[0, 15, 15, 0]) == pytest.approx(z_front, rel=0.02)
    # input order does not matter, only depth
    out_rev = render(Gaussians.cat([green, red]), [camera], torch.tensor([0.0, 0.0, 1.0]))
    torch.testing.assert_close(out_rev.rgb, out.rgb, rtol=0, atol=1e-12)


def test_background_alpha_and_expected_depth():
    camera = pinhole(40, 30, 80.0, 19.2, 14.7)
    gaussian = single((0.05, -0.02, 4.0), 0.2, 0.6, rgb=(0.2, 0.4, 0.9))
    bg = torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)
    out = render(gaussian, [camera], background=bg)
    black = render(gaussian, [camera])
    a = out.alpha[0]
    torch.testing.assert_close(out.rgb[0], black.rgb[0] + (1 - a) * bg, rtol=0, atol=1e-12)
    torch.testing.assert_close(
        black.rgb[0], a * torch.tensor([0.2, 0.4, 0.9], dtype=torch.float64), rtol=0, atol=1e-12
    )
    # one Gaussian: the expected depth is its camera-frame z wherever it is drawn, 0 elsewhere
    drawn = a[..., 0] > 0
    assert 100 < int(drawn.sum()) < 40 * 30
    torch.testing.assert_close(
        out.depth[0, ..., 0][drawn], torch.full_like(out.depth[0, ..., 0][drawn], 4.0)
    )
    assert float(out.depth[0, ..., 0][~drawn].abs().max()) == 0.0


def test_alpha_saturates_and_stops_at_transmittance_1e4():
    # five coincident Gaussians of alpha 0.95 at the centre pixel: the fourth would bring the
    # transmittance to 6.25e-6 <= 1e-4, so only three are composited: alpha = 1 − 0.05³
    camera = pinhole(16, 16, 40.0, 7.0, 7.0)
    stack = Gaussians.cat(
        [single((0.0, 0.0, 2.0 + 0.1 * i), 0.05, 0.95, rgb=(0.1 * i, 0.0, 0.0)) for i in range(5)]
    )
    out = render(stack, [camera])
    assert float(out.alpha[0, 7, 7, 0]) == pytest.approx(1 - 0.05**3, abs=1e-12)
    expected_red = 0.95 * (0.0 + 0.05 * 0.1 + 0.05**2 * 0.2)
    assert float(out.rgb[0, 7, 7, 0]) == pytest.approx(expected_red, abs=1e-12)


@pytest.mark.parametrize("z", [0.005, -1.0, 150.0], ids=["before-near", "behind", "beyond-far"])
def test_clipping_planes_near_001_far_100(z):
    camera = pinhole(16, 16, 10.0, 7.0, 7.0)
    out = render(single((0.0, 0.0, z), 0.001 * abs(z), 0.9), [camera])
    assert float(out.alpha.max()) == 0.0
    inside = render(single((0.0, 0.0, 0.02), 0.0005, 0.9), [camera])
    assert float(inside.alpha.max()) > 0.5


def test_sh_colour_uses_view_direction_from_camera_centre():
    # degree-1 SH with only the y-band term: colour = 0.5 + C0·dc − C1·y·k for direction y
    from mouselift.splat.sh import C1

    g = single((0.0, 0.0, 0.0), 0.05, 0.9, rgb=(0.5, 0.5, 0.5)).with_sh_degree(1)
    sh = g.sh.clone()
    sh[0, 1] = torch.tensor([0.4, 0.0, 0.0], dtype=torch.float64)  # coefficient of −C1·y
    g = g.replace(sh=sh)
    # cameras on the −y and +y sides, both looking at the origin
    rot_from_minus_y = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # rows: camera axes
    w2c_a = np.eye(4)
    w2c_a[:3, :3] = rot_from_minus_y
    w2c_a[:3, 3] = -rot_from_minus_y @ np.array([0.0, -3.0, 0.0])
    rot_from_plus_y = np.array([[-1.0, 0, 0], [0, 0, -1], [0, -1, 0]])
    w2c_b = np.eye(4)
    w2c_b[:3, :3] = rot_from_plus_y
    w2c_b[:3, 3] = -rot_from_plus_y @ np.array([0.0, 3.0, 0.0])
    cams = [pinhole(15, 15, 30.0, 7.0, 7.0, w2c=w) for w in (w2c_a, w2c_b)]
    out = render(g, cams)
    for i, dir_y in enumerate((1.0, -1.0)):  # from −y the view direction is +y, and vice versa
        expected = (0.5 - C1 * dir_y * 0.4) * 0.9
        assert float(out.rgb[i, 7, 7, 0]) == pytest.approx(expected, abs=1e-9)
        assert float(out.rgb[i, 7, 7, 1]) == pytest.approx(0.5 * 0.9, abs=1e-9)
    assert C0 > 0  # DC convention shared with mouselift.splat.sh
    # degree 0 rendering of the same Gaussians ignores the band
    flat = render(g, cams, sh_degree=0)
    assert float(flat.rgb[0, 7, 7, 0]) == pytest.approx(0.45, abs=1e-9)
