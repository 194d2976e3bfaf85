"""Real spherical harmonics for view-dependent colour (degrees 0–3), graphdeco/gsplat convention.

Conventions (shared with the 3D Gaussian Splatting reference renderer, gsplat and PLY viewers):

- Coefficients are indexed ``k = l² + l + m`` for band ``l`` and order ``m = -l..l``; a degree-``d``
  colour has ``K = (d+1)²`` coefficients per channel, stored as a ``(..., K, 3)`` tensor
  (coefficient axis before the RGB axis). Coefficient 0 is the DC term.
- The basis is the real SH basis *with* the Condon–Shortley phase, e.g. band 1 is
  ``(-C1·y, C1·z, -C1·x)`` for a unit direction ``(x, y, z)``.
- ``dirs`` point from the camera centre to the Gaussian (``mean - camera_centre``), in world axes;
  they are normalised here, so any non-zero length works.
- Colour = ``0.5 + Σ_k coeff_k · Y_k(dir)``, clamped below at 0 (not above), as both renderers do.
  Hence the DC conversion ``rgb = 0.5 + C0·dc`` and ``dc = (rgb - 0.5) / C0``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "C0",
    "C1",
    "C2",
    "C3",
    "eval_sh",
    "num_sh_coeffs",
    "rgb_to_sh",
    "sh_basis",
    "sh_degree_from_coeffs",
    "sh_to_rgb",
]

C0 = 0.28209479177387814  # 1 / (2 sqrt(pi))
C1 = 0.4886025119029199  # sqrt(3 / (4 pi))
C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)

MAX_SH_DEGREE = 3


def num_sh_coeffs(degree: int) -> int:
    """Number of SH coefficients per colour channel for ``degree`` (0–3): ``(degree + 1)²``."""
    if not isinstance(degree, int) or not 0 <= degree <= MAX_SH_DEGREE:
        raise ValueError(f"SH degree must be an integer in 0..{MAX_SH_DEGREE}, got {degree!r}")
    return (degree + 1) ** 2


def sh_degree_from_coeffs(num_coeffs: int) -> int:
    """Inverse of :func:`num_sh_coeffs`: 1 → 0, 4 → 1, 9 → 2, 16 → 3; anything else is an error."""
    degree = math.isqrt(max(int(num_coeffs), 0)) - 1
    if degree < 0 or (degree + 1) ** 2 != num_coeffs or degree > MAX_SH_DEGREE:
        raise ValueError(
            f"number of SH coefficients must be 1, 4, 9 or 16 (degree 0-3), got {num_coeffs}"
        )
    return degree


def rgb_to_sh(rgb: torch.Tensor) -> torch.Tensor:
    """DC coefficient whose colour is ``rgb`` (any shape, values nominally in [0, 1])."""
    return (rgb - 0.5) / C0


def sh_to_rgb(dc: torch.Tensor) -> torch.Tensor:
    """Colour of a DC coefficient: ``0.5 + C0·dc`` (unclipped; any shape)."""
    return dc * C0 + 0.5


def sh_basis(degree: int, dirs: torch.Tensor) -> torch.Tensor:
    """Real SH basis ``(..., (degree+1)²)`` at directions ``dirs (..., 3)`` (normalised here).

    Zero-length directions give the DC value only (the other bases evaluate to 0).
    """
    num_sh_coeffs(degree)
    if dirs.shape[-1] != 3:
        raise ValueError(f"dirs must have shape (..., 3), got {tuple(dirs.shape)}")
    d = torch.nn.functional.normalize(dirs, dim=-1, eps=1e-12)
    x, y, z = d.unbind(-1)
    basis = [torch.full_like(x, C0)]
    if degree >= 1:
        basis += [-C1 * y, C1 * z, -C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        basis += [
            C2[0] * x * y,
            C2[1] * y * z,
            C2[2] * (2.0 * zz - xx - yy),
            C2[3] * x * z,
            C2[4] * (xx - yy),
        ]
    if degree >= 3:
        basis += [
            C3[0] * y * (3.0 * xx - yy),
            C3[1] * x * y * z,
            C3[2] * y * (4.0 * zz - xx - yy),
            C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
            C3[4] * x * (4.0 * zz - xx - yy),
            C3[5] * z * (xx - yy),
            C3[6] * x * (xx - 3.0 * yy),
        ]
    return torch.stack(basis, dim=-1)


def eval_sh(
    degree: int, coeffs: torch.Tensor, dirs: torch.Tensor, *, clamp: bool = True
) -> torch.Tensor:
    """View-dependent RGB ``(..., 3)`` of SH ``coeffs (..., K, 3)`` seen along ``dirs (..., 3)``.

    Uses the first ``(degree+1)²`` coefficients (``K`` may be larger, e.g. a degree-3 model rendered
    at degree 1 during a warm-up). Returns ``0.5 + Σ_k coeffs[..., k, :] · Y_k(dir)``, clamped
    below at 0 when ``clamp`` (the graphdeco/gsplat renderers' colour); ``clamp=False`` gives the
    raw value. ``dirs`` run from the camera centre towards the Gaussian and broadcast against
    ``coeffs.shape[:-2]``. Differentiable in ``coeffs`` and ``dirs``.
    """
    k = num_sh_coeffs(degree)
    if coeffs.ndim < 2 or coeffs.shape[-1] != 3 or coeffs.shape[-2] < k:
        raise ValueError(
            f"coeffs must have shape (..., K, 3) with K >= {k} for degree {degree}, "
            f"got {tuple(coeffs.shape)}"
        )
    basis = sh_basis(degree, dirs.to(coeffs.dtype))
    rgb = (basis.unsqueeze(-1) * coeffs[..., :k, :]).sum(dim=-2) + 0.5
    return rgb.clamp_min(0.0) if clamp else rgb
