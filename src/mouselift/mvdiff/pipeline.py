"""Sampling ``V`` views of an object from one image (Stage 1), and pipeline folders on disk.

>>> pipe = MultiViewDiffusionPipeline.from_pretrained("checkpoints/mvdiffusion/pipeckpts",
...                                                   rig=facelift_rig())   # doctest: +SKIP
>>> out = pipe(Image.open("mouse.png"), seed=0)                             # doctest: +SKIP
>>> out.images.shape        # (objects, views, 3, H, W), RGB in [0, 1]       # doctest: +SKIP

Sampling follows FaceLift: the input image (RGBA is composited over ``background``, white by
default) gives the CLIP class labels and the VAE latents concatenated to every view's noisy
latents; each view has its rig prompt; classifier-free guidance mixes a branch whose class labels
and input latents are zero. The solver, steps, guidance and eta are
:class:`~mouselift.mvdiff.solvers.SamplingSettings` (the solvers' table: :mod:`.solvers`).
Default: FaceLift's sampler — DDIM, 50 steps, guidance 3, **eta 1** (stochastic DDIM: each step
adds fresh noise drawn from the same generator). ``eta=0`` gives deterministic DDIM.
``solver="dpm++"`` uses DPM-Solver++ (2nd order multistep), good at 20 steps (the fast option; it
has no eta). Noise is drawn on the CPU from ``seed`` (FaceLift draws it on the GPU), so a seed
gives the same views on any device (up to float arithmetic).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from tqdm.auto import tqdm

from ..atomic import atomic_dir
from ..cameras.rig import (
    RIG_DIR,
    Rig,
    RigError,
    load_prompt_embeds,
    load_rig,
)
from ..errors import MouseliftError, WeightsError
from ..images import background_tensor, chw_to_uint8, composite, image_grid, resize
from ..train.checkpoints import resolve_payload
from .attention import set_multiview_attention
from .camera_embedding import (
    CameraEmbedding,
    MultiViewDenoiser,
    relative_pose_features,
    time_embed_dim,
)
from .components import (
    CAMERA_EMBEDDING,
    REQUIRED,
    SETTINGS_FILE,
    TEXT,
    build_random_components,
    check_components,
    load_component,
    write_byte_tokenizer,
)
from .conditioning import (
    clip_image_embeds,
    decode_latents,
    to_image_tensor,
    unclip_class_labels,
    vae_latents,
)
from .config import PipelineArchitecture
from .solvers import DEFAULT_GUIDANCE, SamplingSettings
from .unet import MultiViewSettings, build_unet, load_unet

SETTINGS_FORMAT = "mouselift-mvdiff"
#: A training checkpoint's payload: the whole pipeline in diffusers layout (EMA weights, rig).
PIPELINE_DIR = "pipeline"

_MODEL_INDEX = {
    "_class_name": "StableUnCLIPImg2ImgPipeline",
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
    "image_noising_scheduler": ["diffusers", "DDPMScheduler"],
    "image_normalizer": ["stable_diffusion", "StableUnCLIPImageNormalizer"],
    "scheduler": ["diffusers", "DDIMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


class InputImageError(MouseliftError):
    """An input image cannot be used (one-line message)."""


@dataclass
class MultiViewOutput:
    """``images`` ``(B, V, 3, H, W)`` float in [0, 1], view order of ``rig``; ``inputs``
    ``(B, 3, H, W)`` the composited input images at the rig's resolution."""

    images: torch.Tensor
    inputs: torch.Tensor
    rig: Rig

    def to_pil(self, obj: int = 0) -> list[Image.Image]:
        return [_pil(view) for view in self.images[obj]]

    def grid(self, obj: int = 0, with_input: bool = True) -> Image.Image:
        """One row: [input |] view 0 … view V−1."""
        tiles = ([self.inputs[obj]] if with_input else []) + list(self.images[obj])
        return image_grid([[chw_to_uint8(tile) for tile in tiles]])

    def save(self, folder: str | os.PathLike, obj: int = 0) -> list[Path]:
        """Write ``<view name>.png`` for each view and ``grid.png``; returns the view paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, image in zip(self.rig.names, self.to_pil(obj), strict=True):
            path = folder / f"{name}.png"
            image.save(path)
            paths.append(path)
        self.grid(obj).save(folder / "grid.png")
        return paths


def _pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(chw_to_uint8(image))


class MultiViewDiffusionPipeline:
    """Stage 1: a diffusers UNet with multi-view attention and its Stable unCLIP components.

    Components are plain attributes (``unet``, ``vae``, ``image_encoder``, ``feature_extractor``,
    ``image_normalizer``, ``image_noising_scheduler``, ``scheduler``, ``text_encoder``,
    ``tokenizer``, ``camera_embedding``). The text encoder is only needed to make prompt
    embeddings and is loaded on first use. ``rig`` and ``prompt_embeds`` ``(V, 77, D)`` say which
    views are generated.
    """

    def __init__(self, *, unet: Any, vae: Any, image_encoder: Any, feature_extractor: Any,
                 image_normalizer: Any, image_noising_scheduler: Any, scheduler: Any,
                 text_encoder: Any = None, tokenizer: Any = None,
                 camera_embedding: CameraEmbedding | None = None,
                 settings: MultiViewSettings | None = None, rig: Rig | None = None,
                 prompt_embeds: torch.Tensor | None = None,
                 source: str | os.PathLike | None = None) -> None:
        self.unet = unet
        self.vae = vae
        self.image_encoder = image_encoder
        self.feature_extractor = feature_extractor
        self.image_normalizer = image_normalizer
        self.image_noising_scheduler = image_noising_scheduler
        self.scheduler = scheduler
        self._text_encoder = text_encoder
        self._tokenizer = tokenizer
        self.camera_embedding = camera_embedding
        self.settings = settings or MultiViewSettings()
        self.source = Path(source) if source is not None else None
        self.rig: Rig | None = None
        self.prompt_embeds: torch.Tensor | None = None
        check_components(self._label, unet=unet, vae=vae, image_encoder=image_encoder,
                         image_normalizer=image_normalizer,
                         text_width=_text_width(text_encoder))
        if camera_embedding is not None:
            expected = time_embed_dim(unet)
            if camera_embedding.config.time_embed_dim != expected:
                raise WeightsError(f"{self._label}: camera embedding width "
                                   f"{camera_embedding.config.time_embed_dim} != the UNet's "
                                   f"time embedding {expected}")
        set_multiview_attention(unet, self.settings.num_views, self.settings.attention)
        if rig is not None:
            self.set_rig(rig, prompt_embeds)

    @property
    def _label(self) -> str:
        return str(self.source) if self.source is not None else "pipeline"

    # --- components ---------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    @property
    def native_size(self) -> int:
        """The square view side its UNet is built for: the UNet's latent size times the VAE's
        downsampling (FaceLift's ``pipeckpts``: 64 × 8 = 512 px; the ``tiny`` preset: 64 px)."""
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        return int(self.unet.config.sample_size) * factor

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = load_component(self._require_source("tokenizer"), "tokenizer")
        return self._tokenizer

    @property
    def text_encoder(self) -> Any:
        if self._text_encoder is None:
            encoder = load_component(self._require_source("text_encoder"), "text_encoder")
            check_components(self._label, unet=self.unet, vae=self.vae,
                             image_encoder=self.image_encoder,
                             image_normalizer=self.image_normalizer,
                             text_width=_text_width(encoder))
            self._text_encoder = encoder.to(self.device).eval()
        return self._text_encoder

    def _require_source(self, name: str) -> Path:
        if self.source is None:
            raise WeightsError(f"this pipeline was built without a {name}")
        return self.source

    @property
    def denoiser(self) -> MultiViewDenoiser:
        """The UNet with the camera embedding (if any): what training optimises."""
        return MultiViewDenoiser(self.unet, self.camera_embedding)

    def to(self, device: str | torch.device | None = None,
           dtype: torch.dtype | None = None) -> MultiViewDiffusionPipeline:
        """Move the models (the camera embedding stays float32)."""
        for model in (self.unet, self.vae, self.image_encoder, self._text_encoder):
            if model is not None:
                if device is not None:
                    model.to(device)
                if dtype is not None and dtype != next(model.parameters()).dtype:
                    # plain Module.to: none of these models keeps modules in float32, and
                    # diffusers' override would warn on every cast
                    torch.nn.Module.to(model, dtype=dtype)
        self.image_normalizer.to(device)
        if self.camera_embedding is not None:
            self.camera_embedding.to(device=device)
        return self

    # --- rig and prompts -----------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompts(self, prompts: Sequence[str]) -> torch.Tensor:
        """``(N, L, D)`` float32 last hidden states of the text encoder (L = 77 for CLIP)."""
        tokenizer = self.tokenizer
        tokens = tokenizer(list(prompts), padding="max_length", truncation=True,
                           max_length=tokenizer.model_max_length, return_tensors="pt")
        encoder = self.text_encoder
        out = encoder(tokens.input_ids.to(self.device))[0]
        return out.float().cpu()

    def set_rig(self, rig: Rig, prompt_embeds: torch.Tensor | None = None) -> None:
        """Use ``rig``; its prompt embeddings are made with the text encoder unless given."""
        embeds = self.encode_prompts(rig.prompts) if prompt_embeds is None else prompt_embeds
        embeds = torch.as_tensor(embeds, dtype=torch.float32)
        if embeds.shape[0] != rig.num_views:
            raise RigError(f"{rig.summary()} needs {rig.num_views} prompt embeddings, got "
                           f"{embeds.shape[0]}")
        check_components(self._label, unet=self.unet, vae=self.vae,
                         image_encoder=self.image_encoder, image_normalizer=self.image_normalizer,
                         prompt_embeds=embeds)
        if rig.width % 8 or rig.height % 8:
            raise RigError(f"{rig.summary()}: image size must be a multiple of 8")
        self.rig = rig
        self.prompt_embeds = embeds
        if rig.num_views != self.settings.num_views:
            self.settings = MultiViewSettings(rig.num_views, self.settings.attention)
            set_multiview_attention(self.unet, rig.num_views, self.settings.attention)

    def _require_rig(self) -> tuple[Rig, torch.Tensor]:
        if self.rig is None or self.prompt_embeds is None:
            raise RigError(f"{self._label}: no rig with prompt embeddings; make them with "
                           "`mouselift embeds` or pass rig=")
        return self.rig, self.prompt_embeds

    # --- conditioning --------------------------------------------------------------------------
    def prepare_inputs(self, images: Any, background: str | Sequence[float] = "white"
                       ) -> torch.Tensor:
        """``(B, 3, H, W)`` input images at the rig's resolution (RGBA over ``background``).

        An input must have the rig's aspect ratio: it is taken to be framed like view 0 (a crop
        centred on the mouse, as ``mouselift prepare`` makes), and is only rescaled."""
        rig, _ = self._require_rig()
        items = images if isinstance(images, list | tuple) else [images]
        if isinstance(images, torch.Tensor) and images.ndim == 4:
            items = list(images)
        bg = background_tensor(background)
        out = []
        for k, item in enumerate(items):
            try:
                image = to_image_tensor(item)
            except ValueError as exc:
                raise InputImageError(f"input image {k}: {exc}") from None
            height, width = image.shape[-2:]
            if height * rig.width != width * rig.height:
                raise InputImageError(
                    f"input image {k} is {width}×{height} but the rig's views are "
                    f"{rig.width}×{rig.height}: give a crop of that aspect ratio centred on the "
                    "mouse (as `mouselift prepare` makes)")
            out.append(resize(composite(image[None], bg, channels_last=False),
                              rig.height, rig.width))
        return torch.cat(out)

    @torch.no_grad()
    def encode_condition(self, inputs: torch.Tensor, generator: torch.Generator | None = None,
                         noise_level: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """``(class_labels (B, 2P), image_latents (B, 4, h, w))`` of ``(B, 3, H, W)`` inputs."""
        x = inputs.to(self.device)
        embeds = clip_image_embeds(self.image_encoder, self.feature_extractor, x)
        labels = unclip_class_labels(embeds, self.image_normalizer, self.image_noising_scheduler,
                                     noise_level, generator)
        return labels.to(self.dtype), vae_latents(self.vae, x).to(self.dtype)

    def pose_features(self) -> torch.Tensor:
        """``(V, 12)`` relative poses of the rig's views (for the camera embedding)."""
        rig, _ = self._require_rig()
        return relative_pose_features(rig.cameras)

    # --- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(self, images: Any, *, num_inference_steps: int | None = None,
                 guidance_scale: float = DEFAULT_GUIDANCE, solver: str = "ddim",
                 eta: float | None = None, seed: int = 0,
                 background: str | Sequence[float] = "white",
                 pose_features: torch.Tensor | None = None,
                 progress: bool = False) -> MultiViewOutput:
        """Generate the rig's views of each input image (PIL, array or tensor; or a list).

        ``solver``, ``num_inference_steps``, ``guidance_scale`` and ``eta`` are checked as
        :class:`~mouselift.mvdiff.solvers.SamplingSettings` (a ``ValueError`` when invalid).
        ``eta``: DDIM's stochasticity, default FaceLift's 1.0 (0 = deterministic DDIM); not
        accepted with ``solver="dpm++"``. Every random draw (unCLIP noise, initial latents, the
        noise DDIM adds at each step) comes from one CPU generator seeded with ``seed``."""
        rig, prompt_embeds = self._require_rig()
        sampling = SamplingSettings(solver=solver, steps=num_inference_steps,
                                    guidance=guidance_scale, eta=eta)
        eta, steps, guidance_scale = sampling.sampling_eta, sampling.num_steps, sampling.guidance
        scheduler = sampling.make_scheduler(self.scheduler.config)
        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        inputs = self.prepare_inputs(images, background)
        objects, views = inputs.shape[0], rig.num_views
        labels, latents_in = self.encode_condition(inputs, generator)
        device, dtype = self.device, self.dtype

        labels = labels.repeat_interleave(views, dim=0)
        latents_in = latents_in.repeat_interleave(views, dim=0)
        prompts = prompt_embeds.to(device, dtype).repeat(objects, 1, 1)
        poses = None
        if self.camera_embedding is not None:
            poses = self.pose_features() if pose_features is None else pose_features
            poses = poses.reshape(-1, views, poses.shape[-1]).expand(objects, -1, -1)
            poses = poses.reshape(objects * views, -1).to(device)
        guided = guidance_scale > 1.0
        if guided:
            labels = torch.cat([torch.zeros_like(labels), labels])
            latents_in = torch.cat([torch.zeros_like(latents_in), latents_in])
            prompts = torch.cat([prompts, prompts])
            poses = torch.cat([poses, poses]) if poses is not None else None

        shape = (objects * views, latents_in.shape[1], *latents_in.shape[2:])
        latents = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
        scheduler.set_timesteps(steps, device=device)
        latents = latents * scheduler.init_noise_sigma
        denoiser = self.denoiser
        for t in tqdm(scheduler.timesteps, desc="sampling views", disable=not progress,
                      leave=False):
            x = torch.cat([latents, latents]) if guided else latents
            x = scheduler.scale_model_input(x, t)
            x = torch.cat([x.to(dtype), latents_in], dim=1)
            timesteps = t.expand(x.shape[0]).to(device)
            prediction = denoiser(x, timesteps, prompts, labels, poses).float()
            if guided:
                uncond, cond = prediction.chunk(2)
                prediction = uncond + guidance_scale * (cond - uncond)
            extra = {"eta": eta} if eta is not None else {}
            latents = scheduler.step(prediction, t, latents, generator=generator,
                                     **extra).prev_sample
        decoded = decode_latents(self.vae, latents).cpu()
        images_out = decoded.view(objects, views, *decoded.shape[1:])
        return MultiViewOutput(images_out, inputs.cpu(), rig)

    # --- building, loading, saving ---------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, *, rig: Rig | None = None,
                        prompt_embeds: torch.Tensor | None = None,
                        dtype: torch.dtype | None = None,
                        device: str | torch.device | None = None,
                        load_text_encoder: bool = False) -> MultiViewDiffusionPipeline:
        """Load a pipeline folder (ours or FaceLift's ``pipeckpts``) from a local path; a
        training run (its newest complete checkpoint) or checkpoint folder (its ``pipeline/``)
        names its pipeline (:func:`~mouselift.train.checkpoints.resolve_payload`).

        The rig is ``rig`` if given (prompt embeddings are then made with the text encoder unless
        ``prompt_embeds`` is given), else the folder's ``rig/`` if any."""
        folder, _ = resolve_payload(folder, PIPELINE_DIR)
        if not folder.is_dir():
            raise WeightsError(f"{folder}: not a folder (a Stage-1 pipeline is a folder)")
        missing = [name for name in REQUIRED if not (folder / name).is_dir()]
        if missing:
            raise WeightsError(f"{folder}: not a Stage-1 pipeline folder (missing "
                               f"{', '.join(m + '/' for m in missing)})")
        unet, settings = load_unet(folder / "unet", dtype=dtype)
        settings = _read_settings(folder, settings)
        parts = {name: load_component(folder, name, dtype) for name in REQUIRED if name != "unet"}
        text = {}
        if load_text_encoder:
            text = {n: load_component(folder, n, dtype) for n in TEXT}
        camera = None
        if (folder / CAMERA_EMBEDDING).is_dir():
            try:
                camera = CameraEmbedding.from_pretrained(str(folder / CAMERA_EMBEDDING))
            except (OSError, ValueError) as exc:
                raise WeightsError(f"{folder / CAMERA_EMBEDDING}: cannot load "
                                   f"({str(exc).splitlines()[0]})") from None
        pipe = cls(unet=unet, **parts, **text, camera_embedding=camera, settings=settings,
                   source=folder)
        if device is not None:
            pipe.to(device)
        if rig is not None:
            pipe.set_rig(rig, prompt_embeds)
        elif (folder / RIG_DIR).is_dir():
            saved = load_rig(folder / RIG_DIR)
            embeds = load_prompt_embeds(folder / RIG_DIR, saved)
            pipe.set_rig(saved, embeds)
        return pipe

    @classmethod
    def from_architecture(cls, arch: PipelineArchitecture, *, rig: Rig | None = None,
                          seed: int = 0, workdir: str | os.PathLike | None = None
                          ) -> MultiViewDiffusionPipeline:
        """A randomly initialised pipeline of ``arch`` (its tokenizer files are written to
        ``workdir/tokenizer``, or to a temporary folder that is removed again: the loaded
        tokenizer lives in memory). With ``rig`` its prompts are encoded."""
        import tempfile

        if workdir is None:
            with tempfile.TemporaryDirectory(prefix="mouselift_tok_") as tmp:
                tokenizer = write_byte_tokenizer(Path(tmp) / "tokenizer")
        else:
            tokenizer = write_byte_tokenizer(Path(workdir) / "tokenizer")
        parts = build_random_components(arch, tokenizer, seed)
        torch.manual_seed(seed + 1)
        unet = build_unet(arch.unet).eval()
        camera = None
        if arch.camera_embedding:
            camera = CameraEmbedding(time_embed_dim=time_embed_dim(unet),
                                     hidden_dim=arch.camera_embedding_hidden)
        settings = MultiViewSettings(arch.num_views, arch.attention)
        return cls(unet=unet, **parts, camera_embedding=camera, settings=settings, rig=rig)

    def save_pretrained(self, folder: str | os.PathLike, *, link_frozen: bool = True) -> Path:
        """Write the pipeline folder atomically (built beside ``folder``, then renamed over it).

        With ``link_frozen`` and a pipeline loaded from disk, components that are never trained
        (VAE, CLIP encoders, tokenizer, schedulers, normaliser) are hard-linked from the source
        folder (copied where linking fails) instead of re-serialised."""
        folder = Path(folder).absolute()
        with atomic_dir(folder, replace=True) as partial:
            self._write(partial, link_frozen)
        return folder

    def _write(self, out: Path, link_frozen: bool) -> None:
        import diffusers

        self.unet.save_pretrained(str(out / "unet"))
        if self.camera_embedding is not None:
            self.camera_embedding.save_pretrained(str(out / CAMERA_EMBEDDING))
        frozen = {
            "vae": self.vae, "image_encoder": self.image_encoder,
            "feature_extractor": self.feature_extractor,
            "image_normalizer": self.image_normalizer,
            "image_noising_scheduler": self.image_noising_scheduler,
            "scheduler": self.scheduler,
            "text_encoder": self._text_encoder, "tokenizer": self._tokenizer,
        }
        for name, component in frozen.items():
            source = self.source / name if self.source is not None else None
            if link_frozen and source is not None and source.is_dir():
                link_tree(source, out / name)
            elif component is not None:
                component.save_pretrained(str(out / name))
            elif source is not None and source.is_dir():
                link_tree(source, out / name)
        index = {**_MODEL_INDEX, "_diffusers_version": diffusers.__version__}
        (out / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        settings = {"format": SETTINGS_FORMAT, "version": 1,
                    "num_views": self.settings.num_views, "attention": self.settings.attention,
                    "camera_embedding": self.camera_embedding is not None}
        (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
        if self.rig is not None:
            self.rig.save(out / RIG_DIR, self.prompt_embeds)


def _text_width(text_encoder: Any) -> int | None:
    return None if text_encoder is None else int(text_encoder.config.hidden_size)


def _read_settings(folder: Path, default: MultiViewSettings) -> MultiViewSettings:
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return default
    try:
        data = json.loads(path.read_text())
        return MultiViewSettings(int(data["num_views"]), data["attention"])
    except (ValueError, KeyError, TypeError):
        raise WeightsError(f"{path}: malformed pipeline settings") from None


def link_tree(source: Path, target: Path) -> None:
    """Recreate ``source`` at ``target`` with hard links (copies where linking fails)."""
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path.resolve(), dest)
        except OSError:
            shutil.copy2(path, dest)
