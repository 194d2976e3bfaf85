"""Stage 2 inference: FaceLift's filters, the model's Gaussians of views with their own cameras,
and a checkpoint loaded with its rig (:class:`Stage2Model`)."""

from __future__ import annotations

import pytest
import torch

from infer_testutils import tiny_gslrm
from mouselift.cameras.rig import Rig, facelift_rig
from mouselift.data.sample import SampleViews
from mouselift.gslrm.inference import (
    SplatFilters,
    Stage2Model,
    num_predicted,
    predict_gaussians,
    predict_gaussians_batch,
    reconstruct_gaussians,
)
from mouselift.splat import Gaussians


@pytest.fixture(scope="module")
def stage2(tmp_path_factory) -> Stage2Model:
    """A random tiny GS-LRM (64² views) with FaceLift's rig, on the CPU."""
    return Stage2Model.load(tiny_gslrm(tmp_path_factory.mktemp("inference") / "gslrm",
                                       facelift_rig(64)))


def _views(rig: Rig, seed: int) -> SampleViews:
    """Random RGBA views at the rig's cameras."""
    rgba = torch.rand(rig.num_views, rig.height, rig.width, 4,
                      generator=torch.Generator().manual_seed(seed))
    return SampleViews(rgba, list(rig.cameras), [f"{name}.png" for name in rig.names])


def test_filters_are_facelifts():
    g = Gaussians(
        means=torch.tensor([[0.0, 0, 0], [0.0, 0, 0], [0.0, 0, -0.5], [0.0, 0, 0.5],
                            [0.95, 0, 0], [0.7, -0.7, -0.7]]),
        log_scales=torch.log(torch.tensor([[0.01] * 3, [0.01] * 3, [0.2] * 3, [0.2] * 3,
                                           [0.01] * 3, [0.01] * 3])),
        rotations=torch.tensor([[1.0, 0, 0, 0]] * 6),
        opacity_logits=torch.logit(torch.tensor([0.5, 0.03, 0.5, 0.5, 0.5, 0.5])),
        sh=torch.zeros(6, 1, 3))
    kept = SplatFilters().apply(g)
    # dropped: too transparent (1), large below the floor plane z ≤ 0 (2), outside the box
    # (|x| > 0.91) (4), a corner floater (5); kept: 0 and the large one above z = 0 (3)
    assert kept.means.tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]
    none = SplatFilters(min_opacity=None, max_scale=None, box=None, corner_floaters=None)
    assert len(none.apply(g)) == 6


def test_options_choose_the_filters():
    assert SplatFilters.from_options(min_opacity=0.04, max_scale=0.1) == SplatFilters()
    assert SplatFilters.from_options(min_opacity=0.2, max_scale=0.1, no_box=True).box is None
    none = SplatFilters.from_options(min_opacity=0.2, max_scale=0.1, no_filters=True)
    assert none.min_opacity is none.max_scale is none.box is none.corner_floaters is None


def test_stage2_reconstructs_views_with_their_cameras(stage2):
    views = _views(stage2.rig, 0)
    predicted = predict_gaussians(stage2.gslrm, views, device=stage2.device)
    assert len(predicted) == num_predicted(stage2.gslrm, len(views)) == 2 + 6 * 64 * 64
    kept = stage2.reconstruct(views)  # FaceLift's filters, float32 on the CPU
    assert kept.means.device.type == "cpu" and kept.means.dtype == torch.float32
    assert torch.equal(kept.means, SplatFilters().apply(predicted).means)
    # larger views are resized to the model's resolution, their cameras with them
    larger = predict_gaussians(stage2.gslrm, views.resized(128), device=stage2.device)
    assert len(larger) == len(predicted)
    # a batch is its objects one by one
    other = _views(stage2.rig, 1)
    batch = predict_gaussians_batch(stage2.gslrm, [views, other], device=stage2.device)
    torch.testing.assert_close(batch[0].means, predicted.means, rtol=1e-4, atol=1e-5)
    assert [len(g) for g in reconstruct_gaussians(
        stage2.gslrm, [views, other], device=stage2.device,
        filters=SplatFilters(min_opacity=None, max_scale=None, box=None,
                             corner_floaters=None))] == [len(predicted)] * 2


def test_stage2_describes_its_checkpoint(stage2):
    info = stage2.describe()
    assert info["checkpoints"] == {"mvdiff": None, "gslrm": str(stage2.gslrm_path)}
    assert info["rig_fingerprint"] == facelift_rig(64).fingerprint()
    assert info["gslrm_resolution"] == 64 and info["device"] == "cpu"
