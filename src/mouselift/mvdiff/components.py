"""The components of a Stage-1 pipeline folder, and how to load, check and build them.

A pipeline folder is diffusers' layout (FaceLift's ``pipeckpts`` is one)::

    model_index.json
    unet/                     UNet2DConditionModel, 8 input channels (FaceLift's config also read)
    vae/                      AutoencoderKL
    image_encoder/            CLIPVisionModelWithProjection
    feature_extractor/        CLIPImageProcessor (only its resize / mean / std are used)
    image_normalizer/         StableUnCLIPImageNormalizer
    image_noising_scheduler/  DDPMScheduler (noise added to the CLIP embedding)
    text_encoder/, tokenizer/ CLIPTextModel, CLIPTokenizer (only for making prompt embeddings)
    scheduler/                DDIMScheduler (v-prediction)

plus, when written by mouselift: ``mouselift_mvdiff.json`` (views, attention mode),
``camera_embedding/`` (optional) and ``rig/`` (the rig and its prompt embeddings).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler
from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import (
    StableUnCLIPImageNormalizer,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)
from transformers.utils import logging as hf_logging

from ..errors import WeightsError
from .config import PipelineArchitecture

try:  # transformers ≥ 5 without torchvision: the PIL processor, without a warning
    from transformers import CLIPImageProcessorPil as CLIPImageProcessor
except ImportError:  # pragma: no cover - older transformers
    from transformers import CLIPImageProcessor  # type: ignore[assignment]

hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()

REQUIRED = ("unet", "vae", "image_encoder", "feature_extractor", "image_normalizer",
            "image_noising_scheduler", "scheduler")
TEXT = ("text_encoder", "tokenizer")
CAMERA_EMBEDDING = "camera_embedding"
SETTINGS_FILE = "mouselift_mvdiff.json"

#: Stable Diffusion 2.x's training noise schedule (v-prediction), as FaceLift samples with it.
SD2_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "v_prediction",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
    "timestep_spacing": "leading",
}
#: Stable unCLIP's schedule for noising the CLIP image embedding.
UNCLIP_IMAGE_NOISING = {"num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2"}
#: OpenAI CLIP's image normalisation.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _need(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_dir():
        raise WeightsError(f"{folder}: pipeline component {name}/ is missing")
    return path


def _load(kind: Any, path: Path, name: str, **kwargs: Any) -> Any:
    try:
        return kind.from_pretrained(str(path), local_files_only=True, **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise WeightsError(f"{path}: cannot load {name} ({first})") from None


def load_component(folder: str | os.PathLike, name: str,
                   dtype: torch.dtype | None = None) -> Any:
    """Load component ``name`` from the pipeline folder (not the UNet: see ``load_unet``)."""
    folder = Path(folder)
    path = _need(folder, name)
    model_kwargs = {"torch_dtype": dtype} if dtype is not None else {}
    if name == "vae":
        return _load(AutoencoderKL, path, name, **model_kwargs)
    if name == "image_encoder":
        kwargs = {"dtype": dtype} if dtype is not None else {}
        return _load(CLIPVisionModelWithProjection, path, name, **kwargs)
    if name == "text_encoder":
        kwargs = {"dtype": dtype} if dtype is not None else {}
        return _load(CLIPTextModel, path, name, **kwargs)
    if name == "feature_extractor":
        return _load(CLIPImageProcessor, path, name)
    if name == "tokenizer":
        return _load(CLIPTokenizer, path, name)
    if name == "image_normalizer":
        return _load(StableUnCLIPImageNormalizer, path, name, **model_kwargs)
    if name == "image_noising_scheduler":
        return _load(DDPMScheduler, path, name)
    if name == "scheduler":
        return _load(DDIMScheduler, path, name)
    raise ValueError(f"unknown pipeline component {name!r}")


# --- a tokenizer without downloads ------------------------------------------------------------
def _byte_symbols() -> list[str]:
    """GPT-2/CLIP's printable stand-ins for the 256 byte values."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    symbols = dict.fromkeys(printable)
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = 256 + extra
            extra += 1
    return [chr(symbols[b] if symbols[b] is not None else b) for b in range(256)]


def write_byte_tokenizer(folder: str | os.PathLike) -> CLIPTokenizer:
    """Write a CLIP BPE tokenizer with byte-level symbols and no merges (514 tokens) in the
    standard files (``vocab.json``, ``merges.txt``, ``tokenizer_config.json``) and load it back.
    Random test pipelines use it; real pipelines bring their own."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = _byte_symbols()
    vocab: dict[str, int] = {}
    for s in symbols:
        vocab[s] = len(vocab)
    for s in symbols:
        vocab[s + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True,
         "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
         "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}), encoding="utf-8")
    return _load(CLIPTokenizer, folder, "tokenizer")


# --- random components ------------------------------------------------------------------------
def build_vae(arch: PipelineArchitecture) -> AutoencoderKL:
    """A randomly initialised (torch's global generator) ``AutoencoderKL`` of ``arch.vae`` for
    ``arch.image_size`` views: RGB in [-1, 1], 4 latent channels, one halving per block but the
    last."""
    vae_arch = arch.vae
    n = len(vae_arch.block_out_channels)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=vae_arch.latent_channels,
        down_block_types=["DownEncoderBlock2D"] * n, up_block_types=["UpDecoderBlock2D"] * n,
        block_out_channels=vae_arch.block_out_channels, layers_per_block=vae_arch.layers_per_block,
        norm_num_groups=vae_arch.norm_num_groups, sample_size=arch.image_size,
        scaling_factor=vae_arch.scaling_factor,
    )


def build_random_components(arch: PipelineArchitecture, tokenizer: CLIPTokenizer,
                            seed: int = 0) -> dict[str, Any]:
    """Randomly initialised components (everything but the UNet and the tokenizer) of ``arch``.
    The CLIP image normaliser is the identity (mean 0, std 1)."""
    torch.manual_seed(seed)
    vae = build_vae(arch)
    img = arch.image_encoder
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=img.hidden_size, num_hidden_layers=img.num_hidden_layers,
        num_attention_heads=img.num_attention_heads, intermediate_size=img.intermediate_size,
        projection_dim=img.projection_dim, image_size=img.image_size, patch_size=img.patch_size,
        hidden_act=img.hidden_act,
    ))
    txt = arch.text_encoder
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=txt.hidden_size,
        num_hidden_layers=txt.num_hidden_layers, num_attention_heads=txt.num_attention_heads,
        intermediate_size=txt.intermediate_size, projection_dim=txt.projection_dim,
        max_position_embeddings=tokenizer.model_max_length, hidden_act=txt.hidden_act,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))
    feature_extractor = CLIPImageProcessor(
        size={"shortest_edge": img.image_size},
        crop_size={"height": img.image_size, "width": img.image_size},
        image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD),
    )
    return {
        "vae": vae.eval(),
        "image_encoder": image_encoder.eval(),
        "text_encoder": text_encoder.eval(),
        "feature_extractor": feature_extractor,
        "tokenizer": tokenizer,
        "image_normalizer": StableUnCLIPImageNormalizer(embedding_dim=img.projection_dim),
        "image_noising_scheduler": DDPMScheduler(**UNCLIP_IMAGE_NOISING),
        "scheduler": DDIMScheduler(**SD2_SCHEDULE),
    }


# --- consistency --------------------------------------------------------------------------------
def check_components(source: str, *, unet: Any, vae: Any, image_encoder: Any,
                     image_normalizer: Any, text_width: int | None = None,
                     prompt_embeds: torch.Tensor | None = None) -> None:
    """Raise :class:`WeightsError` (one line, naming ``source``) when the components do not fit
    together: the checks that would have caught the prior mouse fork's 768-wide embeddings."""
    config = unet.config
    if config.in_channels != 8:
        raise WeightsError(
            f"{source}: the UNet has in_channels {config.in_channels}; an image-conditioned "
            "multi-view UNet needs 8 (4 noisy latents + 4 latents of the input view)"
        )
    latent = vae.config.latent_channels
    if config.out_channels != latent or 2 * latent != 8:
        raise WeightsError(f"{source}: the UNet predicts {config.out_channels} channels but the "
                           f"VAE has {latent} latent channels")
    if config.class_embed_type != "projection":
        raise WeightsError(f"{source}: the UNet's class_embed_type is "
                           f"{config.class_embed_type!r}; Stable unCLIP needs 'projection'")
    proj = image_encoder.config.projection_dim
    if config.projection_class_embeddings_input_dim != 2 * proj:
        raise WeightsError(
            f"{source}: the UNet expects {config.projection_class_embeddings_input_dim}-d class "
            f"labels but the image encoder gives {proj}-d embeddings (+{proj} noise level = "
            f"{2 * proj})"
        )
    norm = image_normalizer.mean.shape[-1]
    if norm != proj:
        raise WeightsError(f"{source}: the image normaliser is {norm}-d but the image encoder's "
                           f"embeddings are {proj}-d")
    width = config.cross_attention_dim
    if text_width is not None and text_width != width:
        raise WeightsError(f"{source}: the text encoder is {text_width} wide but the UNet's "
                           f"cross_attention_dim is {width}")
    if prompt_embeds is not None:
        if prompt_embeds.ndim != 3:
            raise WeightsError(f"{source}: prompt embeddings must be (views, tokens, width), got "
                               f"shape {tuple(prompt_embeds.shape)}")
        if prompt_embeds.shape[-1] != width:
            raise WeightsError(
                f"{source}: prompt embeddings are {prompt_embeds.shape[-1]} wide but the UNet's "
                f"cross_attention_dim is {width} (embeddings from another text encoder?)"
            )
