"""Multi-view self-attention for diffusers' UNet, with no new parameters.

Batch layout (everywhere in :mod:`mouselift.mvdiff`): the UNet's batch is ``B`` objects × ``V``
views, object-major — rows ``b·V … b·V + V − 1`` are the views of object ``b``, view 0 first
(the input view of the rig). Each ``attn1`` (self-attention) layer keeps its own ``to_q``,
``to_k``, ``to_v``, ``to_out`` weights; only the set of tokens a query can attend to changes:

* ``"sparse"`` (FaceLift's released UNet): the tokens of view ``v`` attend to
  [view-0 tokens ⊕ view-``v`` tokens] of the same object. For view 0 that is its own tokens
  twice, which gives exactly the same result as attending to them once (every key is counted
  twice in numerator and denominator of the softmax).
* ``"dense"``: every view attends to the tokens of all ``V`` views of its object.

With ``V = 1`` both modes reduce to ordinary self-attention. Cross-attention (``attn2``, the
per-view prompt embeddings) is untouched.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention, AttnProcessor2_0

AttentionMode = Literal["sparse", "dense"]
ATTENTION_MODES: tuple[str, ...] = ("sparse", "dense")


class MultiViewAttnProcessor:
    """diffusers attention processor for the multi-view self-attention of ``num_views`` views.

    Uses PyTorch's ``scaled_dot_product_attention`` with the layer's own ``scale``. Only valid
    for self-attention: a call with ``encoder_hidden_states`` or an attention mask is an error.
    """

    def __init__(self, num_views: int, mode: AttentionMode = "sparse") -> None:
        if num_views < 1:
            raise ValueError(f"num_views must be at least 1, got {num_views}")
        if mode not in ATTENTION_MODES:
            raise ValueError(f"attention mode must be one of {ATTENTION_MODES}, got {mode!r}")
        self.num_views = int(num_views)
        self.mode = mode

    def __repr__(self) -> str:
        return f"MultiViewAttnProcessor(num_views={self.num_views}, mode={self.mode!r})"

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: object,
        **kwargs: object,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise ValueError("multi-view attention is self-attention only (no context, no mask)")
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch, channels, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        rows, tokens, _ = hidden_states.shape
        views = self.num_views
        if rows % views:
            raise ValueError(
                f"multi-view attention got a batch of {rows} images, not a whole number of "
                f"{views}-view groups"
            )
        objects = rows // views
        query = attn.to_q(hidden_states)
        key = attn.to_k(hidden_states)
        value = attn.to_v(hidden_states)
        heads = attn.heads
        head_dim = key.shape[-1] // heads

        def split_heads(x: torch.Tensor) -> torch.Tensor:  # (rows, N, h·d) -> (rows, h, N, d)
            return x.view(rows, tokens, heads, head_dim).transpose(1, 2)

        query, key, value = split_heads(query), split_heads(key), split_heads(value)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)

        if self.mode == "dense":
            # (B·V, h, N, d) -> (B, h, V·N, d): one attention over all views of an object.
            def group(x: torch.Tensor) -> torch.Tensor:
                x = x.view(objects, views, heads, tokens, head_dim).transpose(1, 2)
                return x.reshape(objects, heads, views * tokens, head_dim)

            out = F.scaled_dot_product_attention(
                group(query), group(key), group(value), scale=attn.scale
            )
            out = out.view(objects, heads, views, tokens, head_dim).transpose(1, 2)
            out = out.reshape(rows, heads, tokens, head_dim)
        else:

            def with_reference(x: torch.Tensor) -> torch.Tensor:  # keys/values: [view 0 ⊕ own]
                x = x.view(objects, views, heads, tokens, head_dim)
                ref = x[:, :1].expand(objects, views, heads, tokens, head_dim)
                return torch.cat([ref, x], dim=3).reshape(rows, heads, 2 * tokens, head_dim)

            out = F.scaled_dot_product_attention(
                query, with_reference(key), with_reference(value), scale=attn.scale
            )

        out = out.transpose(1, 2).reshape(rows, tokens, heads * head_dim).to(query.dtype)
        out = attn.to_out[0](out)
        out = attn.to_out[1](out)
        if input_ndim == 4:
            out = out.transpose(-1, -2).reshape(batch, channels, height, width)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def is_self_attention(processor_name: str) -> bool:
    """Whether a UNet processor name (``"…attn1.processor"``) is a self-attention layer."""
    return processor_name.endswith("attn1.processor")


def set_multiview_attention(
    unet: torch.nn.Module, num_views: int, mode: AttentionMode = "sparse"
) -> None:
    """Give every self-attention layer of ``unet`` a :class:`MultiViewAttnProcessor`, every
    other attention layer PyTorch SDPA (diffusers' ``AttnProcessor2_0``)."""
    processors = {
        name: MultiViewAttnProcessor(num_views, mode) if is_self_attention(name) else
        AttnProcessor2_0()
        for name in unet.attn_processors  # type: ignore[attr-defined]
    }
    unet.set_attn_processor(processors)  # type: ignore[attr-defined]


def multiview_settings(unet: torch.nn.Module) -> tuple[int, str] | None:
    """``(num_views, mode)`` of the multi-view processors installed on ``unet``, or ``None``."""
    for name, processor in unet.attn_processors.items():  # type: ignore[attr-defined]
        if is_self_attention(name) and isinstance(processor, MultiViewAttnProcessor):
            return processor.num_views, processor.mode
    return None
