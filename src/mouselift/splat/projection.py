"""EWA projection of 3D Gaussians to the image plane, shared by the CPU rasterisers.

Conventions (identical to ``gsplat.rasterization`` with its defaults, "classic" mode, pinhole):

* **Camera**: OpenCV axes, ``X_cam = R X + t`` with ``w2c = [[R, t], [0, 1]]``; ``K`` may have a
  skew ``s = K[0, 1]``.
* **Pixels**: ours (see :mod:`mouselift.cameras.camera`): the centre of pixel column ``i`` is at
  ``u = i``. gsplat puts it at ``i + 0.5``; :mod:`.rasterize_gsplat` passes ``cx + 0.5, cy + 0.5``,
  so both agree. The screen-space clamp of the Jacobian below is evaluated in gsplat's
  coordinates so that it matches bit for bit in intent.
* **Skew** is handled exactly by shearing camera space: ``x' = x + (s / fx)·y``, after which the
  projection is skew-free, ``u = fx·x'/z + cx``. The gsplat backend passes the same shear inside
  its view matrix, so both backends treat skew identically.
* **2D covariance**: ``Σ' = J W Σ Wᵀ Jᵀ + eps2d·I`` with ``W`` the (sheared) camera rotation and
  ``J`` the perspective Jacobian at the camera-space mean, whose ``x/z`` and ``y/z`` are clamped
  to 1.3× the field of view (graphdeco/gsplat), ``eps2d = 0.3`` px² (low-pass filter).
* **Culling** (``radii = 0``): depth ``z < near`` or ``z > far``, ``det Σ' <= 0``, opacity below
  ``1/255`` (when opacities are given), or a bounding box entirely off the image.
* **Bounding box**: gsplat ≥ 1.5's opacity-aware, per-axis box. A pixel gets
  ``alpha = o·exp(−½ dᵀΣ'⁻¹d) >= 1/255`` exactly inside the ellipse ``dᵀΣ'⁻¹d <= 2 ln(255 o)``,
  whose half-widths are ``sqrt(2 ln(255 o)·Σ'_xx)`` and ``sqrt(2 ln(255 o)·Σ'_yy)``; the radii are
  those, capped at 3.33σ and rounded up. Because ``o <= 1`` keeps the factor below 3.33, **the box
  holds every pixel the rasteriser would not skip anyway**, so tiling never changes an image:
  the tile rasteriser equals the dense reference (:mod:`.rasterize_dense`) to rounding.

Everything except the radii and the culling mask is differentiable with ordinary autograd.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "ALPHA_THRESHOLD",
    "EPS2D",
    "FAR_PLANE",
    "MAX_ALPHA",
    "NEAR_PLANE",
    "TRANSMITTANCE_THRESHOLD",
    "Projected",
    "bounding_radii",
    "covariances_from_scales_quats",
    "project_gaussians",
]

#: Fragments with ``alpha`` below this are skipped (gsplat / graphdeco).
ALPHA_THRESHOLD = 1.0 / 255.0
#: ``alpha`` is clamped to at most this.
MAX_ALPHA = 0.999
#: A pixel stops before the fragment that would bring its transmittance to or below this.
TRANSMITTANCE_THRESHOLD = 1e-4
#: Low-pass filter added to the projected covariance, px².
EPS2D = 0.3
#: Default clipping planes (FaceLift renders with near 0.01, far 100).
NEAR_PLANE = 0.01
FAR_PLANE = 100.0
#: Largest bounding-box extent in standard deviations (gsplat).
_MAX_EXTEND = 3.33


@dataclass(frozen=True)
class Projected:
    """Per-Gaussian screen-space quantities for one camera (N Gaussians; every field gets a
    leading camera axis C when projected to C cameras at once).

    ``means2d (N, 2)`` in our pixel coordinates (``u, v``); ``conics (N, 3)`` the entries
    ``(a, b, c)`` of ``Σ'⁻¹ = [[a, b], [b, c]]``; ``depths (N,)`` camera-frame ``z``;
    ``covars2d (N, 2, 2)`` with the low-pass included (None from the compiled projection,
    :func:`.rasterize_native.project_native`); ``radii (N, 2)`` int32 bounding-box
    half-widths in pixels (0 when culled); ``visible (N,)`` bool, ``radii > 0``.
    """

    means2d: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    covars2d: torch.Tensor | None
    radii: torch.Tensor
    visible: torch.Tensor


def covariances_from_scales_quats(scales: torch.Tensor, quats: torch.Tensor) -> torch.Tensor:
    """``Σ = R S Sᵀ Rᵀ`` (N, 3, 3) from standard deviations (N, 3) and wxyz quaternions (N, 4).

    Quaternions need not be normalised (a zero quaternion gives ``R = I``).
    """
    q = torch.nn.functional.normalize(quats, dim=-1, eps=1e-12)
    w, x, y, z = q.unbind(-1)
    rot = torch.stack(
        (
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ),
        dim=-1,
    ).reshape(*q.shape[:-1], 3, 3)  # fmt: skip
    m = rot * scales.unsqueeze(-2)
    return m @ m.transpose(-1, -2)


def bounding_radii(covars2d: torch.Tensor, opacities: torch.Tensor | None) -> torch.Tensor:
    """Opacity-aware bounding-box half-widths (N, 2), float, rounded up (not differentiable).

    ``ceil(k·sqrt(Σ'_xx))``, ``ceil(k·sqrt(Σ'_yy))`` with ``k = min(3.33, sqrt(2 ln(255 o)))``
    (``k = 3.33`` without opacities); zero where ``o < 1/255``.
    """
    with torch.no_grad():
        var = torch.diagonal(covars2d, dim1=-2, dim2=-1).clamp_min(0.0)
        if opacities is None:
            extend = torch.full_like(var[..., 0], _MAX_EXTEND)
        else:
            o = opacities.detach().to(var.dtype)
            ratio = (o / ALPHA_THRESHOLD).clamp_min(1.0)
            extend = torch.sqrt(2.0 * torch.log(ratio)).clamp_max(_MAX_EXTEND)
            extend = torch.where(o >= ALPHA_THRESHOLD, extend, torch.zeros_like(extend))
        return torch.ceil(extend[..., None] * torch.sqrt(var))


def project_gaussians(
    means: torch.Tensor,
    covariances: torch.Tensor,
    K: torch.Tensor,
    w2c: torch.Tensor,
    width: int,
    height: int,
    opacities: torch.Tensor | None = None,
    *,
    eps2d: float = EPS2D,
    near_plane: float = NEAR_PLANE,
    far_plane: float = FAR_PLANE,
) -> Projected:
    """Project N Gaussians (``means (N, 3)``, ``covariances (N, 3, 3)``, world frame) to cameras.

    ``K (3, 3)`` (skew allowed) and ``w2c (4, 4)`` are tensors of the Gaussians' dtype/device;
    or ``K (C, 3, 3)`` and ``w2c (C, 4, 4)`` for C cameras at once, and then every field of the
    result has a leading camera axis (``means2d (C, N, 2)``, …). ``opacities (N,)`` (activated)
    tighten the bounding boxes and cull ``o < 1/255``. See the module docstring for every
    convention. Culled Gaussians get finite (meaningless) values and ``visible = False``;
    gradients through them are zero.
    """
    if K.ndim == 2:
        one = project_gaussians(means, covariances, K[None], w2c[None], width, height, opacities,
                                eps2d=eps2d, near_plane=near_plane, far_plane=far_plane)
        return Projected(*(getattr(one, f)[0] for f in Projected.__dataclass_fields__))
    dtype = means.dtype
    K = K.to(dtype)
    w2c = w2c.to(dtype)
    fx, skew, cx = K[:, 0, 0, None], K[:, 0, 1, None], K[:, 0, 2, None]  # (C, 1)
    fy, cy = K[:, 1, 1, None], K[:, 1, 2, None]
    # camera frame, then the shear that removes skew: x' = x + (s / fx) y
    shear = torch.eye(3, dtype=dtype, device=means.device).repeat(len(K), 1, 1)
    shear[:, 0, 1] = skew[:, 0] / fx[:, 0]
    rot = shear @ w2c[:, :3, :3]  # (C, 3, 3)
    trans = (shear @ w2c[:, :3, 3:])[..., 0]  # (C, 3)
    mc = means @ rot.transpose(1, 2) + trans[:, None]  # (C, N, 3)
    cov_c = rot[:, None] @ covariances @ rot.transpose(1, 2)[:, None]  # (C, N, 3, 3)

    x, y, z = mc.unbind(-1)
    in_depth = (z >= near_plane) & (z <= far_plane)
    z = torch.where(in_depth, z, torch.ones_like(z))  # keep culled entries finite
    rz = 1.0 / z
    # Jacobian clamp (graphdeco/gsplat), evaluated with gsplat's pixel-centre convention
    cxg, cyg = cx + 0.5, cy + 0.5
    tan_fovx, tan_fovy = 0.5 * width / fx, 0.5 * height / fy
    lim_x_pos = (width - cxg) / fx + 0.3 * tan_fovx
    lim_x_neg = cxg / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cyg) / fy + 0.3 * tan_fovy
    lim_y_neg = cyg / fy + 0.3 * tan_fovy
    tx = z * torch.maximum(torch.minimum(x * rz, lim_x_pos), -lim_x_neg)
    ty = z * torch.maximum(torch.minimum(y * rz, lim_y_pos), -lim_y_neg)
    zero = torch.zeros_like(z)
    jac = torch.stack(
        (fx * rz, zero, -fx * tx * rz * rz, zero, fy * rz, -fy * ty * rz * rz), dim=-1
    ).reshape(*z.shape, 2, 3)
    cov2d = jac @ cov_c @ jac.transpose(-1, -2)
    cov2d = cov2d + eps2d * torch.eye(2, dtype=dtype, device=means.device)
    means2d = torch.stack((fx * x * rz + cx, fy * y * rz + cy), dim=-1)

    a, b, c = cov2d[..., 0, 0], 0.5 * (cov2d[..., 0, 1] + cov2d[..., 1, 0]), cov2d[..., 1, 1]
    det = a * c - b * b
    det_ok = det > 0
    det = torch.where(det_ok, det, torch.ones_like(det))
    conics = torch.stack((c / det, -b / det, a / det), dim=-1)

    radii = bounding_radii(cov2d, opacities)
    with torch.no_grad():
        ug, vg = means2d[..., 0] + 0.5, means2d[..., 1] + 0.5  # gsplat's coordinates
        rx, ry = radii[..., 0], radii[..., 1]
        inside = (ug + rx > 0) & (ug - rx < width) & (vg + ry > 0) & (vg - ry < height)
        visible = in_depth & det_ok & inside & (rx > 0) & (ry > 0)
        radii = torch.where(visible[..., None], radii, torch.zeros_like(radii)).to(torch.int32)
    return Projected(
        means2d=means2d,
        conics=conics,
        depths=mc[..., 2],
        covars2d=cov2d,
        radii=radii,
        visible=visible,
    )
