"""The :class:`Gaussians` container: raw (pre-activation) parameters of N 3D Gaussians.

Storage is the optimiser/PLY parametrisation; every activation lives here and nowhere else:

==================  ==========  =====================================================
field               shape       meaning
==================  ==========  =====================================================
``means``           (N, 3)      centres, world units and axes
``log_scales``      (N, 3)      natural log of the standard deviations along the
                                Gaussian's local axes; ``scales = exp(log_scales)``
``rotations``       (N, 4)      quaternion **wxyz**, unnormalised (any non-zero length);
                                ``normalized_rotations`` divides by the norm
``opacity_logits``  (N,)        logit of the opacity; ``opacities = sigmoid(...)``
``sh``              (N, K, 3)   SH colour coefficients, ``K = (degree+1)²`` in {1,4,9,16},
                                coefficient 0 = DC; see :mod:`mouselift.splat.sh`
==================  ==========  =====================================================

The covariance is ``Σ = R S Sᵀ Rᵀ`` with ``R`` the rotation matrix of the normalised quaternion
(local axes → world) and ``S = diag(scales)``. All fields share one floating dtype and one device.
Construction checks shapes and finiteness and raises :class:`ValueError` naming the field.
Conventions of the whole project: ``docs/conventions.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import KW_ONLY, InitVar, dataclass
from typing import Any

import torch

from .sh import C0, num_sh_coeffs, rgb_to_sh, sh_degree_from_coeffs

__all__ = ["Gaussians", "quaternion_to_matrix"]

_FIELDS = ("means", "log_scales", "rotations", "opacity_logits", "sh")


def quaternion_to_matrix(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` of wxyz quaternions ``q (..., 4)`` (normalised here).

    A zero quaternion maps to the identity (its normalisation is the zero vector).
    """
    q = torch.nn.functional.normalize(q, dim=-1, eps=1e-12)
    w, x, y, z = q.unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )  # fmt: skip
    return torch.stack(rows, dim=-1).reshape(*q.shape[:-1], 3, 3)


def _as_box(box: Any, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = box
    lo = torch.as_tensor(lo, dtype=like.dtype, device=like.device).reshape(-1)
    hi = torch.as_tensor(hi, dtype=like.dtype, device=like.device).reshape(-1)
    if lo.shape != (3,) or hi.shape != (3,):
        raise ValueError(f"box must be ((xmin, ymin, zmin), (xmax, ymax, zmax)), got {box!r}")
    return lo, hi


@dataclass(frozen=True, eq=False)
class Gaussians:
    """N 3D Gaussians in raw parametrisation (see the module docstring for fields and units).

    Frozen: derive new containers with :meth:`replace`, :meth:`filter`, indexing, etc.
    Pass ``validate=False`` to skip the checks (e.g. in a hot training loop; it avoids a device
    sync for the finiteness test).
    """

    means: torch.Tensor
    log_scales: torch.Tensor
    rotations: torch.Tensor
    opacity_logits: torch.Tensor
    sh: torch.Tensor
    _: KW_ONLY
    validate: InitVar[bool] = True

    def __post_init__(self, validate: bool) -> None:
        if validate:
            self._validate()

    def _validate(self) -> None:
        for name in _FIELDS:
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                raise ValueError(f"Gaussians.{name} must be a torch.Tensor, got {type(value)}")
            if not value.is_floating_point():
                raise ValueError(f"Gaussians.{name} must be floating point, got {value.dtype}")
        n = self.means.shape[0] if self.means.ndim == 2 else -1
        expected = {
            "means": (n, 3),
            "log_scales": (n, 3),
            "rotations": (n, 4),
            "opacity_logits": (n,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape or n < 0:
                want = "(N, 3)" if n < 0 else str(shape)
                raise ValueError(f"Gaussians.{name} must have shape {want}, got {got}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise ValueError(
                f"Gaussians.sh must have shape ({n}, K, 3), got {tuple(self.sh.shape)}"
            )
        try:
            sh_degree_from_coeffs(self.sh.shape[1])
        except ValueError as exc:
            raise ValueError(f"Gaussians.sh: {exc}") from None
        dtype, device = self.means.dtype, self.means.device
        for name in _FIELDS:
            value = getattr(self, name)
            if value.dtype != dtype or value.device != device:
                raise ValueError(
                    f"Gaussians.{name} is {value.dtype} on {value.device}, but means is "
                    f"{dtype} on {device}; all fields must share dtype and device"
                )
        for name in _FIELDS:
            value = getattr(self, name)
            if value.numel() and not bool(torch.isfinite(value.detach()).all()):
                bad = int((~torch.isfinite(value.detach())).sum())
                raise ValueError(f"Gaussians.{name} has {bad} non-finite (NaN/Inf) values")

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_activated(
        cls,
        means: torch.Tensor,
        scales: torch.Tensor,
        rotations: torch.Tensor,
        opacities: torch.Tensor,
        colors: torch.Tensor | None = None,
        *,
        sh: torch.Tensor | None = None,
        sh_degree: int = 0,
        eps: float = 1e-6,
    ) -> Gaussians:
        """Build from activated values: ``scales > 0`` (N,3), opacities in [0,1] (N,) or (N,1).

        Give exactly one of ``colors`` (N,3) RGB in [0,1] (→ DC coefficient; higher bands zero,
        up to ``sh_degree``) or ``sh`` (N,K,3). Opacities are clamped to ``[eps, 1-eps]`` and
        scales to ``>= 1e-30`` before taking logit / log so the result is finite.
        """
        if (colors is None) == (sh is None):
            raise ValueError("give exactly one of colors (N,3) or sh (N,K,3)")
        means = torch.as_tensor(means)
        dtype = means.dtype if means.is_floating_point() else torch.float32
        means = means.to(dtype)

        def conv(t: torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(t).to(device=means.device, dtype=dtype)

        opacities = conv(opacities)
        if opacities.ndim == 2 and opacities.shape[1] == 1:
            opacities = opacities[:, 0]
        if colors is not None:
            colors = conv(colors)
            if colors.ndim != 2 or colors.shape[1] != 3:
                raise ValueError(f"colors must have shape (N, 3), got {tuple(colors.shape)}")
            sh = colors.new_zeros(colors.shape[0], num_sh_coeffs(sh_degree), 3)
            sh[:, 0] = rgb_to_sh(colors)
        return cls(
            means=means,
            log_scales=torch.log(conv(scales).clamp_min(1e-30)),
            rotations=conv(rotations),
            opacity_logits=torch.logit(opacities.clamp(eps, 1.0 - eps)),
            sh=conv(sh),
        )

    @classmethod
    def random(
        cls,
        n: int,
        seed: int = 0,
        radius: float = 1.0,
        sh_degree: int = 0,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Gaussians:
        """Reproducible random Gaussians (for tests and demos), generated on the CPU.

        Means uniform in the ball of ``radius``; scales log-uniform in ``radius·[0.005, 0.05]``;
        uniformly random rotations stored unnormalised (norm in [0.5, 2]); opacities uniform in
        [0.05, 0.95]; DC colours uniform in [0, 1]; higher SH bands ~ N(0, 0.1²).
        """
        if not radius > 0 or n < 0:
            raise ValueError(f"random Gaussians need n >= 0 and radius > 0, got {n}, {radius}")
        k = num_sh_coeffs(sh_degree)
        g = torch.Generator().manual_seed(seed)

        def u(*shape: int) -> torch.Tensor:
            return torch.rand(*shape, generator=g, dtype=torch.float64)

        direction = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
        means = direction.double() * radius * u(n, 1) ** (1.0 / 3.0)
        log_scales = math.log(radius * 0.005) + u(n, 3) * math.log(10.0)
        quat = torch.nn.functional.normalize(torch.randn(n, 4, generator=g), dim=-1)
        rotations = quat.double() * (0.5 + 1.5 * u(n, 1))
        opacity_logits = torch.logit(0.05 + 0.9 * u(n))
        sh = 0.1 * torch.randn(n, k, 3, generator=g, dtype=torch.float64)
        sh[:, 0] = rgb_to_sh(u(n, 3))
        return cls(
            *(t.to(device=device, dtype=dtype) for t in
              (means, log_scales, rotations, opacity_logits, sh))
        )  # fmt: skip

    @classmethod
    def empty(
        cls,
        sh_degree: int = 0,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Gaussians:
        """A container with zero Gaussians."""
        z = torch.zeros(0, dtype=dtype, device=device)
        return cls(
            z.reshape(0, 3), z.reshape(0, 3), z.reshape(0, 4), z.reshape(0),
            z.reshape(0, 1, 3).expand(0, num_sh_coeffs(sh_degree), 3).clone(),
        )  # fmt: skip

    @classmethod
    def cat(cls, items: Sequence[Gaussians]) -> Gaussians:
        """Concatenate containers; lower SH degrees are zero-padded to the highest one."""
        if not items:
            raise ValueError("Gaussians.cat needs at least one container")
        degree = max(item.sh_degree for item in items)
        items = [item.with_sh_degree(degree) for item in items]
        return cls(*(torch.cat([getattr(i, name) for i in items]) for name in _FIELDS))

    # ------------------------------------------------------------------ activations

    @property
    def scales(self) -> torch.Tensor:
        """Standard deviations along the local axes, ``exp(log_scales)`` (N, 3)."""
        return torch.exp(self.log_scales)

    @property
    def opacities(self) -> torch.Tensor:
        """Opacities in (0, 1), ``sigmoid(opacity_logits)`` (N,)."""
        return torch.sigmoid(self.opacity_logits)

    @property
    def normalized_rotations(self) -> torch.Tensor:
        """Unit quaternions wxyz (N, 4)."""
        return torch.nn.functional.normalize(self.rotations, dim=-1, eps=1e-12)

    def rotation_matrices(self) -> torch.Tensor:
        """Rotation matrices (N, 3, 3) mapping local Gaussian axes to world axes."""
        return quaternion_to_matrix(self.rotations)

    def covariances(self) -> torch.Tensor:
        """World-space covariances ``R S Sᵀ Rᵀ`` (N, 3, 3), symmetric positive semi-definite."""
        m = self.rotation_matrices() * self.scales.unsqueeze(-2)  # R S (scales each column)
        return m @ m.transpose(-1, -2)

    @property
    def rgb_dc(self) -> torch.Tensor:
        """View-independent colour ``0.5 + C0·sh[:, 0]`` (N, 3), unclipped."""
        return self.sh[:, 0] * C0 + 0.5

    @property
    def sh_degree(self) -> int:
        """SH degree 0–3 of the colour (``K = (degree+1)²``)."""
        return sh_degree_from_coeffs(self.sh.shape[1])

    @property
    def num_sh_coeffs(self) -> int:
        """``K``, the number of SH coefficients per channel."""
        return int(self.sh.shape[1])

    @property
    def device(self) -> torch.device:
        return self.means.device

    @property
    def dtype(self) -> torch.dtype:
        return self.means.dtype

    def __len__(self) -> int:
        return int(self.means.shape[0])

    def __repr__(self) -> str:
        return (
            f"Gaussians(n={len(self)}, sh_degree={self.sh_degree}, dtype={self.dtype}, "
            f"device={self.device})"
        )

    # ------------------------------------------------------------------ transformations

    def _map(self, fn: Any, *, validate: bool = False) -> Gaussians:
        return Gaussians(*(fn(getattr(self, name)) for name in _FIELDS), validate=validate)

    def replace(self, **changes: torch.Tensor) -> Gaussians:
        """A copy with some fields replaced (validated)."""
        return dataclasses.replace(self, **changes)

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Gaussians:
        """Move to ``device`` and/or cast to the floating ``dtype``."""
        if dtype is not None and not dtype.is_floating_point:
            raise ValueError(f"Gaussians dtype must be floating point, got {dtype}")
        out = self._map(lambda t: t.to(device=device, dtype=dtype))
        if dtype is not None and dtype != self.dtype:
            out._validate()  # narrowing casts can overflow to Inf
        return out

    def detach(self) -> Gaussians:
        return self._map(torch.Tensor.detach)

    def clone(self) -> Gaussians:
        return self._map(torch.Tensor.clone)

    def __getitem__(self, index: Any) -> Gaussians:
        """Select Gaussians by boolean mask, index tensor/array/list or slice; an int keeps N=1."""
        if isinstance(index, int):
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} out of range for {len(self)} Gaussians")
            index = slice(index, index + 1 if index != -1 else None)
        elif not isinstance(index, slice):
            index = torch.as_tensor(index, device=self.device)
            if index.dtype == torch.bool and index.shape != (len(self),):
                raise IndexError(f"boolean mask must have shape ({len(self)},), got {index.shape}")
        return self._map(lambda t: t[index])

    def filter(self, mask: torch.Tensor) -> Gaussians:
        """Keep the Gaussians where the boolean ``mask (N,)`` is true."""
        mask = torch.as_tensor(mask, device=self.device)
        if mask.dtype != torch.bool or mask.shape != (len(self),):
            raise ValueError(
                f"filter mask must be a bool tensor of shape ({len(self)},), "
                f"got {mask.dtype} {tuple(mask.shape)}"
            )
        return self[mask]

    def with_sh_degree(self, degree: int) -> Gaussians:
        """Truncate or zero-pad the SH coefficients to ``degree`` (0–3)."""
        k = num_sh_coeffs(degree)
        if k == self.num_sh_coeffs:
            return self
        if k < self.num_sh_coeffs:
            sh = self.sh[:, :k]
        else:
            sh = torch.cat([self.sh, self.sh.new_zeros(len(self), k - self.num_sh_coeffs, 3)], 1)
        return Gaussians(
            self.means, self.log_scales, self.rotations, self.opacity_logits, sh, validate=False
        )

    def prune_mask(
        self,
        min_opacity: float | None = 0.04,
        max_scale: float | None = 0.1,
        keep_scale_if_z_positive: bool = True,
        box: Any = None,
    ) -> torch.Tensor:
        """Boolean mask (N,) of the Gaussians that :meth:`prune` keeps."""
        keep = torch.ones(len(self), dtype=torch.bool, device=self.device)
        if min_opacity is not None:
            keep &= self.opacities > min_opacity
        if max_scale is not None:
            small = self.scales.amax(dim=-1) < max_scale
            if keep_scale_if_z_positive:
                small |= self.means[:, 2] > 0
            keep &= small
        if box is not None:
            lo, hi = _as_box(box, self.means)
            keep &= ((self.means >= lo) & (self.means <= hi)).all(dim=-1)
        return keep

    def prune(
        self,
        min_opacity: float | None = 0.04,
        max_scale: float | None = 0.1,
        keep_scale_if_z_positive: bool = True,
        box: Any = None,
    ) -> Gaussians:
        """FaceLift's inference filters (defaults), each disabled by passing ``None``/``False``.

        Keeps a Gaussian iff all hold:

        - ``opacity > min_opacity`` (strict);
        - ``max(scales) < max_scale``, or — when ``keep_scale_if_z_positive`` — its mean has
          ``z > 0`` (large Gaussians are only dropped on the ``z <= 0`` side);
        - with ``box = ((xmin, ymin, zmin), (xmax, ymax, zmax))``: its mean lies inside the box,
          bounds inclusive.
        """
        return self.filter(self.prune_mask(min_opacity, max_scale, keep_scale_if_z_positive, box))
