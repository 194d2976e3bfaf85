"""Sample loading, the loss, and the optimisation loop (short runs on the prepared sample)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mouselift.fit import (
    FitConfig,
    SampleError,
    fit_loss,
    load_sample_views,
    optimize,
    split_views,
)
from mouselift.images import composite
from mouselift.splat.render import RenderOutput, render

SHORT = dict(
    init_points=500, hull_voxels=32, densify_every=10, densify_until=30, max_gaussians=4000
)


def test_sample_views_are_rgba_with_matching_cameras(prepared_sample):
    views = load_sample_views(prepared_sample)
    assert views.rgba.shape == (6, 128, 128, 4) and views.rgba.dtype == torch.float32
    assert views.names == [f"images/cam_{k:03d}.png" for k in range(6)]
    assert all(cam.size == (128, 128) for cam in views.cameras)
    coverage = (views.rgba[..., 3] > 0.5).float().mean(dim=(1, 2))
    assert ((coverage > 0.03) & (coverage < 0.5)).all()  # the mouse, not empty, not everything
    held = load_sample_views(prepared_sample / "eval")
    assert len(held) == 1


def test_loss_is_zero_for_a_perfect_render_and_counts_alpha_errors():
    gen = torch.Generator().manual_seed(0)
    rgba = torch.rand(2, 24, 24, 4, generator=gen)
    bg = torch.rand(2, 3, generator=gen)
    target = composite(rgba, bg)
    perfect = RenderOutput(target, rgba[..., 3:], torch.zeros_like(rgba[..., 3:]))
    loss = fit_loss(perfect, rgba, bg)
    assert float(loss.total) == pytest.approx(0.0, abs=1e-6)
    off = RenderOutput(target, (rgba[..., 3:] + 0.1).clamp(max=1), perfect.depth)
    expected = float(((rgba[..., 3] + 0.1).clamp(max=1) - rgba[..., 3]).abs().mean())
    assert float(fit_loss(off, rgba, bg, mask_weight=2.0).total) == pytest.approx(2 * expected)


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda s: shutil.rmtree(s), "sample folder not found"),
        (lambda s: (s / "opencv_cameras.json").unlink(), "no opencv_cameras.json"),
        (lambda s: (s / "images" / "cam_002.png").unlink(), "cam_002.png: image listed"),
        (lambda s: Image.new("RGBA", (64, 64)).save(s / "images" / "cam_001.png"), "is 64×64"),
        (lambda s: (s / "images" / "cam_003.png").write_text("not a png"), "cannot read"),
    ],
)
def test_broken_samples_are_one_line_errors(prepared_sample, tmp_path, breakage, message):
    sample = tmp_path / "sample"
    shutil.copytree(prepared_sample, sample)
    breakage(sample)
    with pytest.raises(SampleError, match=message) as info:
        load_sample_views(sample)
    assert "\n" not in str(info.value)


def test_holdout_choices(prepared_sample, tmp_path):
    views = load_sample_views(prepared_sample)
    train, held, source = split_views(prepared_sample, views, "eval")
    assert len(train) == 6 and len(held) == 1 and source == "eval cameras"
    train, held, source = split_views(prepared_sample, views, "4")
    assert [len(train), len(held)] == [5, 1] and held.names == ["images/cam_004.png"]
    assert source == "training view 4" and "images/cam_004.png" not in train.names
    assert split_views(prepared_sample, views, "none")[1] is None
    bare = tmp_path / "bare"
    shutil.copytree(prepared_sample, bare, ignore=shutil.ignore_patterns("eval"))
    assert split_views(bare, views, "eval")[1] is None  # no eval/: no held-out views
    with pytest.raises(SampleError, match="views 0–5 only"):
        split_views(prepared_sample, views, "6")


def test_the_loss_decreases_and_densification_adds_gaussians(prepared_sample):
    views = load_sample_views(prepared_sample)
    losses: list[float] = []
    result = optimize(
        views, FitConfig(steps=60, **SHORT), callback=lambda step, loss: losses.append(loss)
    )
    assert len(losses) == 60
    first, last = np.mean(losses[:10]), np.mean(losses[-10:])
    assert last < 0.85 * first  # measured: 0.066 → 0.049 (the hull start is already close)

    def full_loss(gaussians) -> float:  # all six views on white
        white = torch.ones(3)
        with torch.no_grad():
            out = render(gaussians, views.cameras, white)
        return float(fit_loss(out, views.rgba, white).total)

    before, after = full_loss(result.initial), full_loss(result.gaussians)
    print(f"loss on all views: {before:.4f} → {after:.4f}")
    assert after < 0.7 * before  # measured: 0.108 → 0.054
    assert result.history[-1]["psnr"] > result.history[0]["psnr"] + 3
    assert [s.before for s in result.densify] == [500] + [s.after for s in result.densify[:-1]]
    assert len(result.densify) == 3 and len(result.gaussians) == result.densify[-1].after
    assert len(result.gaussians) > 500 and not result.gaussians.means.requires_grad


def test_same_seed_same_gaussians(prepared_sample):
    views = load_sample_views(prepared_sample).subset([0, 2, 4])
    config = FitConfig(steps=12, **SHORT)
    a = optimize(views, config).gaussians
    b = optimize(views, config).gaussians
    c = optimize(views, config.model_copy(update={"seed": 1})).gaussians
    for name in ("means", "log_scales", "rotations", "opacity_logits", "sh"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.means, c.means)


def test_config_presets_and_validation(tmp_path):
    from mouselift.config import load_config
    from mouselift.errors import ConfigError

    assert load_config(FitConfig, "fit", "default") == FitConfig()
    tiny = load_config(FitConfig, "fit", "tiny")
    assert tiny.steps < 100 and tiny.turntable_frames < 20
    with pytest.raises(ConfigError, match="holdout"):
        load_config(FitConfig, "fit", None, {"holdout": "three"})
    with pytest.raises(ConfigError, match="init_points"):
        load_config(FitConfig, "fit", None, {"init_points": 50_000})  # above max_gaussians
    bad = tmp_path / "f.yaml"
    bad.write_text(json.dumps({"stepz": 3}))
    with pytest.raises(ConfigError, match="unknown config key 'stepz'"):
        load_config(FitConfig, "fit", bad)
