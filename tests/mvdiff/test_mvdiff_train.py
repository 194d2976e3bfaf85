"""Training Stage 1 (accelerate, CPU): acceptance, exact resume, checkpoint paths and files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from mouselift.cameras.rig import facelift_rig
from mouselift.data.sample import SampleError
from mouselift.mvdiff import MultiViewDiffusionPipeline, load_train_mvdiff_config, train_mvdiff
from mouselift.mvdiff.dataset import MultiViewDataset
from mouselift.mvdiff.losses import evaluate_loss
from mouselift.mvdiff.trainer import MVDiffStage
from mouselift.train.checkpoints import CheckpointError, list_checkpoints, resolve_resume

QUIET = {"log_with": "none", "validation_samples": 0}


def config(dataset: Path, output: Path, **overrides):
    return load_train_mvdiff_config("tiny", {"dataset": str(dataset), "output_dir": str(output),
                                      **QUIET, **overrides})


def unet_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint / "pipeline" / "unet" /
                         "diffusion_pytorch_model.safetensors"))


@pytest.mark.slow
def test_tiny_pipeline_from_disk_learns_and_its_checkpoint_samples(
        tiny_pipeline_dir, mouse_dataset, tmp_path):
    """Acceptance: a tiny random pipeline saved to and reloaded from disk trains on synthetic
    prepared samples with decreasing loss; the checkpoint reloads into the sampling pipeline
    and gives the rig's views, reproducibly for a seed."""
    cfg = config(mouse_dataset, tmp_path / "run", pipeline=str(tiny_pipeline_dir),
                 max_steps=40, checkpoint_every=20, learning_rate=2e-3, ema_decay=0.5,
                 log_with="tensorboard", validation_samples=1, validate_every=40)
    result = train_mvdiff(cfg, progress=False)
    assert result.end_step == 40 and len(result.losses) == 40

    start = MultiViewDiffusionPipeline.from_pretrained(tiny_pipeline_dir)
    start.set_rig(result_rig := MultiViewDiffusionPipeline.from_pretrained(
        result.checkpoints[-1] / "pipeline").rig)
    trained = MultiViewDiffusionPipeline.from_pretrained(result.checkpoints[-1] / "pipeline")
    samples = MultiViewDataset(mouse_dataset, "train", result_rig)
    before = evaluate_loss(start, samples, draws=4)  # fixed timesteps and noise
    after = evaluate_loss(trained, samples, draws=4)
    print(f"training objective before {before:.4f} after {after:.4f}")
    assert after < 0.7 * before, (before, after)

    image = Image.open(mouse_dataset / "sample_000000" / "images" / "cam_000.png")
    out = trained(image, num_inference_steps=4, seed=3)
    assert out.images.shape == (1, 6, 3, 64, 64)
    assert torch.equal(out.images, trained(image, num_inference_steps=4, seed=3).images)
    assert trained.rig.names[0] == "cam_000"  # the dataset's rig, input view first

    grid = result.validation_images[-1]
    with Image.open(grid) as im:
        assert im.size == (7 * 64, 2 * 64)  # input | 6 generated, then blank | 6 real
    assert list((tmp_path / "run" / "logs").rglob("events.out.tfevents.*"))


def test_resume_is_exact(mouse_dataset, tmp_path):
    """4 steps in one go == 2 steps, stop, resume for 2 (weights, EMA, camera embedding)."""
    common = {"max_steps": 4, "checkpoint_every": 2, "camera_embedding": True,
              "gradient_accumulation": 2}
    straight = train_mvdiff(config(mouse_dataset, tmp_path / "a", **common), progress=False)
    first = train_mvdiff(config(mouse_dataset, tmp_path / "b", **{**common, "max_steps": 2}),
                         progress=False)
    second = train_mvdiff(config(mouse_dataset, tmp_path / "b", **common), resume="latest",
                          progress=False)
    assert second.start_step == 2 and second.end_step == 4
    assert first.losses + second.losses == straight.losses
    a, b = (unet_weights(tmp_path / r / "checkpoints" / "checkpoint-000004") for r in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
    cam_a, cam_b = (load_file(str(next((tmp_path / r / "checkpoints" / "checkpoint-000004" /
                                        "pipeline" / "camera_embedding").glob("*.safetensors"))))
                    for r in "ab")
    assert all(torch.equal(cam_a[k], cam_b[k]) for k in cam_a)


def test_checkpoints_land_exactly_at_the_configured_path(mouse_dataset, tmp_path, monkeypatch):
    """The prior code lost a 12k-step run to a doubled path prefix: a relative output folder
    must give exactly <cwd>/<output>/checkpoints/checkpoint-NNNNNN, and nothing elsewhere."""
    monkeypatch.chdir(tmp_path)
    cfg = config(mouse_dataset, Path("runs/tiny"), max_steps=3, checkpoint_every=1, keep_last=2)
    result = train_mvdiff(cfg, progress=False)
    root = tmp_path / "runs" / "tiny" / "checkpoints"
    assert [p.name for p in sorted(root.iterdir())] == ["checkpoint-000002", "checkpoint-000003"]
    assert result.checkpoints[-1] == root / "checkpoint-000003"
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()) == ["checkpoints"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    final = root / "checkpoint-000003"
    assert sorted(p.name for p in final.iterdir()) == ["pipeline", "trainer_state.json",
                                                        "training_state"]
    assert (final / "pipeline" / "rig" / "rig.json").is_file()


def test_incomplete_checkpoints_are_never_resumed(mouse_dataset, tmp_path):
    run = tmp_path / "run"
    train_mvdiff(config(mouse_dataset, run, max_steps=2, checkpoint_every=1), progress=False)
    root = run / "checkpoints"
    # a crash while writing step 3: a hidden partial folder and a folder without its state
    shutil.copytree(root / "checkpoint-000002", root / ".checkpoint-000003.partial")
    shutil.copytree(root / "checkpoint-000002", root / "checkpoint-000004")
    (root / "checkpoint-000004" / "trainer_state.json").unlink()
    payload = MVDiffStage.payload_dirs
    assert [s for s, _ in list_checkpoints(run, payload)] == [1, 2]
    assert resolve_resume(run, "latest", payload) == root / "checkpoint-000002"
    with pytest.raises(CheckpointError, match="incomplete checkpoint"):
        resolve_resume(run, root / "checkpoint-000004", payload)
    result = train_mvdiff(config(mouse_dataset, run, max_steps=3, checkpoint_every=1),
                          resume="latest", progress=False)
    assert result.start_step == 2
    assert not (root / ".checkpoint-000003.partial").exists()


def test_resume_refuses_changed_settings_and_reuse_of_a_run(mouse_dataset, tmp_path):
    run = tmp_path / "run"
    train_mvdiff(config(mouse_dataset, run, max_steps=1), progress=False)
    with pytest.raises(CheckpointError, match="learning_rate"):
        train_mvdiff(config(mouse_dataset, run, max_steps=2, learning_rate=0.5),
                     resume="latest", progress=False)
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        train_mvdiff(config(mouse_dataset, run, max_steps=2), progress=False)


def test_bf16_mixed_precision_step(mouse_dataset, tmp_path):
    result = train_mvdiff(config(mouse_dataset, tmp_path / "run", max_steps=1,
                                 mixed_precision="bf16"), progress=False)
    assert np.isfinite(result.losses[0])


def test_dataset_augments_colours_not_geometry(mouse_dataset, tmp_path):
    from mouselift.data.dataset_rig import rig_from_dataset

    rig = rig_from_dataset(mouse_dataset)
    plain = MultiViewDataset(mouse_dataset, "train", rig)
    augmented = MultiViewDataset(mouse_dataset, "train", rig, backgrounds=["black", "grey"],
                                 brightness=(0.5, 0.6), contrast=(1.5, 1.6), seed=1)
    rgba, poses = plain.load_views(0)
    item = augmented[0]
    assert torch.equal(item["poses"], poses)
    outside = rgba[:, 3] == 0
    background = item["background"]
    assert background.tolist() in ([0.0, 0.0, 0.0], [0.5, 0.5, 0.5])
    for c in range(3):  # exactly the background colour where the mouse is not
        assert torch.all(item["targets"][:, c][outside] == background[c])
    inside = rgba[:, 3] == 1
    assert (item["targets"][:, 0][inside] - rgba[:, 0][inside]).abs().mean() > 0.05
    again = augmented[0]
    assert torch.equal(again["targets"], item["targets"])  # a function of (seed, epoch, index)
    with pytest.raises(SampleError, match="view 'front' is not among its images"):
        MultiViewDataset(mouse_dataset, "train", facelift_rig(64))


def test_no_stray_files_in_cwd(mouse_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train_mvdiff(config(mouse_dataset, tmp_path / "elsewhere", max_steps=1), progress=False)
    assert sorted(os.listdir(tmp_path)) == ["elsewhere"]


def _torchrun(dataset: Path, output: Path, steps: int, resume: bool = False) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "mouselift", "train", "mvdiff", "--config", "tiny",
               "--dataset", str(dataset), "--output", str(output), "--max-steps", str(steps),
               "--log-with", "none", "--set", "checkpoint_every=2", "--set",
               "validation_samples=0", "--set", "gradient_accumulation=2", "-q"]
    if resume:
        command += ["--resume", "latest"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained steps") == 1  # one summary, from the main process


@pytest.mark.slow
def test_two_processes_train_and_resume_exactly(mouse_dataset, tmp_path):
    """Distributed data parallel on 2 CPU processes (gloo, as on N GPUs): checkpoints hold every
    rank's state, and a resumed 2-process run equals the uninterrupted one bit for bit."""
    _torchrun(mouse_dataset, tmp_path / "a", 4)
    _torchrun(mouse_dataset, tmp_path / "b", 2)
    _torchrun(mouse_dataset, tmp_path / "b", 4, resume=True)
    state = tmp_path / "a" / "checkpoints" / "checkpoint-000004" / "training_state"
    assert {p.name for p in state.glob("random_states_*.pkl")} == {"random_states_0.pkl",
                                                                   "random_states_1.pkl"}
    a, b = (unet_weights(tmp_path / r / "checkpoints" / "checkpoint-000004") for r in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a)
    single = train_mvdiff(config(mouse_dataset, tmp_path / "c", max_steps=4,
                                 gradient_accumulation=2), progress=False)
    c = unet_weights(single.checkpoints[-1])
    assert any(not torch.equal(a[k], c[k]) for k in a)  # two ranks saw other data than one


def test_fp16_on_cpu_is_a_clear_error(mouse_dataset, tmp_path):
    from mouselift.errors import ConfigError

    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        train_mvdiff(config(mouse_dataset, tmp_path / "run", mixed_precision="fp16"),
                     progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("use_ema", [True, False])
def test_exported_pipeline_holds_the_ema_weights(mouse_dataset, tmp_path, use_ema):
    """``pipeline/`` holds the EMA weights (what FaceLift released), ``training_state/`` the raw
    ones; without EMA they are the same."""
    result = train_mvdiff(config(mouse_dataset, tmp_path / "run", max_steps=3, use_ema=use_ema,
                                 ema_decay=0.5), progress=False)
    exported = unet_weights(result.checkpoints[-1])
    raw = load_file(str(result.checkpoints[-1] / "training_state" / "model.safetensors"))
    raw = {k.removeprefix("unet."): v for k, v in raw.items() if k.startswith("unet.")}
    assert set(raw) == set(exported)
    same = all(torch.equal(raw[k], exported[k]) for k in raw)
    assert same is (not use_ema)


def test_random_pipeline_trains_at_its_own_size_not_the_rigs_source(mouse_dataset, tmp_path):
    """Without image_size the views reach the UNet/VAE at the pipeline's own size (the tiny
    preset's 64², FaceLift's 512²), not at the size of the cameras' source (here FaceLift's
    512-px rig); an explicit image_size is the named other choice."""
    from mouselift.mvdiff.trainer import load_training_pipeline

    cfg = load_train_mvdiff_config("mouse", {"init": "tiny", "rig": "facelift",
                                             "dataset": str(mouse_dataset),
                                             "output_dir": str(tmp_path / "run")})
    assert cfg.image_size is None
    pipe = load_training_pipeline(cfg, None)
    assert pipe.native_size == 64 and (pipe.rig.width, pipe.rig.height) == (64, 64)
    sized = load_training_pipeline(cfg.model_copy(update={"image_size": 32}), None)
    assert (sized.rig.width, sized.rig.height) == (32, 32)


def test_items_say_what_each_camera_saw(mouse_dataset, tmp_path):
    """``seen`` is 0 where a view's crop ran past its source image (the sample record), 1
    elsewhere, at the rig's resolution; the validation loss uses it as training does."""
    import json

    from mouselift.data.dataset_rig import rig_from_dataset
    from mouselift.data.layout import read_split
    from mouselift.data.sample import unseen_pixels

    copy = tmp_path / "ds"
    shutil.copytree(mouse_dataset, copy)
    rig = rig_from_dataset(copy)
    for name in read_split(copy, "train"):
        record = json.loads((copy / name / "sample.json").read_text())
        record["views"][2]["box"] = [-150.0, 100.0, 150.0, 400.0]
        record["views"][2]["source_size"] = [576, 512]
        (copy / name / "sample.json").write_text(json.dumps(record))
    dataset = MultiViewDataset(copy, "train", rig)
    item = dataset[0]
    assert item["seen"].shape == (rig.num_views, 1, rig.height, rig.width)
    expected = ~unseen_pixels([-150.0, 100.0, 150.0, 400.0], (576, 512), rig.width, rig.height)
    view = [str(v) for v in rig.names].index("cam_002")
    assert torch.equal(item["seen"][view, 0], torch.from_numpy(expected).float())
    assert torch.equal(dataset.seen(0), item["seen"])
    assert float(item["seen"][view].mean()) < 1.0
