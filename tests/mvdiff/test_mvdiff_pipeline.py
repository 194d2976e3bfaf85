"""Sampling views with the Stage-1 pipeline: shapes, seeds, disk round trips, component checks."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest
import torch
from diffusers import DDIMScheduler, StableUnCLIPImg2ImgPipeline
from PIL import Image

from mouselift.cameras.rig import RigError, facelift_rig
from mouselift.errors import MouseliftError, WeightsError
from mouselift.mvdiff import MultiViewDiffusionPipeline, build_unet
from mouselift.mvdiff.conditioning import drop_conditions, unclip_class_labels
from mouselift.mvdiff.solvers import SOLVERS

SIZE = 64  # the tiny pipeline fixture renders 64×64 views


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    torch.manual_seed(7)
    rgba = torch.rand(4, 48, 48)
    rgba[3] = (rgba[3] > 0.3).float()
    return rgba


def test_views_have_the_rig_shape_and_follow_the_seed(tiny_pipeline, image):
    out = tiny_pipeline(image, num_inference_steps=3, seed=1)
    assert out.images.shape == (1, 6, 3, SIZE, SIZE)
    assert out.inputs.shape == (1, 3, SIZE, SIZE)
    assert float(out.images.min()) >= 0.0 and float(out.images.max()) <= 1.0
    again = tiny_pipeline(image, num_inference_steps=3, seed=1)
    assert torch.equal(out.images, again.images)
    other = tiny_pipeline(image, num_inference_steps=3, seed=2)
    assert (other.images - out.images).abs().max() > 1e-3


def test_objects_in_a_batch_do_not_interact(tiny_pipeline, image):
    """Changing object 1 of a batch leaves object 0's views exactly as they were; PIL and
    tensor inputs give the same input image."""
    pil = Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype("uint8"), "RGBA")
    a = tiny_pipeline([image, pil], num_inference_steps=2, seed=4)
    b = tiny_pipeline([image, torch.rand(3, 48, 48)], num_inference_steps=2, seed=4)
    assert a.images.shape[:2] == (2, 6)
    torch.testing.assert_close(a.inputs[0], a.inputs[1], atol=1 / 255, rtol=0)
    assert torch.equal(a.images[0], b.images[0])
    assert (a.images[1] - b.images[1]).abs().max() > 1e-3


def test_dpm_solver_and_guidance_options(tiny_pipeline, image):
    ddim = tiny_pipeline(image, num_inference_steps=4, seed=0)
    dpm = tiny_pipeline(image, num_inference_steps=4, seed=0, solver="dpm++")
    unguided = tiny_pipeline(image, num_inference_steps=4, seed=0, guidance_scale=1.0)
    assert dpm.images.shape == ddim.images.shape
    assert (dpm.images - ddim.images).abs().max() > 0
    assert (unguided.images - ddim.images).abs().max() > 0
    with pytest.raises(ValueError, match="unknown solver"):
        tiny_pipeline(image, num_inference_steps=2, solver="euler")


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_every_solver_samples_the_same_views_for_a_seed(tiny_pipeline, image, solver):
    out = tiny_pipeline(image, num_inference_steps=2, seed=5, solver=solver)
    assert out.images.shape == (1, 6, 3, SIZE, SIZE) and bool(out.images.isfinite().all())
    again = tiny_pipeline(image, num_inference_steps=2, seed=5, solver=solver)
    assert torch.equal(out.images, again.images)


def test_ddim_eta_is_facelift_stochastic_by_default(tiny_pipeline, image):
    """FaceLift samples DDIM with eta = 1: the default; eta = 0 is another sampler; both are
    reproducible for a seed. DPM-Solver++ takes no eta."""
    default = tiny_pipeline(image, num_inference_steps=4, seed=3)
    eta1 = tiny_pipeline(image, num_inference_steps=4, seed=3, eta=1.0)
    eta0 = tiny_pipeline(image, num_inference_steps=4, seed=3, eta=0.0)
    assert torch.equal(default.images, eta1.images)
    assert torch.equal(eta0.images, tiny_pipeline(image, num_inference_steps=4, seed=3,
                                                  eta=0.0).images)
    assert (eta1.images - eta0.images).abs().max() > 1e-3
    with pytest.raises(ValueError, match="DDIM only"):
        tiny_pipeline(image, num_inference_steps=2, solver="dpm++", eta=1.0)
    with pytest.raises(ValueError, match="eta must be in"):
        tiny_pipeline(image, num_inference_steps=2, eta=1.5)


@torch.no_grad()
def test_ddim_eta_one_equals_a_reference_loop(tiny_pipeline, image):
    """Our sampler == a hand-written loop of diffusers' ``DDIMScheduler.step(..., eta=1.0,
    generator=...)`` over the same UNet: same latents, same noise draws, guidance 3."""
    steps, seed, guidance = 5, 11, 3.0
    ours = tiny_pipeline(image, num_inference_steps=steps, seed=seed,
                         guidance_scale=guidance).images

    pipe = tiny_pipeline
    views = pipe.rig.num_views
    generator = torch.Generator().manual_seed(seed)
    inputs = pipe.prepare_inputs(image)
    labels, cond_latents = pipe.encode_condition(inputs, generator)
    labels = torch.cat([torch.zeros_like(labels), labels]).repeat_interleave(views, dim=0)
    cond_latents = torch.cat([torch.zeros_like(cond_latents), cond_latents])
    cond_latents = cond_latents.repeat_interleave(views, dim=0)
    prompts = pipe.prompt_embeds.repeat(2, 1, 1)
    scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    latents = torch.randn((views, 4, SIZE // 8, SIZE // 8), generator=generator)
    scheduler.set_timesteps(steps)
    latents = latents * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        x = scheduler.scale_model_input(torch.cat([latents, latents]), t)
        x = torch.cat([x, cond_latents], dim=1)
        noise_pred = pipe.unet(x, t.expand(x.shape[0]), encoder_hidden_states=prompts,
                               class_labels=labels).sample
        uncond, cond = noise_pred.chunk(2)
        guided = uncond + guidance * (cond - uncond)
        latents = scheduler.step(guided, t, latents, eta=1.0, generator=generator).prev_sample
    theirs = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    theirs = ((theirs + 1) / 2).clamp(0, 1)
    torch.testing.assert_close(ours[0], theirs, rtol=0, atol=1e-6)


def test_save_and_reload_gives_the_same_views(tiny_pipeline, image, tmp_path):
    first = tiny_pipeline(image, num_inference_steps=3, seed=5)
    folder = tiny_pipeline.save_pretrained(tmp_path / "copy")
    index = json.loads((folder / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert (folder / "rig" / "prompt_embeds.safetensors").is_file()
    reloaded = MultiViewDiffusionPipeline.from_pretrained(folder)
    assert reloaded.rig.fingerprint() == tiny_pipeline.rig.fingerprint()
    assert torch.equal(reloaded(image, num_inference_steps=3, seed=5).images, first.images)
    # the frozen parts were hard-linked, not re-serialised
    vae = next((folder / "vae").glob("*.safetensors"))
    assert vae.stat().st_nlink >= 2


def test_facelift_pipeckpts_layout_loads(tiny_pipeline_dir, tmp_path, image):
    """FaceLift's folder: its UNet config names, no mouselift files, no rig → give the rig; the
    prompts are encoded with the folder's own text encoder."""
    folder = tmp_path / "pipeckpts"
    shutil.copytree(tiny_pipeline_dir, folder)
    shutil.rmtree(folder / "rig")
    (folder / "mouselift_mvdiff.json").unlink()
    config = json.loads((folder / "unet" / "config.json").read_text())
    config["_class_name"] = "UNetMV2DConditionModel"
    config["down_block_types"] = [b.replace("2D", "MV2D") if "CrossAttn" in b else b
                                  for b in config["down_block_types"]]
    config["up_block_types"] = [b.replace("2D", "MV2D") if "CrossAttn" in b else b
                                for b in config["up_block_types"]]
    config.update({"mid_block_type": "UNetMidBlockMV2DCrossAttn", "num_views": 6,
                   "sparse_mv_attention": True})
    (folder / "unet" / "config.json").write_text(json.dumps(config))
    bare = MultiViewDiffusionPipeline.from_pretrained(folder)
    with pytest.raises(RigError, match="mouselift embeds"):
        bare(image, num_inference_steps=1)
    pipe = MultiViewDiffusionPipeline.from_pretrained(folder, rig=facelift_rig(SIZE))
    reference = MultiViewDiffusionPipeline.from_pretrained(tiny_pipeline_dir)
    torch.testing.assert_close(pipe.prompt_embeds, reference.prompt_embeds)
    assert torch.equal(pipe(image, num_inference_steps=2, seed=0).images,
                       reference(image, num_inference_steps=2, seed=0).images)


def test_prompt_embedding_width_must_match_the_unet(tiny_pipeline):
    """The prior mouse fork shipped 768-wide embeddings for a 1024-wide UNet."""
    wrong = torch.zeros(6, 77, 24)  # the tiny UNet is 32 wide
    with pytest.raises(WeightsError, match="24 wide but the UNet's cross_attention_dim is 32"):
        tiny_pipeline.set_rig(facelift_rig(SIZE), wrong)
    with pytest.raises(RigError, match="needs 6 prompt embeddings"):
        tiny_pipeline.set_rig(facelift_rig(SIZE), torch.zeros(5, 77, 32))


def test_unet_must_take_eight_channels(tiny_arch, tiny_pipeline):
    four = build_unet(tiny_arch.unet.model_copy(update={"in_channels": 8}))
    four.register_to_config(in_channels=4)
    parts = {name: getattr(tiny_pipeline, name) for name in (
        "vae", "image_encoder", "feature_extractor", "image_normalizer",
        "image_noising_scheduler", "scheduler")}
    with pytest.raises(WeightsError, match=r"in_channels 4; .* needs 8"):
        MultiViewDiffusionPipeline(unet=four, **parts)
    wrong_proj = build_unet(tiny_arch.unet.model_copy(
        update={"projection_class_embeddings_input_dim": 64}))
    with pytest.raises(WeightsError, match="expects 64-d class labels"):
        MultiViewDiffusionPipeline(unet=wrong_proj, **parts)


def test_missing_component_is_named(tiny_pipeline_dir, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_pipeline_dir, folder)
    shutil.rmtree(folder / "image_encoder")
    with pytest.raises(WeightsError, match=r"missing image_encoder/"):
        MultiViewDiffusionPipeline.from_pretrained(folder)
    with pytest.raises(MouseliftError, match="nowhere: does not exist"):
        MultiViewDiffusionPipeline.from_pretrained(tmp_path / "nowhere")


def test_class_labels_match_diffusers_unclip(tiny_pipeline):
    """Our unCLIP conditioning equals diffusers' StableUnCLIPImg2ImgPipeline.noise_image_embeddings
    (normaliser, noising at level 0, [embedding ⊕ level embedding])."""
    torch.manual_seed(0)
    normalizer = tiny_pipeline.image_normalizer
    with torch.no_grad():
        normalizer.mean.copy_(torch.randn_like(normalizer.mean))
        normalizer.std.copy_(torch.rand_like(normalizer.std) + 0.5)
    embeds = torch.randn(3, normalizer.mean.shape[-1])
    generator = torch.Generator().manual_seed(11)
    ours = unclip_class_labels(embeds, normalizer, tiny_pipeline.image_noising_scheduler, 0,
                               generator)
    noise = torch.randn(embeds.shape, generator=torch.Generator().manual_seed(11))
    fake = SimpleNamespace(image_normalizer=normalizer,
                           image_noising_scheduler=tiny_pipeline.image_noising_scheduler)
    theirs = StableUnCLIPImg2ImgPipeline.noise_image_embeddings(fake, embeds, 0, noise=noise)
    torch.testing.assert_close(ours, theirs)
    assert ours.shape == (3, 2 * embeds.shape[1])


def test_dropped_conditions_are_zero_as_a_whole():
    labels, latents = torch.ones(4, 6), torch.ones(4, 4, 2, 2)
    drop = torch.tensor([True, False, False, True])
    both_labels, both_latents = drop_conditions(labels, latents, drop)
    assert both_labels.sum(dim=1).tolist() == [0, 6, 6, 0]
    assert both_latents.sum(dim=(1, 2, 3)).tolist() == [0, 16, 16, 0]
    # separate masks: CLIP labels of rows 0, 1; input latents of rows 1, 2
    clip = torch.tensor([True, True, False, False])
    lat = torch.tensor([False, True, True, False])
    some_labels, some_latents = drop_conditions(labels, latents, clip, lat)
    assert some_labels.sum(dim=1).tolist() == [0, 0, 6, 6]
    assert some_latents.sum(dim=(1, 2, 3)).tolist() == [16, 0, 0, 16]


def test_output_files(tiny_pipeline, image, tmp_path):
    out = tiny_pipeline(image, num_inference_steps=1)
    paths = out.save(tmp_path / "views")
    assert [p.stem for p in paths] == tiny_pipeline.rig.names
    with Image.open(tmp_path / "views" / "grid.png") as grid:
        assert grid.size == (7 * SIZE, SIZE)


def test_clip_preprocessing_matches_the_feature_extractor():
    """Our batched torch preprocessing ≈ transformers' CLIP processor (same crop size, mean and
    std; only the resampling filter's 8-bit rounding differs)."""
    import numpy as np

    from mouselift.mvdiff.components import CLIP_MEAN, CLIP_STD, CLIPImageProcessor
    from mouselift.mvdiff.conditioning import clip_pixel_values

    processor = CLIPImageProcessor(size={"shortest_edge": 224},
                                   crop_size={"height": 224, "width": 224},
                                   image_mean=list(CLIP_MEAN), image_std=list(CLIP_STD))
    rng = np.random.default_rng(0)
    smooth = rng.random((8, 8, 3))
    image = np.kron(smooth, np.ones((64, 64, 1)))  # 512², piecewise constant
    pixels = (image * 255).round().astype(np.uint8)
    theirs = processor(images=[pixels], return_tensors="pt").pixel_values
    ours = clip_pixel_values(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255,
                             processor)
    assert ours.shape == theirs.shape == (1, 3, 224, 224)
    assert (ours - theirs).abs().mean() < 0.01


def test_inputs_must_have_the_rig_aspect_ratio(tiny_pipeline):
    from mouselift.mvdiff.pipeline import InputImageError

    with pytest.raises(InputImageError, match="is 64×48 but the rig's views are 64×64"):
        tiny_pipeline(torch.rand(3, 48, 64), num_inference_steps=1)
    with pytest.raises(InputImageError, match=r"3 \(RGB\) or 4 \(RGBA\) channels"):
        tiny_pipeline(torch.rand(2, 64, 64), num_inference_steps=1)


def test_text_encoder_width_must_match_the_unet(tiny_pipeline):
    from transformers import CLIPTextConfig, CLIPTextModel

    narrow = CLIPTextModel(CLIPTextConfig(vocab_size=600, hidden_size=24, num_hidden_layers=1,
                                         num_attention_heads=2, intermediate_size=32))
    parts = {name: getattr(tiny_pipeline, name) for name in (
        "unet", "vae", "image_encoder", "feature_extractor", "image_normalizer",
        "image_noising_scheduler", "scheduler")}
    with pytest.raises(WeightsError, match="text encoder is 24 wide but the UNet's "
                                           "cross_attention_dim is 32"):
        MultiViewDiffusionPipeline(**parts, text_encoder=narrow)
