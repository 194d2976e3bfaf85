"""PSNR / SSIM (plain and masked) against closed forms and independent NumPy/SciPy code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from mouselift.metrics import (
    as_batch,
    compute_metrics,
    gaussian_kernel,
    masked_psnr,
    masked_ssim,
    psnr,
    ssim,
    ssim_map,
)

C1 = 0.01**2
C2 = 0.03**2


# ------------------------------------------------------------------ independent references


def ref_ssim(x: np.ndarray, y: np.ndarray, cov_norm: float = 121 / 120) -> float:
    """SSIM of (H, W, C) images in [0, 1], per channel via scipy's 11-tap Gaussian, 'valid'."""

    def filt(im: np.ndarray) -> np.ndarray:
        # truncate 3.5 at sigma 1.5 -> radius int(5.25 + 0.5) = 5 -> 11 taps; drop the 5-pixel
        # border where the window would leave the image (skimage's crop).
        return gaussian_filter(im, sigma=1.5, truncate=3.5, mode="reflect")[5:-5, 5:-5]

    means = []
    for c in range(x.shape[2]):
        a, b = x[..., c], y[..., c]
        ux, uy = filt(a), filt(b)
        vx = cov_norm * (filt(a * a) - ux * ux)
        vy = cov_norm * (filt(b * b) - uy * uy)
        vxy = cov_norm * (filt(a * b) - ux * uy)
        s = ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux**2 + uy**2 + C1) * (vx + vy + C2))
        means.append(s.mean())
    return float(np.mean(means))


def scipy_taps() -> np.ndarray:
    delta = np.zeros(31)
    delta[15] = 1.0
    taps = gaussian_filter1d(delta, sigma=1.5, truncate=3.5)
    return taps[taps > 0]


def ref_masked_ssim(
    x: np.ndarray, y: np.ndarray, m: np.ndarray, cov_norm: float = 121 / 120
) -> float:
    """Brute-force masked SSIM of (H, W, C) images, mask (H, W), as documented in image.py."""
    g = scipy_taps()
    window = np.outer(g, g)
    h, w, channels = x.shape
    num = den = 0.0
    for i in range(5, h - 5):
        for j in range(5, w - 5):
            mw = window * m[i - 5 : i + 6, j - 5 : j + 6]
            cover = mw.sum()
            a = m[i, j] * cover
            if a == 0:
                continue
            for c in range(channels):
                px = x[i - 5 : i + 6, j - 5 : j + 6, c]
                py = y[i - 5 : i + 6, j - 5 : j + 6, c]
                ux, uy = (mw * px).sum() / cover, (mw * py).sum() / cover
                vx = cov_norm * ((mw * px * px).sum() / cover - ux * ux)
                vy = cov_norm * ((mw * py * py).sum() / cover - uy * uy)
                vxy = cov_norm * ((mw * px * py).sum() / cover - ux * uy)
                s = ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux**2 + uy**2 + C1) * (vx + vy + C2))
                num += a * s
                den += a
    return num / den


def structured_pairs(rng: np.random.Generator, h: int = 40, w: int = 48) -> list:
    """(name, pred, target) (H, W, 3) float64 pairs: random, ramps, stripes, blur, quantised."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    ramp = np.stack([xx, yy, 0.5 * (xx + yy)], axis=-1)
    stripes = 0.5 + 0.4 * np.sin(2 * np.pi * np.stack([xx * 5, yy * 3, (xx + yy) * 4], axis=-1))
    checker = np.repeat(((np.indices((h, w)).sum(0) // 4) % 2)[..., None], 3, axis=-1) * 0.8 + 0.1
    noise = rng.uniform(0, 1, (h, w, 3))
    blurred = gaussian_filter(noise, sigma=(1.2, 1.2, 0))
    return [
        ("random", rng.uniform(0, 1, (h, w, 3)), rng.uniform(0, 1, (h, w, 3))),
        ("noisy-ramp", np.clip(ramp + rng.normal(0, 0.05, ramp.shape), 0, 1), ramp),
        ("stripes-shift", np.roll(stripes, 2, axis=1), stripes),
        ("checker-blur", gaussian_filter(checker, sigma=(1, 1, 0)), checker),
        ("blur-vs-noise", blurred, noise),
        ("quantised", np.round(stripes * 8) / 8, stripes),
        ("inverted", 1.0 - ramp, ramp),
    ]


# ---------------------------------------------------------------------------------- PSNR


def test_psnr_closed_form_random() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, (2, 24, 20, 3))
    expected = 10 * math.log10(1.0 / np.mean((x - y) ** 2))
    assert float(psnr(x, y)) == pytest.approx(expected, abs=1e-10)


def test_psnr_of_a_constant_offset_is_minus_20_log10_delta() -> None:
    x = np.full((8, 8, 3), 0.3)
    assert float(psnr(x + 0.1, x)) == pytest.approx(20.0, abs=1e-9)
    assert float(psnr(x + 0.01, x)) == pytest.approx(40.0, abs=1e-9)
    assert float(psnr(x * 2, x * 2 + 0.2, data_range=2.0)) == pytest.approx(20.0, abs=1e-9)


def test_psnr_identical_images_is_inf_and_clipping_follows_facelift() -> None:
    x = np.random.default_rng(1).uniform(0, 1, (2, 3, 16, 16))
    assert torch.isinf(psnr(x, x)).all() and (psnr(x, x) > 0).all()
    over = x.copy()
    over[:, :, 0, 0] = 1.7  # clipped to 1 ...
    base = x.copy()
    base[:, :, 0, 0] = 1.0  # ... so equal to this
    assert torch.isinf(psnr(over, base)).all()
    assert torch.isfinite(psnr(over, base, clip=False)).all()


# ---------------------------------------------------------------------------------- SSIM


def test_scipy_reference_window_has_11_taps_matching_ours() -> None:
    taps = scipy_taps()
    assert taps.shape == (11,)
    np.testing.assert_allclose(gaussian_kernel().numpy(), taps, atol=1e-15)


@pytest.mark.parametrize("sample_covariance", [False, True])
def test_ssim_matches_scipy_reference(sample_covariance: bool) -> None:
    rng = np.random.default_rng(2)
    cov_norm = 121 / 120 if sample_covariance else 1.0
    for name, x, y in structured_pairs(rng):
        ours = float(ssim(x, y, sample_covariance=sample_covariance))
        ref = ref_ssim(x, y, cov_norm)
        assert ours == pytest.approx(ref, abs=1e-10), name


def test_ssim_values_span_a_sensible_range() -> None:
    pairs = {n: (x, y) for n, x, y in structured_pairs(np.random.default_rng(3))}
    assert float(ssim(*pairs["noisy-ramp"])) > 0.3
    assert float(ssim(*pairs["random"])) < 0.05
    assert float(ssim(*pairs["inverted"])) < 0.0


def test_ssim_of_constant_images_has_closed_form() -> None:
    a, b = 0.2, 0.7
    x, y = np.full((13, 15, 3), a), np.full((13, 15, 3), b)
    expected = (2 * a * b + C1) / (a * a + b * b + C1)
    assert float(ssim(x, y)) == pytest.approx(expected, abs=1e-12)


def test_ssim_identical_is_one() -> None:
    x = np.random.default_rng(4).uniform(0, 1, (3, 3, 20, 22))
    np.testing.assert_allclose(ssim(x, x).numpy(), 1.0, atol=1e-12)
    np.testing.assert_allclose(masked_ssim(x, x, np.ones((20, 22))).numpy(), 1.0, atol=1e-12)


def test_ssim_map_is_valid_sized() -> None:
    x = np.random.default_rng(5).uniform(0, 1, (2, 3, 20, 31))
    assert ssim_map(x, x).shape == (2, 3, 10, 21)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(x[..., :10], x[..., :10])


# ---------------------------------------------------------------------------------- layouts


def test_layouts_agree_and_batches_give_per_image_values() -> None:
    rng = np.random.default_rng(6)
    x, y = rng.uniform(0, 1, (2, 4, 3, 18, 20))  # (B, C, H, W)
    per_image_ssim = ssim(x, y)
    per_image_psnr = psnr(torch.from_numpy(x), torch.from_numpy(y))
    assert per_image_ssim.shape == per_image_psnr.shape == (4,)
    for b in range(4):
        hwc_x, hwc_y = x[b].transpose(1, 2, 0), y[b].transpose(1, 2, 0)
        assert ssim(hwc_x, hwc_y).shape == ()  # single image -> 0-d
        assert float(ssim(hwc_x, hwc_y)) == pytest.approx(float(per_image_ssim[b]), abs=1e-12)
        assert float(psnr(hwc_x, hwc_y)) == pytest.approx(float(per_image_psnr[b]), abs=1e-12)
        assert float(ssim(x[b : b + 1], y[b : b + 1])[0]) == pytest.approx(
            ref_ssim(hwc_x, hwc_y), abs=1e-10
        )
    gray = float(ssim(x[0, 0], y[0, 0]))  # (H, W)
    assert gray == pytest.approx(ref_ssim(x[0, 0][..., None], y[0, 0][..., None]), abs=1e-10)


def test_uint8_is_scaled_by_255() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    assert float(psnr(a, b)) == pytest.approx(float(psnr(a / 255.0, b / 255.0)), abs=1e-12)
    assert float(ssim(a, b)) == pytest.approx(float(ssim(a / 255.0, b / 255.0)), abs=1e-12)


def test_bad_layouts_are_rejected() -> None:
    with pytest.raises(ValueError, match="channel-last"):
        as_batch(np.zeros((3, 16, 16)))  # a channel-first single image is ambiguous
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(np.zeros((16, 16, 3)), np.zeros((16, 17, 3)))
    with pytest.raises(ValueError, match="dtype"):
        psnr(np.zeros((16, 16), dtype=np.int32), np.zeros((16, 16), dtype=np.int32))
    with pytest.raises(ValueError, match="mask"):
        masked_psnr(np.zeros((16, 16, 3)), np.zeros((16, 16, 3)), np.ones((15, 16)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        masked_psnr(np.zeros((16, 16, 3)), np.zeros((16, 16, 3)), np.full((16, 16), 2.0))


# ---------------------------------------------------------------------------------- masked


def disk_mask(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r).astype(np.float64)


def test_masked_psnr_is_psnr_over_mask_pixels() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.uniform(0, 1, (2, 20, 24, 3))
    m = disk_mask(20, 24, 9, 12, 6)
    inside = m.astype(bool)
    expected = 10 * math.log10(1.0 / np.mean((x[inside] - y[inside]) ** 2))
    assert float(masked_psnr(x, y, m)) == pytest.approx(expected, abs=1e-10)
    assert float(masked_psnr(x, y, np.ones((20, 24)))) == pytest.approx(
        float(psnr(x, y)), abs=1e-10
    )
    y2 = y.copy()
    y2[inside] = x[inside]
    assert math.isinf(float(masked_psnr(x, y2, m)))  # perfect inside -> inf


def test_masked_ssim_matches_brute_force_definition() -> None:
    rng = np.random.default_rng(9)
    for _, x, y in structured_pairs(rng, h=22, w=26)[:4]:
        m = disk_mask(22, 26, 10, 13, 7)
        assert float(masked_ssim(x, y, m)) == pytest.approx(ref_masked_ssim(x, y, m), abs=1e-10)
        soft = np.clip(gaussian_filter(m, 1.5), 0, 1)
        soft[soft < 1e-3] = 0
        assert float(masked_ssim(x, y, soft)) == pytest.approx(
            ref_masked_ssim(x, y, soft), abs=1e-10
        )


def test_masked_ssim_with_full_mask_equals_ssim() -> None:
    rng = np.random.default_rng(10)
    for name, x, y in structured_pairs(rng):
        full = np.ones(x.shape[:2])
        assert float(masked_ssim(x, y, full)) == pytest.approx(float(ssim(x, y)), abs=1e-12), name
        assert float(masked_ssim(x, y, full, sample_covariance=True)) == pytest.approx(
            float(ssim(x, y, sample_covariance=True)), abs=1e-12
        )


@pytest.mark.parametrize("metric", [masked_psnr, masked_ssim])
def test_masked_metrics_ignore_everything_outside_the_mask(metric) -> None:
    rng = np.random.default_rng(11)
    x, y = rng.uniform(0, 1, (2, 2, 3, 24, 28))  # a batch of two
    m = np.stack([disk_mask(24, 28, 12, 14, 8), disk_mask(24, 28, 8, 20, 6)])  # (B, H, W)
    before = metric(x, y, m)
    outside = np.broadcast_to(m[:, None] == 0, x.shape)
    x2, y2 = x.copy(), y.copy()
    x2[outside] = rng.uniform(0, 1, outside.sum())
    y2[outside] = np.nan  # not even NaN leaks through
    np.testing.assert_allclose(metric(x2, y2, m).numpy(), before.numpy(), rtol=0, atol=1e-12)
    inside = np.broadcast_to(m[:, None] > 0, x.shape)
    x3 = x.copy()
    x3[inside] = np.clip(x3[inside] + rng.normal(0, 0.2, inside.sum()), 0, 1)
    after = metric(x3, y, m)
    assert (torch.abs(after - before) > 1e-3).all()


def test_mask_layouts_agree_and_empty_mask_is_nan() -> None:
    rng = np.random.default_rng(12)
    x, y = rng.uniform(0, 1, (2, 20, 20, 3))
    m = disk_mask(20, 20, 10, 10, 6)
    ref = float(masked_ssim(x, y, m))
    assert float(masked_ssim(x, y, m[..., None])) == pytest.approx(ref, abs=1e-14)
    assert float(masked_ssim(x, y, m.astype(bool))) == pytest.approx(ref, abs=1e-14)
    assert float(masked_ssim(x, y, (m * 255).astype(np.uint8))) == pytest.approx(ref, abs=1e-14)
    xb, yb = x.transpose(2, 0, 1)[None], y.transpose(2, 0, 1)[None]
    assert float(masked_ssim(xb, yb, m)[0]) == pytest.approx(ref, abs=1e-14)
    assert float(masked_ssim(xb, yb, m[None, None])[0]) == pytest.approx(ref, abs=1e-14)
    empty = np.zeros((20, 20))
    assert math.isnan(float(masked_ssim(x, y, empty)))
    assert math.isnan(float(masked_psnr(x, y, empty)))


def test_compute_metrics_means_and_masked_keys() -> None:
    rng = np.random.default_rng(13)
    x, y = rng.uniform(0, 1, (2, 3, 3, 20, 20))
    m = np.ones((20, 20))
    out = compute_metrics(x, y, mask=m)
    assert out["psnr"] == pytest.approx(float(psnr(x, y).mean()), abs=1e-12)
    assert out["ssim"] == pytest.approx(float(ssim(x, y).mean()), abs=1e-12)
    assert out["psnr_masked"] == pytest.approx(out["psnr"], abs=1e-10)
    assert out["ssim_masked"] == pytest.approx(out["ssim"], abs=1e-10)
    assert "psnr_masked" not in compute_metrics(x, y)
