"""Optional camera conditioning: zero-initialised, so a pretrained UNet is unchanged at step 0."""

from __future__ import annotations

import numpy as np
import torch

from mouselift.cameras.rig import facelift_rig
from mouselift.mvdiff import CameraEmbedding, MultiViewDenoiser, build_unet, relative_pose_features
from mouselift.mvdiff.attention import set_multiview_attention


def _inputs(views: int = 6):
    torch.manual_seed(1)
    return (torch.randn(views, 8, 8, 8), torch.full((views,), 300), torch.randn(views, 77, 32),
            torch.randn(views, 32))


def test_zero_initialised_embedding_leaves_the_unet_unchanged_then_learns(tiny_arch):
    torch.manual_seed(0)
    unet = build_unet(tiny_arch.unet).eval()
    set_multiview_attention(unet, 6, "sparse")
    sample, t, text, labels = _inputs()
    with torch.no_grad():
        plain = unet(sample, t, encoder_hidden_states=text, class_labels=labels).sample
    camera = CameraEmbedding(time_embed_dim=unet.time_embedding.linear_2.out_features,
                             hidden_dim=16)
    model = MultiViewDenoiser(unet, camera)
    poses = relative_pose_features(facelift_rig(64).cameras)
    out = model(sample, t, text, labels, poses)
    assert torch.equal(out.detach(), plain)  # step 0: exactly the pretrained prediction
    assert not unet.time_embedding._forward_hooks  # the hook lives only during the call

    optimizer = torch.optim.SGD(camera.parameters(), lr=1e-1)
    out.pow(2).mean().backward()
    assert camera.linear_2.weight.grad.abs().sum() > 0  # the zero layer still gets gradient
    optimizer.step()
    with torch.no_grad():
        moved = model(sample, t, text, labels, poses)
    assert (moved - plain).abs().max() > 1e-6


def test_relative_pose_features():
    rig = facelift_rig(64)
    feats = relative_pose_features(rig.cameras)
    assert feats.shape == (6, 12)
    np.testing.assert_allclose(feats[0].numpy(), np.eye(4)[:3].ravel(), atol=1e-6)
    np.testing.assert_allclose(feats.numpy(), rig.relative_poses()[:, :3, :4].reshape(6, 12),
                               atol=1e-6)
    # back view: rotated 180° about the up axis relative to the front view
    rel = rig.relative_poses()[3]
    assert np.isclose(np.trace(rel[:3, :3]), -1.0, atol=1e-9)
