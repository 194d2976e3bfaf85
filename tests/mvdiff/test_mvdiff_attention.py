"""Multi-view self-attention: exact semantics of the sparse and dense modes, no new parameters."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

from mouselift.mvdiff import MultiViewAttnProcessor, build_unet, set_multiview_attention
from mouselift.mvdiff.attention import multiview_settings

DIM, HEADS, TOKENS = 16, 2, 5


@pytest.fixture
def attn() -> Attention:
    torch.manual_seed(0)
    return Attention(query_dim=DIM, heads=HEADS, dim_head=DIM // HEADS, bias=False).eval()


def reference(attn: Attention, x: torch.Tensor, views: int, mode: str) -> torch.Tensor:
    """Per-view loop with an explicit softmax over the allowed keys."""
    rows = x.shape[0]
    out = torch.empty_like(x)
    d = DIM // HEADS
    for r in range(rows):
        first = r - r % views
        if mode == "dense":
            context = x[first:first + views].reshape(-1, DIM)
        else:
            context = torch.cat([x[first], x[r]])
        q = attn.to_q(x[r]).view(TOKENS, HEADS, d).transpose(0, 1)
        k = attn.to_k(context).view(-1, HEADS, d).transpose(0, 1)
        v = attn.to_v(context).view(-1, HEADS, d).transpose(0, 1)
        weights = torch.softmax(q @ k.transpose(1, 2) / d**0.5, dim=-1)
        heads = (weights @ v).transpose(0, 1).reshape(TOKENS, DIM)
        out[r] = attn.to_out[0](heads)
    return out


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_matches_explicit_reference(attn, mode):
    x = torch.randn(2 * 3, TOKENS, DIM, dtype=torch.float64)
    attn.double()
    got = MultiViewAttnProcessor(3, mode)(attn, x)
    torch.testing.assert_close(got, reference(attn, x, 3, mode), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("mode", ["sparse", "dense"])
def test_single_view_is_plain_self_attention(attn, mode):
    x = torch.randn(4, TOKENS, DIM)
    torch.testing.assert_close(MultiViewAttnProcessor(1, mode)(attn, x),
                               AttnProcessor2_0()(attn, x), rtol=1e-5, atol=1e-6)


def test_sparse_views_see_only_view0_and_themselves(attn):
    views = 4
    x = torch.randn(2 * views, TOKENS, DIM)
    proc = MultiViewAttnProcessor(views, "sparse")
    base = proc(attn, x)
    bumped = x.clone()
    bumped[2] += 1.0  # object 0, view 2
    changed = (proc(attn, bumped) - base).abs().amax(dim=(1, 2)) > 1e-6
    assert changed.tolist() == [False, False, True, False] + [False] * views
    bumped = x.clone()
    bumped[views] += 1.0  # object 1, view 0: every view of object 1, nothing of object 0
    changed = (proc(attn, bumped) - base).abs().amax(dim=(1, 2)) > 1e-6
    assert changed.tolist() == [False] * views + [True] * views


def test_dense_views_see_all_views_of_their_object(attn):
    views = 3
    x = torch.randn(2 * views, TOKENS, DIM)
    proc = MultiViewAttnProcessor(views, "dense")
    bumped = x.clone()
    bumped[1] += 1.0
    changed = (proc(attn, bumped) - proc(attn, x)).abs().amax(dim=(1, 2)) > 1e-6
    assert changed.tolist() == [True] * views + [False] * views


def test_batch_must_be_whole_groups(attn):
    with pytest.raises(ValueError, match="whole number of 6-view groups"):
        MultiViewAttnProcessor(6, "sparse")(attn, torch.randn(4, TOKENS, DIM))
    with pytest.raises(ValueError, match="mode"):
        MultiViewAttnProcessor(6, "ring")  # type: ignore[arg-type]


def test_unet_gets_processors_only_on_self_attention(tiny_arch):
    unet = build_unet(tiny_arch.unet)
    before = sum(p.numel() for p in unet.parameters())
    set_multiview_attention(unet, 6, "sparse")
    assert sum(p.numel() for p in unet.parameters()) == before  # no new parameters
    kinds = {name: type(p).__name__ for name, p in unet.attn_processors.items()}
    assert kinds and all((k == "MultiViewAttnProcessor") == n.endswith("attn1.processor")
                         for n, k in kinds.items())
    assert multiview_settings(unet) == (6, "sparse")


def test_unet_objects_are_independent(tiny_arch):
    """Through the whole UNet: objects are independent, and in sparse mode a non-reference
    view influences no other view."""
    torch.manual_seed(0)
    unet = build_unet(tiny_arch.unet).eval()
    set_multiview_attention(unet, 3, "sparse")
    x = torch.randn(6, 8, 8, 8)
    t = torch.full((6,), 500)
    text = torch.randn(6, 77, 32)
    labels = torch.randn(6, 32)
    with torch.no_grad():
        base = unet(x, t, encoder_hidden_states=text, class_labels=labels).sample
        bumped = x.clone()
        bumped[1] += 1.0  # object 0, view 1
        out = unet(bumped, t, encoder_hidden_states=text, class_labels=labels).sample
    change = (out - base).abs().amax(dim=(1, 2, 3))
    # sparse: view 1 reaches no other view, at any depth (they see only view 0 and themselves)
    assert change[1] > 1e-3
    assert change[[0, 2, 3, 4, 5]].max() == 0.0
