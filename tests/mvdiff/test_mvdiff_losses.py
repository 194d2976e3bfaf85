"""The training objective: FaceLift's rules (``train_diffusion.py``) by default, each difference a
named option — min-SNR weights, the three-way condition drop, sampled target latents."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDPMScheduler
from diffusers.training_utils import compute_snr

from mouselift.mvdiff.conditioning import vae_latents
from mouselift.mvdiff.losses import (
    Objective,
    condition_drop_masks,
    diffusion_loss,
    snr_loss_weights,
)
from mouselift.mvdiff.train_config import load_train_mvdiff_config


class Recorder(torch.nn.Module):
    """Predicts zeros and keeps what the objective fed it."""

    def forward(self, sample, t, prompts, labels, poses):
        self.seen = {"sample": sample, "t": t, "prompts": prompts, "labels": labels}
        return torch.zeros(sample.shape[0], 4, *sample.shape[2:])


def _hand_snr(t: np.ndarray) -> np.ndarray:
    """SNR of FaceLift's schedule by hand: scaled_linear betas 0.00085 … 0.012 over 1000 steps,
    ᾱ = Π(1 − β), SNR = ᾱ / (1 − ᾱ)."""
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000) ** 2
    alpha_bar = np.cumprod(1.0 - betas)
    return alpha_bar[t] / (1.0 - alpha_bar[t])


def test_snr_weights_against_hand_computed_values(tiny_pipeline):
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    t = np.array([0, 50, 250, 500, 999])
    snr_hand = _hand_snr(t)
    snr = compute_snr(scheduler, torch.from_numpy(t))
    np.testing.assert_allclose(snr.numpy(), snr_hand, rtol=1e-4)
    facelift = snr_loss_weights(snr, 5.0, "facelift", v_prediction=True).numpy()
    diffusers_v = snr_loss_weights(snr, 5.0, "v-prediction", v_prediction=True).numpy()
    np.testing.assert_allclose(facelift, np.minimum(snr_hand, 5.0) / snr_hand, rtol=1e-4)
    np.testing.assert_allclose(diffusers_v, np.minimum(snr_hand, 5.0) / (snr_hand + 1),
                               rtol=1e-4)
    # t = 0: SNR ≈ 1175 → 5/SNR ≈ 0.00425 (FaceLift) vs 5/(SNR + 1); t = 999: SNR ≈ 0.0047,
    # FaceLift's weight is 1 while diffusers' v rule nearly ignores the step
    assert facelift[0] == pytest.approx(5.0 / 1175.47, rel=1e-3)
    assert facelift[-1] == pytest.approx(1.0, abs=1e-6)
    assert diffusers_v[-1] == pytest.approx(snr_hand[-1] / (snr_hand[-1] + 1), rel=1e-4)
    assert diffusers_v[-1] < 0.005
    # with an ε target both rules are min(SNR, γ)/SNR; no γ: weight 1
    eps = snr_loss_weights(snr, 5.0, "v-prediction", v_prediction=False)
    torch.testing.assert_close(eps, torch.from_numpy(facelift))
    assert torch.equal(snr_loss_weights(snr, None, "facelift", True), torch.ones(5))


def _below(x: float) -> float:
    x32 = torch.tensor(x, dtype=torch.float32)
    return float(torch.nextafter(x32, torch.tensor(-1.0)))


def test_condition_drop_masks_at_the_bin_edges():
    r = 0.05
    edges = [float(torch.tensor(k * r, dtype=torch.float32)) for k in (1, 2, 3)]
    p = torch.tensor([0.0, _below(edges[0]), edges[0], _below(edges[1]), edges[1],
                      _below(edges[2]), edges[2], 0.7], dtype=torch.float32)
    clip, latents = condition_drop_masks(p, r, "facelift")
    #                     0    <r     r     <2r    2r     <3r    3r     0.7
    assert clip.tolist() == [True, True, True, True, False, False, False, False]
    assert latents.tolist() == [False, False, True, True, True, True, False, False]
    both, same = condition_drop_masks(p, r, "joint")
    assert both.tolist() == [True, True, False, False, False, False, False, False]
    assert torch.equal(both, same)


def test_condition_drop_rates_over_many_objects():
    """5 % CLIP only, 5 % both, 5 % latents only (FaceLift) vs 5 % both (joint)."""
    p = torch.rand(200_000, generator=torch.Generator().manual_seed(0))
    clip, lat = condition_drop_masks(p, 0.05, "facelift")
    for mask, rate in ((clip & ~lat, 0.05), (clip & lat, 0.05), (~clip & lat, 0.05),
                       (~clip & ~lat, 0.85)):
        assert float(mask.float().mean()) == pytest.approx(rate, abs=0.003)


def _replay_drop_draw(seed: int, objective: Objective, pipe, objects: int, views: int,
                      size: int) -> torch.Tensor:
    """The ``p`` that :func:`diffusion_loss` draws, replayed in its documented order: target
    latent sample (when sampled), unCLIP noise, then one uniform per object."""
    generator = torch.Generator().manual_seed(seed)
    if objective.target_latents == "sample":
        latent = size // 8
        torch.randn((objects * views, pipe.vae.config.latent_channels, latent, latent),
                    generator=generator)
    torch.randn((objects, pipe.image_normalizer.mean.shape[-1]), generator=generator)
    return torch.rand(objects, generator=generator)


@pytest.mark.parametrize("rule", ["facelift", "joint"])
def test_loss_drops_what_the_rule_says(tiny_pipeline, rule):
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    objects, views = 24, 6
    targets = torch.rand(objects, views, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    objective = Objective(condition_drop=0.3, condition_drop_rule=rule)
    model = Recorder()
    diffusion_loss(model, tiny_pipeline, scheduler, targets, None, tiny_pipeline.prompt_embeds,
                   torch.Generator().manual_seed(5), objective)
    p = _replay_drop_draw(5, objective, tiny_pipeline, objects, views, 64)
    want_clip, want_latents = condition_drop_masks(p, 0.3, rule)
    labels = model.seen["labels"].view(objects, views, -1)[:, 0]
    latents = model.seen["sample"][:, 4:].reshape(objects, views, -1)[:, 0]
    assert torch.equal(labels.abs().sum(dim=1) == 0, want_clip)
    assert torch.equal(latents.abs().sum(dim=1) == 0, want_latents)
    assert bool(want_clip.any()) and bool((~want_clip).any())
    if rule == "facelift":  # all three kinds occur among 24 objects at r = 0.3
        assert bool((want_clip & ~want_latents).any()) and bool((~want_clip & want_latents).any())


@pytest.mark.parametrize(("gamma", "rule"), [(5.0, "facelift"), (5.0, "v-prediction"),
                                             (None, "facelift")])
def test_loss_is_min_snr_weighted_v_error(tiny_pipeline, gamma, rule):
    torch.manual_seed(0)
    objects, views = 3, 6
    targets = torch.rand(objects, views, 3, 64, 64)
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    assert scheduler.config.prediction_type == "v_prediction"
    model = Recorder()
    prompts = tiny_pipeline.prompt_embeds
    objective = Objective(snr_gamma=gamma, snr_weighting=rule, target_latents="mode")
    loss = diffusion_loss(model, tiny_pipeline, scheduler, targets, None, prompts,
                          torch.Generator().manual_seed(1), objective)
    seen = model.seen
    t = seen["t"]
    # one timestep per object, shared by its views
    per_object = t.view(objects, views)
    assert torch.all(per_object == per_object[:, :1])
    assert seen["prompts"].shape == (objects * views, 77, prompts.shape[-1])
    # recover the noise from the noisy latents, rebuild v and the weights by hand
    with torch.no_grad():
        x0 = vae_latents(tiny_pipeline.vae, targets.flatten(0, 1))
    acp = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
    noisy = seen["sample"][:, :4]
    noise = (noisy - acp.sqrt() * x0) / (1 - acp).sqrt()
    v = acp.sqrt() * noise - (1 - acp).sqrt() * x0
    snr = torch.from_numpy(_hand_snr(t.numpy())).float()
    if gamma is None:
        weight = torch.ones_like(snr)
    else:
        weight = torch.clamp(snr, max=gamma) / (snr if rule == "facelift" else snr + 1)
    expected = (weight * v.pow(2).mean(dim=(1, 2, 3))).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-6)
    # the input view's latents (always the posterior mode) are the second half of every input
    cond = seen["sample"][:, 4:].view(objects, views, 4, 8, 8)
    torch.testing.assert_close(cond[:, 0], x0.view(objects, views, 4, 8, 8)[:, 0])
    assert torch.all(cond == cond[:, :1])


def test_target_latents_are_a_posterior_sample_by_default(tiny_pipeline):
    """FaceLift encodes targets with ``latent_dist.sample()``: the first draw of the step's
    generator; ``target_latents="mode"`` uses the mode. Inputs are the mode either way."""
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    targets = torch.rand(1, 6, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    flat = targets.flatten(0, 1)
    with torch.no_grad():
        posterior = tiny_pipeline.vae.encode(flat * 2 - 1).latent_dist
        scale = tiny_pipeline.vae.config.scaling_factor
        sampled = posterior.sample(torch.Generator().manual_seed(7)) * scale
        mode = posterior.mode() * scale
    assert not torch.allclose(sampled, mode)
    for objective, x0 in ((Objective(), sampled), (Objective(target_latents="mode"), mode)):
        model = Recorder()
        diffusion_loss(model, tiny_pipeline, scheduler, targets, None,
                       tiny_pipeline.prompt_embeds, torch.Generator().manual_seed(7), objective)
        t = model.seen["t"]
        acp = scheduler.alphas_cumprod[t].view(-1, 1, 1, 1)
        noise = (model.seen["sample"][:, :4] - acp.sqrt() * x0) / (1 - acp).sqrt()
        # x0 is right exactly when the recovered noise is the N(0, 1) draw, not a mix with
        # the other latents: check against the draw replayed from the generator
        generator = torch.Generator().manual_seed(7)
        if objective.target_latents == "sample":
            torch.randn(sampled.shape, generator=generator)
        torch.randn((1, tiny_pipeline.image_normalizer.mean.shape[-1]), generator=generator)
        torch.rand(1, generator=generator)
        torch.randint(0, 1000, (1,), generator=generator)
        expected_noise = torch.randn(sampled.shape, generator=generator)
        torch.testing.assert_close(noise, expected_noise, rtol=1e-3, atol=2e-3)
        cond = model.seen["sample"][:, 4:]
        torch.testing.assert_close(cond[0], mode[0])


def test_presets_use_facelift_objective():
    for preset in ("mouse", "tiny"):  # the mouse preset fine-tunes named weights
        config = load_train_mvdiff_config(preset, {"pipeline": "pipeckpts"} if preset == "mouse"
                                          else None)
        objective = config.objective()
        assert objective.snr_weighting == "facelift"
        assert objective.condition_drop_rule == "facelift"
        assert objective.target_latents == "sample"
        assert objective.condition_drop == 0.05
    other = load_train_mvdiff_config("tiny", {"snr_weighting": "v-prediction",
                                       "condition_drop_rule": "joint", "target_latents": "mode"})
    assert other.objective() == Objective(snr_gamma=5.0, snr_weighting="v-prediction",
                                          condition_drop=0.05, condition_drop_rule="joint",
                                          target_latents="mode")
    with pytest.raises(Exception, match="snr_weighting"):
        load_train_mvdiff_config("tiny", {"snr_weighting": "diffusers"})


def test_unseen_pixels_do_not_count_in_the_diffusion_loss(tiny_pipeline, monkeypatch):
    """``seen`` all ones is FaceLift's loss exactly; with part of every view unseen, each
    image's error is its mean over the seen latent pixels (area-pooled share as the weight), so
    a prediction that differs only there costs nothing more."""
    views = tiny_pipeline.rig.num_views
    size = tiny_pipeline.rig.width
    targets = torch.rand(1, views, 3, size, size, generator=torch.Generator().manual_seed(3))
    prompts = tiny_pipeline.prompt_embeds.float()
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    objective = Objective(target_latents="mode", snr_gamma=None)

    class Fixed(torch.nn.Module):
        """Predicts a fixed field, optionally changed in the bottom half of the latents."""

        def __init__(self, bottom: float | None = None) -> None:
            super().__init__()
            self.bottom = bottom

        def forward(self, sample, t, prompts, labels, poses):
            out = torch.zeros(sample.shape[0], 4, *sample.shape[2:])
            if self.bottom is not None:
                out[..., sample.shape[-2] // 2:, :] = self.bottom
            return out

    def loss(model, seen=None):
        return diffusion_loss(model, tiny_pipeline, scheduler, targets, None, prompts,
                              torch.Generator().manual_seed(0), objective, seen=seen)

    ones = torch.ones(1, views, 1, size, size)
    assert torch.equal(loss(Fixed(), ones), loss(Fixed()))
    seen = ones.clone()
    seen[..., size // 2:, :] = 0.0  # each view's source image ended halfway down
    assert float(loss(Fixed(5.0), seen)) == pytest.approx(float(loss(Fixed(), seen)), rel=1e-6)
    assert float(loss(Fixed(5.0))) > float(loss(Fixed())) + 1.0
    # ignore_unseen false (the train config's key): those pixels count as background again
    objective = Objective(target_latents="mode", snr_gamma=None, ignore_unseen=False)
    assert torch.equal(loss(Fixed(5.0), seen), loss(Fixed(5.0)))
    config = load_train_mvdiff_config("tiny", {"ignore_unseen": False})
    assert config.objective().ignore_unseen is False
    assert load_train_mvdiff_config("tiny").objective().ignore_unseen is True
