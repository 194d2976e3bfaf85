"""``render``: one differentiable splatting interface, four backends.

* ``"gsplat"`` — ``gsplat.rasterization`` on CUDA (``pip install gsplat``; not a dependency).
* ``"native"`` — our compiled CPU tile rasteriser (:mod:`.rasterize_native`, built by
  ``make install``; optional) with EWA projection (:mod:`.projection`); all cameras in one call.
* ``"torch"`` — our pure-PyTorch tile rasteriser (:mod:`.rasterize_cpu`), the same projection;
  the fallback where the native one is not built (it also runs on CUDA tensors, slowly).
* ``"dense"`` — the brute-force reference (:mod:`.rasterize_dense`); for tests and benchmarks.

``backend="auto"`` picks gsplat for CUDA tensors when it imports; on the CPU ``"native"`` when it
is built (else ``"torch"``, with a one-time warning saying how to build it), and ``"torch"``
when the cameras (``Ks``, ``w2cs``) require gradients: only it differentiates them.
All backends follow gsplat's "classic" rules with its defaults (``eps2d = 0.3`` px² low-pass,
``alpha = min(0.999, o·exp(−½ dᵀΣ'⁻¹d))``, skip ``alpha < 1/255``, stop at transmittance
``1e-4``) and FaceLift's clipping planes ``near = 0.01``, ``far = 100`` — see
:mod:`.projection` for projection, skew and pixel conventions (ours: pixel column ``i`` centred at
``u = i``).

Outputs, for C cameras of one size ``W × H``:

* ``rgb (C, H, W, 3) = Σ wᵢ cᵢ + (1 − alpha)·background``;
* ``alpha (C, H, W, 1) = 1 − Π (1 − αᵢ)``;
* ``depth (C, H, W, 1) = Σ wᵢ zᵢ / max(alpha, 1e-10)``: the *expected* camera-frame depth ``z``
  (gsplat's ``"RGB+ED"``), 0 where nothing is drawn.

Colours are the Gaussians' SH evaluated along ``normalize(mean − camera centre)`` (gsplat's
convention), ``max(0, 0.5 + SH)``, or precomputed RGB passed as ``colors``. All conventions in one
place: ``docs/conventions.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np
import torch

from . import native
from .projection import EPS2D, FAR_PLANE, NEAR_PLANE, covariances_from_scales_quats
from .projection import project_gaussians as _project
from .rasterize_cpu import DEFAULT_CHUNK, DEFAULT_TILE_SIZE, bin_gaussians, rasterize_tiles
from .rasterize_dense import rasterize_dense
from .rasterize_native import (
    DEFAULT_NATIVE_TILE,
    bin_entries,
    project_native,
    rasterize_native,
)
from .sh import eval_sh

if TYPE_CHECKING:
    from mouselift.cameras import Camera

    from .gaussians import Gaussians

__all__ = ["BACKENDS", "Backend", "RenderOutput", "render"]

Backend = Literal["auto", "native", "torch", "gsplat", "dense"]
BACKENDS: tuple[str, ...] = ("auto", "native", "torch", "gsplat", "dense")


class RenderOutput(NamedTuple):
    """``rgb (C, H, W, 3)``, ``alpha (C, H, W, 1)``, ``depth (C, H, W, 1)`` (expected z)."""

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor


def _camera_tensors(
    cameras: Camera | Sequence[Camera] | None,
    Ks: torch.Tensor | None,
    w2cs: torch.Tensor | None,
    width: int | None,
    height: int | None,
    dtype: torch.dtype,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    if cameras is not None:
        if Ks is not None or w2cs is not None:
            raise ValueError("give either cameras or Ks/w2cs, not both")
        from mouselift.cameras import Camera

        cams = [cameras] if isinstance(cameras, Camera) else list(cameras)
        if not cams:
            raise ValueError("render needs at least one camera")
        sizes = {cam.size for cam in cams}
        if len(sizes) != 1:
            raise ValueError(f"all cameras of one render call must share a size, got {sizes}")
        for cam in cams:
            if cam.has_distortion:
                raise ValueError(
                    f"camera {cam.name!r} has lens distortion; splats render to undistorted "
                    "pinhole images (use camera.undistorted() for undistorted frames)"
                )
        width, height = cams[0].size
        Ks = torch.stack([torch.tensor(np.array(cam.K)) for cam in cams])
        w2cs = torch.stack([torch.tensor(np.array(cam.w2c)) for cam in cams])
    elif Ks is None or w2cs is None or width is None or height is None:
        raise ValueError("render needs cameras, or Ks (C,3,3), w2cs (C,4,4), width and height")
    Ks = torch.as_tensor(Ks).to(dtype=dtype, device=device)
    w2cs = torch.as_tensor(w2cs).to(dtype=dtype, device=device)
    if Ks.ndim == 2:
        Ks = Ks[None]
    if w2cs.ndim == 2:
        w2cs = w2cs[None]
    if Ks.shape[1:] != (3, 3) or w2cs.shape[1:] != (4, 4) or len(Ks) != len(w2cs):
        raise ValueError(
            f"Ks must be (C,3,3) and w2cs (C,4,4) with the same C, got {tuple(Ks.shape)} "
            f"and {tuple(w2cs.shape)}"
        )
    if int(width) <= 0 or int(height) <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    return Ks, w2cs, int(width), int(height)


def _backgrounds(background, num: int, dtype, device) -> torch.Tensor:
    if background is None:
        return torch.zeros(num, 3, dtype=dtype, device=device)
    bg = torch.as_tensor(background).to(dtype=dtype, device=device)
    if bg.shape == (3,):
        return bg.expand(num, 3)
    if bg.shape == (num, 3):
        return bg
    raise ValueError(f"background must have shape (3,) or ({num}, 3), got {tuple(bg.shape)}")


def _pick_backend(backend: str, device: torch.device, dtype: torch.dtype,
                  camera_grad: bool = False) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "native":
        if device.type != "cpu":
            raise ValueError(f"the native backend renders CPU tensors, got device {device}")
        if camera_grad:
            raise ValueError("the native backend has no gradients w.r.t. the cameras (Ks, "
                             "w2cs); use backend='torch' to optimise cameras")
        native.load()  # raises NativeUnavailable saying how to build it
        return backend
    if backend == "auto" and camera_grad and device.type == "cpu":
        return "torch"  # the only CPU backend that differentiates the cameras
    if backend != "auto":
        return backend
    if device.type == "cuda":
        from .rasterize_gsplat import gsplat_available

        if gsplat_available():
            return "gsplat"
    if device.type == "cpu" and dtype in (torch.float32, torch.float64):
        try:
            native.load()
            return "native"
        except native.NativeUnavailable as err:
            _warn_once(str(err))
    return "torch"


@cache
def _warn_once(reason: str) -> None:
    logging.getLogger(__name__).warning(
        "%s; CPU renders use the pure-PyTorch rasteriser (same images, several times slower)",
        reason)


def render(
    gaussians: Gaussians,
    cameras: Camera | Sequence[Camera] | None = None,
    background: torch.Tensor | Sequence[float] | None = None,
    *,
    Ks: torch.Tensor | None = None,
    w2cs: torch.Tensor | None = None,
    width: int | None = None,
    height: int | None = None,
    colors: torch.Tensor | None = None,
    sh_degree: int | None = None,
    backend: Backend = "auto",
    near_plane: float = NEAR_PLANE,
    far_plane: float = FAR_PLANE,
    eps2d: float = EPS2D,
    tile_size: int | None = None,
    chunk: int = DEFAULT_CHUNK,
) -> RenderOutput:
    """Render ``gaussians`` into C cameras; differentiable w.r.t. every Gaussian parameter.

    Cameras: a :class:`~mouselift.cameras.Camera` or a list of them (one size, no distortion;
    skew allowed), or ``Ks (C, 3, 3)``, ``w2cs (C, 4, 4)``, ``width``, ``height`` in the same
    conventions (OpenCV axes, pixel column ``i`` centred at ``u = i``). ``background`` ``(3,)`` or
    ``(C, 3)`` RGB (default black). ``colors``: precomputed RGB ``(N, 3)`` or ``(C, N, 3)``
    instead of the SH colour; ``sh_degree`` renders with the first ``(d+1)²`` SH coefficients
    (default: all). ``tile_size``/``chunk``: tile edge (default 16 native, at most 16; 8 torch)
    and first depth-chunk length (torch backend) — speed only; the image does not depend on
    them.
    Returns :class:`RenderOutput` ``(rgb, alpha, depth)``, see the module docstring.
    """
    dtype, device = gaussians.dtype, gaussians.device
    Ks, w2cs, width, height = _camera_tensors(cameras, Ks, w2cs, width, height, dtype, device)
    num = len(Ks)
    bgs = _backgrounds(background, num, dtype, device)
    degree = gaussians.sh_degree if sh_degree is None else int(sh_degree)
    if degree > gaussians.sh_degree:
        raise ValueError(f"sh_degree {degree} exceeds the Gaussians' degree {gaussians.sh_degree}")
    n = len(gaussians)
    if colors is not None:
        colors = torch.as_tensor(colors).to(dtype=dtype, device=device)
        if colors.shape not in ((n, 3), (num, n, 3)):
            raise ValueError(f"colors must be ({n}, 3) or ({num}, {n}, 3), got {colors.shape}")
    which = _pick_backend(backend, device, dtype, Ks.requires_grad or w2cs.requires_grad)

    if which == "gsplat":
        from .rasterize_gsplat import rasterize_gsplat

        rgb, alpha, depth = rasterize_gsplat(
            gaussians.means,
            gaussians.rotations,
            gaussians.scales,
            gaussians.opacities,
            gaussians.sh if colors is None else colors,
            Ks,
            w2cs,
            width,
            height,
            sh_degree=degree if colors is None else None,
            backgrounds=bgs,
            near_plane=near_plane,
            far_plane=far_plane,
            eps2d=eps2d,
        )
        return RenderOutput(rgb.to(dtype), alpha.to(dtype), depth.to(dtype))

    means = gaussians.means
    opacities = gaussians.opacities
    covariances = covariances_from_scales_quats(gaussians.scales, gaussians.rotations)
    project = project_native if which == "native" else _project
    proj = project(
        means, covariances, Ks, w2cs, width, height, opacities,
        eps2d=eps2d, near_plane=near_plane, far_plane=far_plane,
    )  # fmt: skip
    centres = -(w2cs[:, :3, :3].transpose(1, 2) @ w2cs[:, :3, 3:])[..., 0]  # (C, 3)
    if which == "native":
        # Gaussian g seen by camera c is entry c·N + g of one call; culled entries have radii 0
        # and are never drawn, so nothing is gathered
        if colors is None:
            col = eval_sh(degree, gaussians.sh, means - centres[:, None] if degree else means)
        else:
            col = colors
        feats = torch.cat([col.expand(num, n, 3), proj.depths[..., None]], dim=-1)
        flat_means2d = proj.means2d.reshape(num * n, 2)
        flat_conics = proj.conics.reshape(num * n, 3)
        flat_opacities = opacities.expand(num, n).reshape(-1)
        bins = bin_entries(flat_means2d, proj.radii.reshape(num * n, 2), proj.depths.reshape(-1),
                           torch.arange(num).repeat_interleave(n), num, width, height,
                           tile_size or DEFAULT_NATIVE_TILE)
        out, alpha = rasterize_native(flat_means2d, flat_conics, feats.reshape(num * n, 4),
                                      flat_opacities, bins)
        rgb = out[..., :3] + (1.0 - alpha) * bgs[:, None, None, :]
        return RenderOutput(rgb, alpha, out[..., 3:4] / alpha.clamp_min(1e-10))
    rgbs, alphas, depths = [], [], []
    for i in range(num):
        idx = torch.nonzero(proj.visible[i]).squeeze(1)
        if colors is None:
            col = eval_sh(degree, gaussians.sh[idx], means[idx] - centres[i])
        else:
            col = (colors if colors.ndim == 2 else colors[i])[idx]
        m2, con, depth = proj.means2d[i, idx], proj.conics[i, idx], proj.depths[i, idx]
        args = (m2, con, torch.cat([col, depth[:, None]], dim=-1), opacities[idx])
        if which == "dense":
            out, alpha = rasterize_dense(*args, depth, width, height)
        else:
            bins = bin_gaussians(m2, proj.radii[i, idx], depth, width, height,
                                 tile_size or DEFAULT_TILE_SIZE)
            out, alpha = rasterize_tiles(*args, bins, chunk=chunk)
        rgbs.append(out[..., :3] + (1.0 - alpha) * bgs[i])
        alphas.append(alpha)
        depths.append(out[..., 3:4] / alpha.clamp_min(1e-10))
    return RenderOutput(torch.stack(rgbs), torch.stack(alphas), torch.stack(depths))
