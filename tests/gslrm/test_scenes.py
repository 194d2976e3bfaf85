"""Synthetic GS-LRM-shaped scenes (benchmarks and renderer tests use them)."""

from __future__ import annotations

import math

import pytest
import torch

from mouselift.gslrm.model import CLIP_XYZ
from mouselift.gslrm.scenes import MOUSE_SEMI_AXES, pixel_aligned_scene, rig_rays


def test_rays_go_through_the_pixel_centres_of_facelifts_rig():
    origins, directions = rig_rays(8)
    assert origins.shape == directions.shape == (6, 8, 8, 3)
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(6, 8, 8, dtype=torch.float64))
    torch.testing.assert_close(origins.norm(dim=-1), torch.full((6, 8, 8), 2.7,
                                                                 dtype=torch.float64))
    # the image centre (between the 4 middle pixels) looks at the origin
    centre = directions[:, 3:5, 3:5].mean(dim=(1, 2))
    torch.testing.assert_close(torch.nn.functional.normalize(centre, dim=-1),
                               -origins[:, 0, 0] / 2.7, atol=1e-6, rtol=0)


def test_trained_scene_puts_hits_on_the_mouse_and_misses_in_the_box():
    g = pixel_aligned_scene("trained", 16, seed=3)
    assert len(g) == 6 * 16 * 16
    opacity = g.opacities
    assert float(opacity.min()) >= 0.05 and float(opacity.max()) <= 0.9
    # hits lie on some yawed ellipsoid of the mouse's semi-axes: z and the xy radius agree
    a, b, c = MOUSE_SEMI_AXES
    on_box = (g.means.abs() >= CLIP_XYZ - 1e-9).any(dim=1)
    hits = g.means[~on_box]
    assert 0.05 * len(g) < len(hits) < 0.5 * len(g)
    yaw = torch.linspace(0, 2 * math.pi, 721, dtype=torch.float64)
    x = hits[:, None, 0] * torch.cos(yaw) + hits[:, None, 1] * torch.sin(yaw)
    y = -hits[:, None, 0] * torch.sin(yaw) + hits[:, None, 1] * torch.cos(yaw)
    level = (x / a) ** 2 + (y / b) ** 2 + (hits[:, None, 2] / c) ** 2
    best = (level - 1).abs().amax(dim=0).argmin()  # the object's yaw
    assert float((level[:, best] - 1).abs().max()) < 0.02


def test_fog_scene_is_gslrm_at_initialisation():
    g = pixel_aligned_scene("fog", 12, seed=0)
    torch.testing.assert_close(g.opacities, torch.full((len(g),), 1 / (1 + math.exp(2)),
                                                       dtype=torch.float64))
    torch.testing.assert_close(g.scales, torch.full((len(g), 3), math.exp(-2.3),
                                                    dtype=torch.float64))
    origins, directions = rig_rays(12)
    o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
    nearest = o - (o * d).sum(-1, keepdim=True) * d
    assert float((g.means - nearest).norm(dim=-1).max()) <= 0.01 + 1e-12


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="trained"):
        pixel_aligned_scene("wax", 8)  # type: ignore[arg-type]
