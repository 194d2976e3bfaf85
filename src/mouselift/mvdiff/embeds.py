"""Prompt embeddings of a rig, made with a pipeline's own text encoder (``mouselift embeds``).

The embeddings are the text encoder's last hidden states ``(V, 77, D)`` of the rig's view
prompts, ``D`` = the UNet's ``cross_attention_dim`` (1024 for FaceLift). They are saved beside
the rig (``rig.json`` + ``prompt_embeds.safetensors``, the file records the rig's fingerprint).

FaceLift ships its six embeddings precomputed (``mvdiffusion/data/fixed_prompt_embeds_6view/
clr_embeds.pt``: a bare fp16 tensor ``[6, 77, 1024]`` saved with ``torch.save``), and some
released pipeline folders have no ``text_encoder/``: :func:`import_rig_embeddings` takes that
file for FaceLift's rig instead of encoding the prompts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..cameras.rig import RIG_DIR, Rig, RigError
from ..errors import WeightsError
from ..metrics.weights_io import load_torch_file
from .pipeline import MultiViewDiffusionPipeline


@dataclass(frozen=True)
class RigEmbeddings:
    """A rig with its ``(V, L, D)`` prompt embeddings and where they were written."""

    rig: Rig
    prompt_embeds: torch.Tensor
    folder: Path | None


def make_rig_embeddings(pipeline_dir: str | os.PathLike, rig: Rig, *,
                        out_dir: str | os.PathLike | None = None,
                        into_pipeline: bool = False) -> RigEmbeddings:
    """Encode ``rig``'s prompts with the text encoder of the pipeline in ``pipeline_dir`` (the
    width is checked against its UNet); write them with the rig to ``out_dir`` and/or the
    pipeline's own ``rig/`` folder."""
    pipe = MultiViewDiffusionPipeline.from_pretrained(pipeline_dir, load_text_encoder=True)
    return _store(pipe, pipeline_dir, rig, pipe.encode_prompts(rig.prompts), out_dir,
                  into_pipeline)


def read_embeddings_file(path: str | os.PathLike, rig: Rig) -> torch.Tensor:
    """``(V, L, D)`` float32 embeddings from a ``torch.save`` file holding one tensor (FaceLift's
    ``clr_embeds.pt``), loaded with ``weights_only=True`` (no code from the file runs)."""
    path = Path(path)
    tensor = load_torch_file(path, "prompt embeddings")
    if not isinstance(tensor, torch.Tensor):
        raise WeightsError(f"{path}: holds a {type(tensor).__name__}, expected one tensor "
                           f"({rig.num_views}, 77, width)")
    if tensor.ndim != 3 or tensor.shape[0] != rig.num_views:
        raise WeightsError(f"{path}: shape {tuple(tensor.shape)}, expected "
                           f"({rig.num_views}, 77, width) for {rig.summary()}")
    if not tensor.is_floating_point() or not bool(torch.isfinite(tensor).all()):
        raise WeightsError(f"{path}: embeddings must be finite floating-point numbers")
    return tensor.float().contiguous()


def import_rig_embeddings(pipeline_dir: str | os.PathLike, rig: Rig,
                          embeds_file: str | os.PathLike, *,
                          out_dir: str | os.PathLike | None = None,
                          into_pipeline: bool = False) -> RigEmbeddings:
    """Store FaceLift's precomputed prompt embeddings (``clr_embeds.pt``) for FaceLift's rig:
    shape and width are checked against the pipeline's UNet (no text encoder needed), then they
    are written like :func:`make_rig_embeddings` writes its own."""
    if rig.source.get("kind") != "facelift":
        raise RigError(f"{embeds_file}: precomputed embeddings are FaceLift's six view prompts; "
                       f"use them with --rig facelift, not {rig.summary()}")
    embeds = read_embeddings_file(embeds_file, rig)
    pipe = MultiViewDiffusionPipeline.from_pretrained(pipeline_dir)
    return _store(pipe, pipeline_dir, rig, embeds, out_dir, into_pipeline)


def _store(pipe: MultiViewDiffusionPipeline, pipeline_dir: str | os.PathLike, rig: Rig,
           embeds: torch.Tensor, out_dir: str | os.PathLike | None,
           into_pipeline: bool) -> RigEmbeddings:
    """Check ``embeds`` against the pipeline's UNet, then write them with the rig."""
    pipe.set_rig(rig, embeds)  # checks the width against the UNet
    folder = None
    if out_dir is not None:
        folder = rig.save(out_dir, embeds)
    if into_pipeline:
        folder = rig.save(Path(pipeline_dir) / RIG_DIR, embeds)
    return RigEmbeddings(rig, embeds, folder)
