"""Stage 2's depth supervision: the depth loss by hand, the depths the dataset loads, the
Gaussians' camera-frame depth, and training with it (off, and said once, where a sample has no
geometry targets; resumed exactly)."""

from __future__ import annotations

import logging
import math
import shutil

import pytest
import torch

from mouselift.cameras.rig import facelift_rig
from mouselift.data.geometry import read_depth
from mouselift.flows.geometry import dataset_samples, geometry_dataset
from mouselift.gslrm.config import load_gslrm_config
from mouselift.gslrm.dataset import GSLRMDataConfig, GSLRMDataset
from mouselift.gslrm.losses import DepthTerms, GSLRMLossConfig, depth_loss, stage2_loss
from mouselift.gslrm.model import GSLRM, cameras_to_tensors
from mouselift.gslrm.train_config import load_train_gslrm_config
from mouselift.gslrm.trainer import pixel_camera_depths, train_gslrm


def test_depth_loss_by_hand_and_no_gradient_where_there_is_no_target():
    pred = torch.tensor([[2.0, 3.0], [4.0, 5.0]], requires_grad=True)
    target = torch.tensor([[2.0, 6.0], [0.0, 5.0]])  # (1, 0): no target there
    value = depth_loss(pred, target)
    assert float(value.detach()) == pytest.approx((0.0 + math.log(2.0) + 0.0) / 3)
    value.backward()
    assert float(pred.grad[1, 0]) == 0.0
    assert float(pred.grad[0, 1]) == pytest.approx(-1 / 3 / 3.0)  # d|log p − log t|/dp = −1/(3p)
    empty = depth_loss(pred, torch.zeros(2, 2))
    assert float(empty.detach()) == 0.0 and empty.requires_grad
    masked = depth_loss(pred, target, torch.tensor([[False, True], [True, True]]))
    assert float(masked.detach()) == pytest.approx(math.log(2.0) / 2)


def test_depth_term_in_the_stage2_loss():
    b, v, h, w = 1, 2, 4, 4
    render = torch.full((b, v, 3, h, w), 0.5)
    alpha = torch.ones(b, v, 1, h, w)
    depth = torch.full((b, v, 1, h, w), 2.0)
    terms = DepthTerms(depth * 1.5, depth, depth, depth)
    config = GSLRMLossConfig(mse=1.0, perceptual=0.0, depth=2.0)
    total, parts = stage2_loss(render, render, alpha, config, 0, render_alpha=alpha,
                               depths=terms)
    assert float(parts["depth"]) == pytest.approx(0.5 * math.log(1.5))
    assert float(total) == pytest.approx(2.0 * 0.5 * math.log(1.5))
    off, parts = stage2_loss(render, render, alpha, GSLRMLossConfig(perceptual=0.0), 0)
    assert "depth" not in parts and float(off) == 0.0
    with pytest.raises(ValueError, match="depth"):
        stage2_loss(render, render, alpha, config, 0, render_alpha=alpha)


def test_pixel_depths_are_the_gaussians_camera_z():
    torch.manual_seed(0)
    model = GSLRM(load_gslrm_config("tiny")).eval()
    K, c2w = cameras_to_tensors(facelift_rig(64).cameras)
    with torch.no_grad():
        out = model(torch.rand(1, 6, 3, 64, 64), K[None], c2w[None])
    z = pixel_camera_depths(out, K[None], c2w[None])  # (1, 6, 1, 64, 64)
    w2c = torch.linalg.inv(c2w)
    positions = out.pixel_positions[0].permute(0, 2, 3, 1)  # (6, 64, 64, 3)
    camera_z = (positions @ w2c[:, None, 2:3, :3].transpose(-1, -2))[..., 0] + w2c[:, None,
                                                                                   None, 2, 3]
    torch.testing.assert_close(z[0, :, 0], camera_z, atol=1e-4, rtol=0)


@pytest.fixture
def geometry_dataset_copy(mouse_dataset, tmp_path):
    copy = tmp_path / "ds"
    shutil.copytree(mouse_dataset, copy)
    geometry_dataset(copy, progress=False)
    return copy


def test_dataset_loads_resized_depths_where_the_sample_has_them(geometry_dataset_copy):
    ds = GSLRMDataset(geometry_dataset_copy, "train",
                      GSLRMDataConfig(image_size=32, geometry=True, input_selection="fixed"))
    item = ds[0]
    assert item["input_depth"].shape == (5, 1, 32, 32)
    assert item["target_depth"].shape == (7, 1, 32, 32)  # 6 rig targets + the held-out one
    assert bool(item["has_depth"])
    full = read_depth(geometry_dataset_copy / item["sample"], "cam_000")
    valid = item["input_depth"][0, 0] > 0
    # the 2×-smaller map averages the valid depths of its 2×2 blocks: within their range
    assert valid.any() and float(item["input_depth"][0, 0][valid].min()) >= float(
        full[full > 0].min()) - 1e-4
    assert float(item["input_depth"][0, 0].max()) <= float(full.max()) + 1e-4
    # the target depth where the alpha is 0 is 0
    assert not (item["target_depth"][item["target_alpha"] == 0] > 0).any()
    shutil.rmtree(geometry_dataset_copy / item["sample"] / "geometry")
    bare = ds[0]
    assert not bool(bare["has_depth"]) and float(bare["target_depth"].abs().sum()) == 0.0
    assert "input_depth" not in GSLRMDataset(geometry_dataset_copy, "train",
                                             GSLRMDataConfig(image_size=32))[0]


def _config(dataset, out, **overrides):
    fast = {"max_steps": 4, "log_with": "none", "checkpoint_every": 2, "validate_every": 2,
            "validation_samples": 0, "data": {"image_size": 32},
            "losses": {"perceptual": 0.0, "depth": 1.0, "alpha": 1.0}}
    return load_train_gslrm_config("tiny", {**fast, "dataset": str(dataset),
                                             "output_dir": str(out), **overrides})


def test_trains_with_depth_resumes_exactly_and_says_once_where_targets_are_missing(
        geometry_dataset_copy, tmp_path, caplog):
    for name in dataset_samples(geometry_dataset_copy)[1:]:  # only the first has targets
        shutil.rmtree(geometry_dataset_copy / name / "geometry")
    with caplog.at_level(logging.WARNING, logger="mouselift.gslrm.trainer"):
        straight = train_gslrm(_config(geometry_dataset_copy, tmp_path / "a"), progress=False)
    notes = [r for r in caplog.records if "no geometry targets" in r.getMessage()]
    assert len(notes) == 1 and "mouselift geometry" in notes[0].getMessage()
    assert all(math.isfinite(x) for x in straight.losses)
    train_gslrm(_config(geometry_dataset_copy, tmp_path / "b", max_steps=2), progress=False)
    resumed = train_gslrm(_config(geometry_dataset_copy, tmp_path / "b"), resume="latest",
                          progress=False)
    assert resumed.losses == straight.losses[2:]
