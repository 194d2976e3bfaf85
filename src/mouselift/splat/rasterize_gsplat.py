"""CUDA backend: ``gsplat.rasterization`` with our camera conventions.

gsplat is **not** a dependency of mouselift; GPU users install it with ``pip install gsplat``
(it compiles its CUDA kernels on first use). It is imported lazily, only when this backend runs.

Conversions at the boundary (so that images equal the CPU backend's, see :mod:`.projection`):

* gsplat's pixel centres sit at ``i + 0.5``, ours at ``i``: we pass ``cx + 0.5, cy + 0.5``.
* gsplat has no skew: we pass ``K`` without it and put the exact shear
  ``x' = x + (s / fx)·y`` into the view matrix instead (``viewmat = shear @ w2c``). Depth ``z``
  and the camera centre (used for SH view directions) are unchanged by the shear.
* ``render_mode="RGB+ED"`` (depth normalised by alpha), ``rasterize_mode="classic"``,
  ``packed=False``, ``radius_clip=0``, ``eps2d``/``near_plane``/``far_plane`` as given, 16-pixel
  tiles, float32.
"""

from __future__ import annotations

import torch

__all__ = ["gsplat_available", "rasterize_gsplat"]


def gsplat_available() -> bool:
    """True when ``import gsplat`` works (it does not check for a GPU)."""
    try:
        import gsplat  # noqa: F401
    except Exception:
        return False
    return True


def gsplat_viewmats_and_Ks(
    Ks: torch.Tensor, w2cs: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Our ``Ks (C, 3, 3)`` (skew allowed) and ``w2cs (C, 4, 4)`` to gsplat's viewmats and Ks."""
    shear = torch.eye(4, dtype=w2cs.dtype, device=w2cs.device).repeat(len(w2cs), 1, 1)
    shear[:, 0, 1] = Ks[:, 0, 1] / Ks[:, 0, 0]
    viewmats = shear @ w2cs
    ks = Ks.clone()
    ks[:, 0, 1] = 0.0
    ks[:, 0, 2] += 0.5
    ks[:, 1, 2] += 0.5
    return viewmats, ks


def rasterize_gsplat(
    means: torch.Tensor,
    quats: torch.Tensor,
    scales: torch.Tensor,
    opacities: torch.Tensor,
    colors: torch.Tensor,
    Ks: torch.Tensor,
    w2cs: torch.Tensor,
    width: int,
    height: int,
    *,
    sh_degree: int | None,
    backgrounds: torch.Tensor,
    near_plane: float,
    far_plane: float,
    eps2d: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render with ``gsplat.rasterization``: ``rgb (C,H,W,3)``, ``alpha``, ``depth (C,H,W,1)``.

    ``colors`` are SH coefficients ``(N, K, 3)`` when ``sh_degree`` is set, else RGB ``(N, 3)``
    or ``(C, N, 3)``; ``quats`` wxyz (any length), ``scales`` and ``opacities`` activated;
    ``backgrounds (C, 3)``. Everything must be on a CUDA device.
    """
    try:
        from gsplat import rasterization
    except Exception as exc:  # ImportError, or a failed CUDA build
        raise RuntimeError(
            "the gsplat backend needs the gsplat package: pip install gsplat "
            f"(import failed: {exc})"
        ) from exc
    if means.device.type != "cuda":
        raise RuntimeError(f"the gsplat backend needs CUDA tensors, got device {means.device}")
    f32 = torch.float32
    viewmats, ks = gsplat_viewmats_and_Ks(Ks.to(f32), w2cs.to(f32))
    render_colors, render_alphas, _ = rasterization(
        means.to(f32),
        quats.to(f32),
        scales.to(f32),
        opacities.to(f32),
        colors.to(f32),
        viewmats,
        ks,
        width,
        height,
        near_plane=near_plane,
        far_plane=far_plane,
        radius_clip=0.0,
        eps2d=eps2d,
        sh_degree=sh_degree,
        packed=False,
        tile_size=16,
        backgrounds=backgrounds.to(f32),
        render_mode="RGB+ED",
        rasterize_mode="classic",
    )
    return render_colors[..., :3], render_alphas, render_colors[..., 3:4]
