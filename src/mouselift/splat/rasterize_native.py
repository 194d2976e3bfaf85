"""The compiled CPU tile rasteriser (:mod:`.native`), for many images in one call.

Same image rules as :mod:`.rasterize_dense` and :mod:`.rasterize_cpu` (gsplat's "classic"
rasteriser): depth order, ``alpha = min(0.999, o·exp(−½ dᵀΣ'⁻¹d))``, skip ``alpha < 1/255``,
stop before the fragment that would bring the transmittance to ``<= 1e-4``; pixel centre of
column ``i`` at ``u = i``. Its images and gradients equal theirs to rounding (the tests compare
all three).

Entries, not Gaussians: entry ``e`` is one Gaussian as seen in image ``image[e]`` (a Gaussian
seen by C cameras is C entries), so one call composites all the cameras of a render — or of a
whole batch — with no Python loop. How:

1. **Binning** (:func:`bin_entries`, in C): each entry is listed in every ``tile_size²`` tile of
   its image that its bounding box (:func:`.projection.bounding_radii`, gsplat's rule) touches,
   in depth order (stable: ties keep entry order) — one radix sort of the depths, then a
   counting pass and a filling pass; no per-tile sort.
2. **Forward**: per tile, the entries front to back, each evaluated only at the tile's pixels
   inside its ``alpha >= 1/255`` ellipse (each row's column span solved in closed form,
   ``exp`` by a recurrence along the row) that are still running; a pixel stops at its
   transmittance threshold, the tile when all its pixels have. Each pixel keeps the number of
   list entries it walked, so backward replays exactly those.
3. **Backward** (a :class:`torch.autograd.Function`): per tile, the same walk front to back,
   with the standard 3DGS gradients (see :mod:`.rasterize_cpu`), summed over the tile's pixels
   per entry; gradients w.r.t. ``means2d``, ``conics``, ``colors`` and ``opacities``.

Ties: entries at exactly the same depth keep entry order, as everywhere. The compiled projection
(:func:`project_native`) rounds depths in its own order, so two splats whose depths tie exactly
under :func:`.projection.project_gaussians` may differ in the last bit here and composite in the
other order (images differ only where such splats overlap; real predictions hardly tie).

Threads: ``torch.get_num_threads()`` workers (Python threads; the C calls release the GIL), each
with a fixed share of the tiles (tile ``t`` → worker ``t mod n``) and its own gradient buffers,
summed in worker order: results do not depend on timing, only on the thread count (as PyTorch's
own reductions).
"""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.autograd.function import once_differentiable

from . import native
from .projection import EPS2D, FAR_PLANE, NEAR_PLANE, Projected

__all__ = [
    "DEFAULT_NATIVE_TILE",
    "NativeBins",
    "bin_entries",
    "project_native",
    "rasterize_native",
]

#: Tile edge in pixels (speed only; any size up to 16 gives the same image). Each entry's pixels
#: are visited only inside its ellipse, so large tiles cost little and mean fewer intersections.
DEFAULT_NATIVE_TILE = 16
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def _ptr(tensor: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(tensor.data_ptr())


def _check(code: int, what: str) -> None:
    if code != 0:
        raise RuntimeError(f"the compiled rasteriser refused its {what} arguments (code {code})")


@dataclass(frozen=True)
class NativeBins:
    """Entries listed per tile, front to back, for ``images`` images of ``width × height``.

    ``offsets (T + 1,)`` int64: tile ``t``'s entries are ``entries[offsets[t]:offsets[t + 1]]``
    (``T = images · tiles_y · tiles_x``, tiles row-major within an image, images in order);
    ``entries (I,)`` int32 entry indices.
    """

    images: int
    width: int
    height: int
    tile_size: int
    offsets: torch.Tensor
    entries: torch.Tensor

    @property
    def tiles_x(self) -> int:
        return math.ceil(self.width / self.tile_size)

    @property
    def tiles_y(self) -> int:
        return math.ceil(self.height / self.tile_size)

    @property
    def num_intersections(self) -> int:
        return int(self.entries.numel())

    def grid(self, channels: int) -> native.Grid:
        return native.Grid(self.images, self.width, self.height, self.tile_size, self.tiles_x,
                           self.tiles_y, channels)


def bin_entries(
    means2d: torch.Tensor,
    radii: torch.Tensor,
    depths: torch.Tensor,
    image: torch.Tensor,
    images: int,
    width: int,
    height: int,
    tile_size: int = DEFAULT_NATIVE_TILE,
) -> NativeBins:
    """List entries in the tiles their boxes touch (see the module docstring).

    ``means2d (M, 2)`` our pixels, ``radii (M, 2)`` box half-widths (0: culled), ``depths (M,)``
    the sort key, ``image (M,)`` each entry's image in ``[0, images)``.
    """
    lib = native.load()
    if not 1 <= tile_size <= 16:
        raise ValueError(f"tile_size must be in 1..16 for the compiled rasteriser, got {tile_size}")
    means2d = means2d.detach().contiguous()
    dtype = means2d.dtype
    suffix = _SUFFIX[dtype]
    radii = radii.to(torch.int32).contiguous()
    image = image.to(torch.int64).contiguous()
    bins = NativeBins(images, width, height, tile_size, torch.empty(0), torch.empty(0))
    grid = bins.grid(1)
    m = means2d.shape[0]
    workers = max(1, min(torch.get_num_threads(), images))
    counts = torch.zeros(images * bins.tiles_y * bins.tiles_x, dtype=torch.int64)
    shared = [_ptr(means2d), _ptr(radii), _ptr(image)]
    count = getattr(lib, f"ml_count_{suffix}")
    _run(workers, lambda i: count(ctypes.byref(grid), i, workers, m, *shared, _ptr(counts)),
         "binning")
    offsets = torch.zeros(counts.numel() + 1, dtype=torch.int64)
    torch.cumsum(counts, 0, out=offsets[1:])
    total = int(offsets[-1])
    if total >= 2**31:
        raise ValueError(f"{total} tile intersections exceed the compiled rasteriser's int32 lists")
    order = torch.empty(m, dtype=torch.int64)  # = torch.argsort(depths, stable=True)
    depths = depths.detach().to(dtype).contiguous()
    _check(getattr(lib, f"ml_argsort_{suffix}")(m, _ptr(depths), _ptr(order)), "sorting")
    cursor = offsets[:-1].clone()
    entries = torch.empty(total, dtype=torch.int32)
    fill = getattr(lib, f"ml_fill_{suffix}")
    _run(workers, lambda i: fill(ctypes.byref(grid), i, workers, m, *shared, _ptr(order),
                                 _ptr(cursor), _ptr(entries)), "binning")
    return NativeBins(images, width, height, tile_size, offsets, entries)


def _workers(bins: NativeBins) -> int:
    tiles = bins.images * bins.tiles_x * bins.tiles_y
    return max(1, min(torch.get_num_threads(), tiles // 4))


def _run(workers: int, job: Callable[[int], int], what: str) -> None:
    """``job(worker)`` for every worker, the first in this thread; raises if any failed."""
    codes = [0] * workers

    def work(i: int) -> None:
        codes[i] = job(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(1, workers)]
    for thread in threads:
        thread.start()
    try:
        work(0)
    finally:
        for thread in threads:
            thread.join()
    for code in codes:
        _check(code, what)


class _RasterizeNative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means2d, conics, colors, opacities, bins):  # type: ignore[override]
        lib = native.load()
        suffix = _SUFFIX[means2d.dtype]
        params = [t.detach().contiguous() for t in (means2d, conics, colors, opacities)]
        c, h, w, d = bins.images, bins.height, bins.width, colors.shape[1]
        color = means2d.new_zeros(c, h, w, d)
        trans = means2d.new_ones(c, h, w)
        walked = torch.zeros(c, h, w, dtype=torch.int32)
        grid = bins.grid(d)
        workers = _workers(bins)
        forward = getattr(lib, f"ml_forward_{suffix}")
        pointers = [_ptr(bins.offsets), _ptr(bins.entries), *map(_ptr, params), _ptr(color),
                    _ptr(trans), _ptr(walked)]
        _run(workers, lambda i: forward(ctypes.byref(grid), i, workers, *pointers), "forward")
        ctx.bins = bins
        ctx.save_for_backward(*params, color, trans, walked)
        return color, (1.0 - trans)[..., None]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_color, grad_alpha):  # type: ignore[override]
        lib = native.load()
        means2d, conics, colors, opacities, color, trans, walked = ctx.saved_tensors
        bins = ctx.bins
        suffix = _SUFFIX[means2d.dtype]
        m, d = means2d.shape[0], colors.shape[1]
        grad_color = grad_color.to(means2d.dtype).contiguous()
        grad_alpha = grad_alpha[..., 0].to(means2d.dtype).contiguous()
        workers = _workers(bins)
        v_means = means2d.new_zeros(workers, m, 2)
        v_conics = means2d.new_zeros(workers, m, 3)
        v_colors = means2d.new_zeros(workers, m, d)
        v_opac = means2d.new_zeros(workers, m)
        grid = bins.grid(d)
        backward = getattr(lib, f"ml_backward_{suffix}")
        shared = [_ptr(bins.offsets), _ptr(bins.entries),
                  *map(_ptr, (means2d, conics, colors, opacities, grad_color, grad_alpha, color,
                              trans, walked))]

        def job(i: int) -> int:
            own = [_ptr(v[i]) for v in (v_means, v_conics, v_colors, v_opac)]
            return backward(ctypes.byref(grid), i, workers, *shared, *own)

        _run(workers, job, "backward")
        return v_means.sum(0), v_conics.sum(0), v_colors.sum(0), v_opac.sum(0), None


def rasterize_native(
    means2d: torch.Tensor,
    conics: torch.Tensor,
    colors: torch.Tensor,
    opacities: torch.Tensor,
    bins: NativeBins,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite entries with the tile lists ``bins`` (see :func:`bin_entries`).

    ``means2d (M, 2)``, ``conics (M, 3)`` ``(a, b, c)`` of ``Σ'⁻¹``, ``colors (M, D)``
    (``D <= 16``), ``opacities (M,)``; CPU tensors of one dtype, float32 or float64. Returns
    ``color (C, H, W, D)`` (``Σ wᵢ cᵢ``, no background) and ``alpha (C, H, W, 1)``,
    differentiable w.r.t. the four inputs.
    """
    m = means2d.shape[0]
    if colors.ndim != 2 or colors.shape[0] != m or not 1 <= colors.shape[1] <= 16:
        raise ValueError(f"colors must have shape ({m}, D) with D <= 16, got {tuple(colors.shape)}")
    tensors = (means2d, conics, colors, opacities)
    if any(t.device.type != "cpu" or t.dtype != means2d.dtype for t in tensors):
        raise ValueError("the compiled rasteriser takes CPU tensors of one dtype")
    if means2d.dtype not in _SUFFIX:
        raise ValueError(f"the compiled rasteriser takes float32 or float64, got {means2d.dtype}")
    return _RasterizeNative.apply(means2d, conics, colors, opacities, bins)


def _projection_workers(n: int) -> int:
    """Threads for projecting ``n`` Gaussians (one per 4096, at most the torch thread count)."""
    return max(1, min(torch.get_num_threads(), n // 4096))


class _ProjectNative(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means, covariances, opacities, Ks, w2cs, view):  # type: ignore[override]
        lib = native.load()
        suffix = _SUFFIX[means.dtype]
        n, c = means.shape[0], view.cameras
        inputs = [t.detach().contiguous() for t in (means, covariances, Ks, w2cs)]
        opac = None if opacities is None else opacities.detach().contiguous()
        means2d = means.new_empty(c, n, 2)
        conics = means.new_empty(c, n, 3)
        depths = means.new_empty(c, n)
        radii = torch.empty(c, n, 2, dtype=torch.int32)
        visible = torch.empty(c, n, dtype=torch.uint8)
        workers = _projection_workers(n)
        project = getattr(lib, f"ml_project_{suffix}")
        pointers = [_ptr(inputs[0]), _ptr(inputs[1]), None if opac is None else _ptr(opac),
                    _ptr(inputs[2]), _ptr(inputs[3]), _ptr(means2d), _ptr(conics), _ptr(depths),
                    _ptr(radii), _ptr(visible)]
        _run(workers, lambda i: project(ctypes.byref(view), i, workers, n, *pointers),
             "projection")
        ctx.view = view
        ctx.save_for_backward(*inputs, visible)
        visible = visible.bool()
        ctx.mark_non_differentiable(radii, visible)
        return means2d, conics, depths, radii, visible

    @staticmethod
    @once_differentiable
    def backward(ctx, g_means2d, g_conics, g_depths, _radii, _visible):  # type: ignore[override]
        lib = native.load()
        means, covariances, Ks, w2cs, visible_u8 = ctx.saved_tensors
        view = ctx.view
        suffix = _SUFFIX[means.dtype]
        n = means.shape[0]
        grads = [means.new_zeros(view.cameras, n, *tail) if g is None
                 else g.to(means.dtype).contiguous()
                 for g, tail in ((g_means2d, (2,)), (g_conics, (3,)), (g_depths, ()))]
        v_means = torch.empty_like(means)
        v_covs = torch.empty_like(covariances)
        workers = _projection_workers(n)
        backward = getattr(lib, f"ml_project_backward_{suffix}")
        pointers = [_ptr(means), _ptr(covariances), _ptr(Ks), _ptr(w2cs), _ptr(visible_u8),
                    *map(_ptr, grads), _ptr(v_means), _ptr(v_covs)]
        _run(workers, lambda i: backward(ctypes.byref(view), i, workers, n, *pointers),
             "projection backward")
        return v_means, v_covs, None, None, None, None


def project_native(
    means: torch.Tensor,
    covariances: torch.Tensor,
    Ks: torch.Tensor,
    w2cs: torch.Tensor,
    width: int,
    height: int,
    opacities: torch.Tensor | None = None,
    *,
    eps2d: float = EPS2D,
    near_plane: float = NEAR_PLANE,
    far_plane: float = FAR_PLANE,
) -> Projected:
    """:func:`.projection.project_gaussians` for ``Ks (C, 3, 3)``, ``w2cs (C, 4, 4)``, compiled.

    The same conventions and results (to rounding), every field with a leading camera axis;
    ``covars2d`` is None. Differentiable w.r.t. ``means`` and ``covariances`` (not the cameras
    or, as there, the opacities, which only shape the boxes). CPU tensors of one dtype.
    """
    tensors = (means, covariances, Ks, w2cs) + (() if opacities is None else (opacities,))
    if any(t.device.type != "cpu" for t in tensors) or means.dtype not in _SUFFIX:
        raise ValueError("the compiled projection takes float32 or float64 CPU tensors")
    if Ks.ndim != 3 or Ks.shape[1:] != (3, 3) or w2cs.shape != (len(Ks), 4, 4):
        raise ValueError(f"Ks must be (C, 3, 3) and w2cs (C, 4, 4), got {tuple(Ks.shape)} and "
                         f"{tuple(w2cs.shape)}")
    view = native.View(len(Ks), int(width), int(height), float(eps2d), float(near_plane),
                       float(far_plane))
    dtype = means.dtype
    means2d, conics, depths, radii, visible = _ProjectNative.apply(
        means, covariances.to(dtype), None if opacities is None else opacities.to(dtype),
        Ks.to(dtype), w2cs.to(dtype), view)
    return Projected(means2d=means2d, conics=conics, depths=depths, covars2d=None, radii=radii,
                     visible=visible)
