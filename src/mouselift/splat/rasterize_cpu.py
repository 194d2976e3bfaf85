"""Pure-PyTorch differentiable tile rasteriser (the CPU backend; also runs on any torch device).

Same image rules as gsplat's "classic" rasteriser and :mod:`.rasterize_dense` (see there): depth
order, ``alpha = min(0.999, o·exp(−½ dᵀΣ'⁻¹d))``, skip ``alpha < 1/255``, stop before the fragment
that would bring the transmittance to ``<= 1e-4``; pixel centre of column ``i`` at ``u = i``.

How it avoids evaluating every Gaussian at every pixel:

1. **Binning** (:func:`bin_gaussians`): the image is cut into ``tile_size²`` tiles (8×8 by
   default; gsplat uses 16×16, but here smaller tiles waste fewer evaluations); each Gaussian is
   listed in every tile its bounding box (:func:`.bounding_radii`) touches, and each tile's list is
   sorted by depth (stable: ties keep input order). Tile size and chunk length change the speed,
   never the image.
2. **Forward**: all non-empty tiles advance together through their depth-sorted lists, a chunk of
   Gaussians per step (``chunk`` at first, growing ×1.5 per step up to 8×): a step is a
   ``[tiles, chunk, s, s]`` block — the Gaussian exponent built from separable row and column
   terms, a running ``cumprod`` of ``1 − α`` from the carried transmittance, weights
   ``wᵢ = αᵢ Tᵢ``, colour by a batched matrix product. A tile leaves the loop when its list ends
   or all its pixels are done (early termination), so Gaussians hidden behind opaque ones cost
   nothing.
3. **Backward** (a hand-written :class:`torch.autograd.Function`): the same chunks are replayed
   front to back, recomputing the fragments, with the standard 3DGS gradients vectorised over
   pixels: for a pixel with colour gradient ``g`` and alpha gradient ``g_A``,
   ``∂L/∂αᵢ = (g·cᵢ) Tᵢ + (g_A T_final − Sᵢ) / (1 − αᵢ)`` where
   ``Sᵢ = Σ_{j>i} (g·cⱼ) wⱼ = g·C − Σ_{j<=i} (g·cⱼ) wⱼ`` uses the forward's final colour ``C``;
   then through the clamp and the Gaussian to opacities, 2D means and conics, and
   ``∂L/∂cᵢ = Σ_pixels wᵢ g``. Per-fragment values are reduced over the tile's pixels and
   scatter-added to the Gaussians.

Only ``means2d``, ``conics``, ``colors`` and ``opacities`` get gradients; depths only order the
fragments (give depth as an extra colour channel to render and differentiate it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from .projection import ALPHA_THRESHOLD, MAX_ALPHA, TRANSMITTANCE_THRESHOLD

__all__ = ["DEFAULT_CHUNK", "DEFAULT_TILE_SIZE", "TileBins", "bin_gaussians", "rasterize_tiles"]

#: Gaussians per tile processed together (speed only; any value gives the same image).
DEFAULT_CHUNK = 16
#: Tile edge in pixels (speed only; gsplat uses 16, smaller tiles waste fewer evaluations here).
DEFAULT_TILE_SIZE = 8


@dataclass(frozen=True)
class TileBins:
    """Gaussian/tile intersections of one image, grouped by tile and depth-sorted.

    ``tiles (T,)`` row-major indices of the non-empty tiles; ``starts``/``counts (T,)`` their slices
    of ``gaussians (I,)`` (Gaussian indices, front to back); ``px (T, s)``/``py (T, s)`` the
    pixel-centre ``u`` of each tile's columns and ``v`` of its rows (``s = tile_size``);
    ``outside (T, s·s)`` marks pixels past the image's right or bottom edge (row-major).
    """

    width: int
    height: int
    tile_size: int
    tiles_x: int
    tiles_y: int
    tiles: torch.Tensor
    starts: torch.Tensor
    counts: torch.Tensor
    gaussians: torch.Tensor
    px: torch.Tensor
    py: torch.Tensor
    outside: torch.Tensor

    @property
    def num_intersections(self) -> int:
        return int(self.gaussians.numel())


def bin_gaussians(
    means2d: torch.Tensor,
    radii: torch.Tensor,
    depths: torch.Tensor,
    width: int,
    height: int,
    tile_size: int = DEFAULT_TILE_SIZE,
) -> TileBins:
    """List each Gaussian in the tiles its box ``means2d ± radii`` touches (gsplat's rule).

    ``means2d (N, 2)`` our pixels, ``radii (N, 2)`` half-widths in pixels (0 = culled),
    ``depths (N,)`` the sort key. Tile ``(tx, ty)`` covers pixel columns ``tx·s … tx·s + s − 1``
    and rows ``ty·s … ty·s + s − 1``. Any tile size gives the same image (see
    :mod:`.projection`); it only changes the speed.
    """
    with torch.no_grad():
        device, dtype = means2d.device, means2d.dtype
        n, s = means2d.shape[0], int(tile_size)
        tiles_x, tiles_y = math.ceil(width / s), math.ceil(height / s)
        m = means2d.detach().to(torch.float64) + 0.5  # gsplat's pixel coordinates
        r = radii.to(torch.float64)
        x0 = torch.floor((m[:, 0] - r[:, 0]) / s).clamp(0, tiles_x).long()
        x1 = torch.ceil((m[:, 0] + r[:, 0]) / s).clamp(0, tiles_x).long()
        y0 = torch.floor((m[:, 1] - r[:, 1]) / s).clamp(0, tiles_y).long()
        y1 = torch.ceil((m[:, 1] + r[:, 1]) / s).clamp(0, tiles_y).long()
        nx = x1 - x0
        count = nx * (y1 - y0) * ((radii[:, 0] > 0) & (radii[:, 1] > 0))
        gid = torch.repeat_interleave(torch.arange(n, device=device), count)
        first = torch.cumsum(count, 0) - count
        k = torch.arange(gid.numel(), device=device) - first[gid]
        nxg = nx[gid]
        tile = (y0[gid] + torch.div(k, nxg, rounding_mode="floor")) * tiles_x + x0[gid] + k % nxg
        rank = torch.empty(n, dtype=torch.long, device=device)
        rank[torch.argsort(depths.detach(), stable=True)] = torch.arange(n, device=device)
        order = torch.argsort(tile * max(n, 1) + rank[gid])
        gid, tile = gid[order], tile[order]
        tiles, counts = torch.unique_consecutive(tile, return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        local = torch.arange(s, device=device)
        px = (tiles % tiles_x)[:, None] * s + local
        py = torch.div(tiles, tiles_x, rounding_mode="floor")[:, None] * s + local
        outside = (py[:, :, None] >= height) | (px[:, None, :] >= width)
        return TileBins(
            width=width,
            height=height,
            tile_size=s,
            tiles_x=tiles_x,
            tiles_y=tiles_y,
            tiles=tiles,
            starts=starts,
            counts=counts,
            gaussians=gid,
            px=px.to(dtype),
            py=py.to(dtype),
            outside=outside.reshape(len(tiles), s * s),
        )


@dataclass
class _Fragments:
    """One chunk of ``A`` tiles × ``K`` depth slots × ``P = s·s`` pixels.

    Four-dimensional tensors are ``[A, K, s (rows), s (columns)]``; ``.view(A, K, P)`` flattens
    the pixels row-major.
    """

    ids: torch.Tensor  # [A, K] Gaussian index (N = the padding dummy)
    dx: torch.Tensor  # [A, K, s] mean_u − column u
    dy: torch.Tensor  # [A, K, s] mean_v − row v
    gauss: torch.Tensor  # [A, K, s, s] exp(−σ)
    alpha: torch.Tensor  # [A, K, P] kept alpha (0: skipped, padded or after termination)
    t_before: torch.Tensor  # [A, K, P] transmittance in front of the fragment
    weights: torch.Tensor  # [A, K, P] alpha · t_before
    t_out: torch.Tensor  # [A, P] transmittance after the chunk
    done_out: torch.Tensor  # [A, P]
    clamped: torch.Tensor | None  # [A, K, P] o·exp(−σ) > 0.999: no gradient (backward only)


def _fragments(
    bins: TileBins,
    active: torch.Tensor,
    start: int,
    chunk: int,
    params: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    t_in: torch.Tensor,
    done_in: torch.Tensor,
    need_grad: bool,
) -> _Fragments:
    means2d, conics, opacities = params  # padded with one dummy row (opacity 0)
    dummy = means2d.shape[0] - 1
    offsets = start + torch.arange(chunk, device=active.device)
    in_list = offsets[None, :] < bins.counts[active, None]
    slot = (bins.starts[active, None] + offsets[None, :]).clamp_max(bins.num_intersections - 1)
    ids = torch.where(in_list, bins.gaussians[slot], dummy)
    m = means2d[ids]  # [A, K, 2]
    con = conics[ids]  # [A, K, 3]
    dx = m[..., 0:1] - bins.px[active, None, :]  # [A, K, s]
    dy = m[..., 1:2] - bins.py[active, None, :]
    # σ = ½a dx² + ½c dy² + b dx dy, built from separable row/column terms
    qx = con[..., 0:1] * 0.5 * dx * dx
    qy = con[..., 2:3] * 0.5 * dy * dy
    sigma = qy.unsqueeze(-1) + qx.unsqueeze(-2)
    sigma.addcmul_((con[..., 1:2] * dy).unsqueeze(-1), dx.unsqueeze(-2))
    gauss = torch.exp(sigma.neg_())
    a, k, s = ids.shape[0], ids.shape[1], dx.shape[-1]
    raw = (gauss * opacities[ids][..., None, None]).view(a, k, s * s)
    clamped = raw > MAX_ALPHA if need_grad else None
    skip = raw < ALPHA_THRESHOLD
    alpha = raw.clamp_max_(MAX_ALPHA).masked_fill_(skip, 0.0)
    t_try = torch.cumprod(1.0 - alpha, dim=1).mul_(t_in[:, None, :])
    alpha.masked_fill_(t_try <= TRANSMITTANCE_THRESHOLD, 0.0)  # terminated: this and later
    if bool(done_in.any()):
        alpha.masked_fill_(done_in[:, None, :], 0.0)
    t_before = torch.cat([t_in[:, None, :], t_try[:, :-1]], dim=1)
    weights = alpha * t_before
    return _Fragments(
        ids=ids,
        dx=dx,
        dy=dy,
        gauss=gauss,
        alpha=alpha,
        t_before=t_before,
        weights=weights,
        t_out=t_in - weights.sum(dim=1),
        done_out=done_in | (t_try[:, -1] <= TRANSMITTANCE_THRESHOLD),
        clamped=clamped,
    )


def _pad(params: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Append one dummy Gaussian (all zeros, so opacity 0) used for padded slots."""
    return tuple(torch.cat([p, p.new_zeros((1, *p.shape[1:]))], dim=0) for p in params)


def _to_image(bins: TileBins, per_tile: torch.Tensor) -> torch.Tensor:
    """``[T, P, D]`` values of the non-empty tiles to an ``(H, W, D)`` image (zeros elsewhere)."""
    s, d = bins.tile_size, per_tile.shape[-1]
    full = per_tile.new_zeros(bins.tiles_y * bins.tiles_x, s * s, d)
    full[bins.tiles] = per_tile
    img = full.reshape(bins.tiles_y, bins.tiles_x, s, s, d).permute(0, 2, 1, 3, 4)
    return img.reshape(bins.tiles_y * s, bins.tiles_x * s, d)[: bins.height, : bins.width]


def _from_image(bins: TileBins, image: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_to_image`: ``(H, W, D)`` to ``[T, P, D]`` for the non-empty tiles."""
    s, d = bins.tile_size, image.shape[-1]
    full = image.new_zeros(bins.tiles_y * s, bins.tiles_x * s, d)
    full[: bins.height, : bins.width] = image
    full = full.reshape(bins.tiles_y, s, bins.tiles_x, s, d).permute(0, 2, 1, 3, 4)
    return full.reshape(bins.tiles_y * bins.tiles_x, s * s, d)[bins.tiles]


def _chunk_size(first: int, step: int) -> int:
    """Depth-chunk length of loop step ``step``: ``first``, growing ×1.5 per step up to 8×.

    Tiles still running after a few steps are few (most have saturated), so longer chunks there
    cost little extra work and save per-step overhead.
    """
    return int(first * min(8.0, 1.5**step))


class _RasterizeTiles(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means2d, conics, colors, opacities, bins, chunk):  # type: ignore[override]
        num_tiles = bins.tiles.numel()
        pixels = bins.tile_size**2
        params = _pad((means2d, conics, opacities))
        (colors_p,) = _pad((colors,))
        trans = torch.ones(num_tiles, pixels, dtype=means2d.dtype, device=means2d.device)
        done = bins.outside.clone()
        acc = means2d.new_zeros(num_tiles, pixels, colors.shape[1])
        schedule: list[tuple[torch.Tensor, int, int]] = []
        active = torch.arange(num_tiles, device=means2d.device)
        start = 0
        while active.numel():
            size = _chunk_size(chunk, len(schedule))
            schedule.append((active, start, size))
            f = _fragments(bins, active, start, size, params, trans[active], done[active], False)
            acc[active] += torch.bmm(f.weights.transpose(1, 2), colors_p[f.ids])
            trans[active] = f.t_out
            done[active] = f.done_out
            start += size
            more = (bins.counts[active] > start) & ~f.done_out.all(dim=1)
            active = active[more]
        ctx.bins, ctx.schedule = bins, schedule
        ctx.save_for_backward(means2d, conics, colors, opacities, acc, trans)
        return _to_image(bins, acc), _to_image(bins, (1.0 - trans)[..., None])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_color, grad_alpha):  # type: ignore[override]
        means2d, conics, colors, opacities, acc, trans_final = ctx.saved_tensors
        bins = ctx.bins
        n, d = means2d.shape[0], colors.shape[1]
        params = _pad((means2d, conics, opacities))
        (colors_p,) = _pad((colors,))
        g_col = _from_image(bins, grad_color)  # [T, P, D]
        g_alpha = _from_image(bins, grad_alpha)[..., 0]  # [T, P]
        # ∂L/∂αᵢ = (g·cᵢ) Tᵢ + (g_A T_final − g·C + Σ_{j<=i} (g·cⱼ) wⱼ) / (1 − αᵢ)
        base = g_alpha * trans_final - (g_col * acc).sum(-1)  # [T, P]
        trans = torch.ones_like(trans_final)
        done = bins.outside.clone()
        prefix = torch.zeros_like(trans_final)
        v_means = means2d.new_zeros(n + 1, 2)
        v_conics = means2d.new_zeros(n + 1, 3)
        v_colors = means2d.new_zeros(n + 1, d)
        v_opac = means2d.new_zeros(n + 1)
        for active, start, size in ctx.schedule:
            f = _fragments(bins, active, start, size, params, trans[active], done[active], True)
            a, k, s = f.ids.shape[0], f.ids.shape[1], f.dx.shape[-1]
            g = g_col[active]  # [A, P, D]
            q = torch.bmm(colors_p[f.ids], g.transpose(1, 2))  # g·c per fragment [A, K, P]
            inclusive = torch.cumsum(q * f.weights, dim=1).add_(prefix[active, None, :])
            v_alpha = (inclusive + base[active, None, :]).div_(1.0 - f.alpha)
            v_alpha.addcmul_(q, f.t_before)
            # u = ∂L/∂α · exp(−σ) where the gradient flows; ∂L/∂o = Σ u, ∂L/∂σ = −o u
            v_alpha.masked_fill_(f.alpha <= 0, 0.0).masked_fill_(f.clamped, 0.0)
            u = v_alpha.view(a, k, s, s).mul_(f.gauss)
            u_col = u.sum(-2)  # [A, K, s] summed over rows, indexed by column
            u_row = u.sum(-1)  # [A, K, s] summed over columns, indexed by row
            u_dx = (u @ f.dx.unsqueeze(-1)).squeeze(-1)  # [A, K, s] Σ_columns u dx, by row
            o = params[2][f.ids]  # [A, K]
            s_x = -o * (u_col * f.dx).sum(-1)  # Σ ∂L/∂σ · dx
            s_xx = -o * (u_col * f.dx * f.dx).sum(-1)
            s_y = -o * (u_row * f.dy).sum(-1)
            s_yy = -o * (u_row * f.dy * f.dy).sum(-1)
            s_xy = -o * (u_dx * f.dy).sum(-1)
            ca, cb, cc = params[1][f.ids].unbind(-1)
            ids = f.ids.reshape(-1)
            v_means.index_add_(
                0, ids, torch.stack((ca * s_x + cb * s_y, cb * s_x + cc * s_y), -1).view(-1, 2)
            )
            v_conics.index_add_(0, ids, torch.stack((0.5 * s_xx, s_xy, 0.5 * s_yy), -1).view(-1, 3))
            v_opac.index_add_(0, ids, u_row.sum(-1).view(-1))
            v_colors.index_add_(0, ids, torch.bmm(f.weights, g).view(-1, d))
            prefix[active] = inclusive[:, -1]
            trans[active] = f.t_out
            done[active] = f.done_out
        return v_means[:n], v_conics[:n], v_colors[:n], v_opac[:n], None, None


def rasterize_tiles(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    colors: torch.Tensor,
    opacities: torch.Tensor,
    bins: TileBins,
    *,
    chunk: int = DEFAULT_CHUNK,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite projected Gaussians with the tile schedule ``bins`` (see :func:`bin_gaussians`).

    ``means2d (N, 2)``, ``conics (N, 3)`` ``(a, b, c)`` of ``Σ'⁻¹``, ``colors (N, D)``,
    ``opacities (N,)``; Gaussians absent from ``bins`` are not drawn. Returns ``color (H, W, D)``
    (``Σ wᵢ cᵢ``, no background) and ``alpha (H, W, 1)``, differentiable w.r.t. the four inputs.
    """
    if colors.ndim != 2 or colors.shape[0] != means2d.shape[0]:
        raise ValueError(f"colors must have shape ({means2d.shape[0]}, D), got {colors.shape}")
    if bins.num_intersections == 0:
        color = means2d.new_zeros(bins.height, bins.width, colors.shape[1])
        alpha = means2d.new_zeros(bins.height, bins.width, 1)
        # keep the graph connected so .backward() works on an empty image
        link = (means2d.sum() + conics.sum() + colors.sum() + opacities.sum()) * 0.0
        return color + link, alpha + link
    return _RasterizeTiles.apply(means2d, conics, colors, opacities, bins, chunk)
