"""The training objective: v-target, min-SNR-γ weights, one timestep per object, condition drop."""

from __future__ import annotations

import pytest
import torch
from diffusers import DDPMScheduler

from mouselift.mvdiff.conditioning import vae_latents
from mouselift.mvdiff.objective import diffusion_loss


class Recorder(torch.nn.Module):
    """Predicts zeros and keeps what the objective fed it."""

    def forward(self, sample, t, prompts, labels, poses):
        self.seen = {"sample": sample, "t": t, "prompts": prompts, "labels": labels}
        return torch.zeros(sample.shape[0], 4, *sample.shape[2:])


@pytest.mark.parametrize("gamma", [5.0, None])
def test_loss_is_min_snr_weighted_v_error(tiny_pipeline, gamma):
    torch.manual_seed(0)
    objects, views = 3, 6
    targets = torch.rand(objects, views, 3, 64, 64)
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    assert scheduler.config.prediction_type == "v_prediction"
    model = Recorder()
    prompts = tiny_pipeline.prompt_embeds
    loss = diffusion_loss(model, tiny_pipeline, scheduler, targets, None, prompts,
                          torch.Generator().manual_seed(1), snr_gamma=gamma)
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
    snr = (acp / (1 - acp)).view(-1)
    weight = torch.clamp(snr, max=gamma) / (snr + 1) if gamma else torch.ones_like(snr)
    expected = (weight * v.pow(2).mean(dim=(1, 2, 3))).mean()
    torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-6)
    # the input view's latents are the second half of every view's input
    cond = seen["sample"][:, 4:].view(objects, views, 4, 8, 8)
    torch.testing.assert_close(cond[:, 0], x0.view(objects, views, 4, 8, 8)[:, 0])
    assert torch.all(cond == cond[:, :1])


def test_condition_drop_zeroes_labels_and_input_latents(tiny_pipeline):
    scheduler = DDPMScheduler.from_config(tiny_pipeline.scheduler.config)
    targets = torch.rand(2, 6, 3, 64, 64)
    for drop, zero in ((1.0, True), (0.0, False)):
        model = Recorder()
        diffusion_loss(model, tiny_pipeline, scheduler, targets, None,
                       tiny_pipeline.prompt_embeds, torch.Generator().manual_seed(0),
                       condition_drop=drop)
        labels, cond = model.seen["labels"], model.seen["sample"][:, 4:]
        assert bool(labels.abs().sum() == 0) is zero
        assert bool(cond.abs().sum() == 0) is zero
