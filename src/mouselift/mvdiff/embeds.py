"""Prompt embeddings of a rig, made with a pipeline's own text encoder (``mouselift embeds``).

The embeddings are the text encoder's last hidden states ``(V, 77, D)`` of the rig's view
prompts, ``D`` = the UNet's ``cross_attention_dim`` (1024 for FaceLift). They are saved beside
the rig (``rig.json`` + ``prompt_embeds.safetensors``, the file records the rig's fingerprint).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..cameras.rig import RIG_DIR, RIG_FILE, Rig, RigError, facelift_rig, load_rig, rig_from_dataset
from .pipeline import MultiViewDiffusionPipeline


def resolve_rig(spec: str | os.PathLike, *, resolution: int | None = None,
                reference_view: int = 0, split: str = "train") -> Rig:
    """A rig from ``"facelift"``, a prepared dataset folder (its cameras, ``reference_view``
    first), or a rig folder / ``rig.json`` file; resized to ``resolution`` when given."""
    text = str(spec)
    if text == "facelift":
        rig = facelift_rig(resolution or 512)
    else:
        path = Path(spec)
        if path.is_dir() and (path / f"{split}.txt").is_file():
            rig = rig_from_dataset(path, reference_view=reference_view, split=split)
        elif path.is_file() or (path / RIG_FILE).is_file():
            rig = load_rig(path)
        elif (path / RIG_DIR / RIG_FILE).is_file():
            rig = load_rig(path / RIG_DIR)
        else:
            raise RigError(f"{spec}: not 'facelift', a prepared dataset, or a rig folder/file")
    if resolution is not None and (rig.width, rig.height) != (resolution, resolution):
        rig = rig.resized(resolution)
    return rig


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
    embeds = pipe.encode_prompts(rig.prompts)
    pipe.set_rig(rig, embeds)  # checks the width against the UNet
    folder = None
    if out_dir is not None:
        folder = rig.save(out_dir, embeds)
    if into_pipeline:
        folder = rig.save(Path(pipeline_dir) / RIG_DIR, embeds)
    return RigEmbeddings(rig, embeds, folder)
