"""Training a Stage-1 preset's own autoencoder (``mouselift train vae``) on the engine, and a
pipeline built around it (``train mvdiff --set vae=RUN``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mouselift.errors import ConfigError
from mouselift.mvdiff import MultiViewDiffusionPipeline, load_train_mvdiff_config, train_mvdiff
from mouselift.mvdiff.dataset import MultiViewDataset
from mouselift.mvdiff.train_config import load_train_vae_config
from mouselift.mvdiff.vae_trainer import load_vae, train_vae

QUIET = {"log_with": "none", "validation_samples": 0}


def config(dataset: Path, output: Path, **overrides):
    return load_train_vae_config("tiny", {"dataset": str(dataset), "output_dir": str(output),
                                          **QUIET, **overrides})


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint / "vae" / "diffusion_pytorch_model.safetensors"))


@pytest.fixture(scope="module")
def vae_run(mouse_dataset, tmp_path_factory):
    """60 steps of the tiny preset's autoencoder (~6 s), validated at the end."""
    out = tmp_path_factory.mktemp("vae") / "run"
    result = train_vae(config(mouse_dataset, out, max_steps=60, checkpoint_every=30,
                              validation_samples=1, validate_every=60, log_with="tensorboard"),
                       progress=False)
    return out, result


def test_the_autoencoder_learns_and_measures_its_scaling(vae_run, mouse_dataset):
    """The reconstruction error of the training views falls well below the random start's; the
    exported VAE loads, and its scaling_factor is 1 / the standard deviation of the posterior
    means of the first training samples (on white)."""
    from mouselift.data.dataset_rig import rig_from_dataset
    from mouselift.mvdiff.components import build_vae
    from mouselift.mvdiff.config import load_mvdiff_config

    out, result = vae_run
    assert result.end_step == 60
    vae = load_vae(out)  # the run folder: its newest checkpoint
    torch.manual_seed(0)  # the run's seed: its starting weights
    start = build_vae(load_mvdiff_config("tiny"))
    data = MultiViewDataset(mouse_dataset, "train", rig_from_dataset(mouse_dataset))

    def error(model) -> float:
        with torch.no_grad():
            x = torch.cat([data[i]["targets"] for i in range(4)]) * 2 - 1
            return (model.decode(model.encode(x).latent_dist.mode()).sample - x).abs().mean()

    before, after = float(error(start)), float(error(vae))
    print(f"mean |x̂ − x| before {before:.4f} after {after:.4f}")
    assert after < 0.5 * before, (before, after)
    assert vae.config.scaling_factor == pytest.approx(
        json.loads((result.checkpoints[-1] / "vae" / "config.json").read_text())[
            "scaling_factor"])
    with torch.no_grad():
        latents = torch.cat([vae.encode(data[i]["targets"] * 2 - 1).latent_dist.mean
                             for i in range(4)])  # the tiny preset's scaling_samples
    assert vae.config.scaling_factor == pytest.approx(1 / latents.std().item(), rel=1e-4)
    assert (out / "validation" / "step-000060.png").is_file()
    state = json.loads((result.checkpoints[-1] / "trainer_state.json").read_text())
    assert state["init"] == "tiny"


def test_resume_is_exact(mouse_dataset, tmp_path):
    """4 steps straight = 2 steps, then 2 more resumed (the weights to the bit)."""
    straight = train_vae(config(mouse_dataset, tmp_path / "a", max_steps=4, checkpoint_every=2),
                         progress=False)
    train_vae(config(mouse_dataset, tmp_path / "b", max_steps=2, checkpoint_every=2),
              progress=False)
    resumed = train_vae(config(mouse_dataset, tmp_path / "b", max_steps=4, checkpoint_every=2),
                        resume="latest", progress=False)
    assert resumed.start_step == 2 and resumed.end_step == 4
    a, b = _weights(straight.checkpoints[-1]), _weights(resumed.checkpoints[-1])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_pipeline_trains_around_the_trained_autoencoder(vae_run, mouse_dataset, tmp_path):
    """``train mvdiff --set vae=RUN``: the pipeline's VAE is the trained one (weights and
    scaling) and stays so in its checkpoints; a VAE that halves the image another number of
    times than the preset's UNet needs, or one for a pretrained pipeline, is refused."""
    out, _ = vae_run
    cfg = load_train_mvdiff_config("tiny", {"dataset": str(mouse_dataset),
                                            "output_dir": str(tmp_path / "mvd"), "vae": str(out),
                                            "max_steps": 1, "checkpoint_every": 1, **QUIET})
    result = train_mvdiff(cfg, progress=False)
    pipe = MultiViewDiffusionPipeline.from_pretrained(result.checkpoints[-1] / "pipeline")
    trained = load_vae(out)
    assert pipe.vae.config.scaling_factor == trained.config.scaling_factor
    theirs = trained.state_dict()
    assert all(torch.equal(v, theirs[k]) for k, v in pipe.vae.state_dict().items())
    small = train_vae(config(mouse_dataset, tmp_path / "small", init="small", max_steps=1,
                             checkpoint_every=1), progress=False)
    wrong = cfg.model_copy(update={"vae": str(small.checkpoints[-1]),
                                   "output_dir": str(tmp_path / "wrong")})
    with pytest.raises(ConfigError, match="halves the image 2 times"):
        train_mvdiff(wrong, progress=False)
    with pytest.raises(ConfigError, match="pretrained pipeline keeps its own"):
        load_train_mvdiff_config("tiny", {"pipeline": str(tmp_path), "vae": str(out)})
