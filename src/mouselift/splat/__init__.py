"""3D Gaussians: the :class:`Gaussians` container, SH colour, and splat files (PLY, ``.splat``).

Conventions: world units and axes of the scene; quaternions wxyz; raw (pre-activation) storage
with activations in :class:`Gaussians`; SH in the graphdeco/gsplat convention (:mod:`.sh`).
"""

from .gaussians import Gaussians, quaternion_to_matrix
from .ply import read_ply, write_ply
from .sh import C0, eval_sh, num_sh_coeffs, rgb_to_sh, sh_basis, sh_degree_from_coeffs, sh_to_rgb
from .splat_format import read_splat, splat_sort_order, write_splat

__all__ = [
    "C0",
    "Gaussians",
    "eval_sh",
    "num_sh_coeffs",
    "quaternion_to_matrix",
    "read_ply",
    "read_splat",
    "rgb_to_sh",
    "sh_basis",
    "sh_degree_from_coeffs",
    "sh_to_rgb",
    "splat_sort_order",
    "write_ply",
    "write_splat",
]
from .render import RenderOutput, render  # noqa: F401  (re-exported renderer)
