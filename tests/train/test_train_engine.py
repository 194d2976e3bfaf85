"""The training engine on its own, with a toy stage: a linear model ``x ↦ w·x + b`` fitted to
fixed data with the closed-form loss ``mean((w·x + b + noise − y)²)`` (the noise drawn from the
step's generator). Seconds on a CPU."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from mouselift.config import load_config
from mouselift.errors import ConfigError
from mouselift.train import (
    CheckpointError,
    LossNotFiniteError,
    Run,
    Stage,
    TrainingEngine,
    TrainLoopConfig,
    Validation,
    train_stage,
    weight_decay_groups,
)
from mouselift.train.checkpoints import list_checkpoints, resolve_resume

W_TRUE = torch.tensor([1.0, -2.0, 0.5])
B_TRUE = 0.3
PAYLOAD = "model"


class ToyConfig(TrainLoopConfig):
    noise: float = 0.01  # a stage key: must match on resume


class ToyData(Dataset):
    def __init__(self) -> None:
        self.x = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
        self.y = self.x @ W_TRUE + B_TRUE
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


class ToyStage(Stage):
    name = "toy"
    payload_dirs = (PAYLOAD,)

    def __init__(self, config: ToyConfig, nan_at_call: int | None = None) -> None:
        super().__init__(config)
        self.nan_at_call = nan_at_call
        self.calls = 0
        self.validations: list[tuple[int, bool]] = []
        self.validated_weights: dict[int, torch.Tensor] = {}

    def build(self, run: Run) -> torch.nn.Module:
        self.model = torch.nn.Linear(3, 1)
        torch.nn.init.zeros_(self.model.weight)
        torch.nn.init.zeros_(self.model.bias)
        return self.model

    def parameter_groups(self, model: torch.nn.Module) -> list[dict[str, Any]]:
        return weight_decay_groups(model.named_parameters(), self.config.weight_decay)

    def train_dataset(self) -> ToyData:
        self.data = ToyData()
        return self.data

    def loss(self, model, batch, generator) -> torch.Tensor:
        self.calls += 1
        noise = self.config.noise * torch.randn(batch["y"].shape, generator=generator)
        loss = ((model(batch["x"]).squeeze(-1) + noise - batch["y"]) ** 2).mean()
        if self.nan_at_call is not None and self.calls >= self.nan_at_call:
            loss = loss * float("nan")
        return loss

    def validate(self, step: int, images: bool) -> Validation:
        self.validations.append((step, images))
        self.validated_weights[step] = self.model.weight.detach().clone()
        with torch.no_grad():
            mse = float(((self.model(self.data.x).squeeze(-1) - self.data.y) ** 2).mean())
        image = np.full((4, 8, 3), 128, dtype=np.uint8) if images else None
        return Validation({"loss": mse}, image)

    def export(self, folder: Path) -> None:
        (folder / PAYLOAD).mkdir()
        save_file({k: v.detach().clone() for k, v in self.model.state_dict().items()},
                  str(folder / PAYLOAD / "model.safetensors"))

    def checkpoint_state(self) -> dict[str, Any]:
        return {"toy": True}


def toy_config(output: Path, **overrides) -> ToyConfig:
    settings = {"output_dir": str(output), "max_steps": 6, "batch_size": 4,
                "gradient_accumulation": 2, "learning_rate": 0.2, "lr_scheduler": "constant",
                "warmup_steps": 0, "ema_decay": 0.5, "checkpoint_every": 3, "keep_last": 3,
                "validate_every": 100, "log_with": "none", "workers": 0, **overrides}
    return ToyConfig.model_validate(settings)


def checkpoint_names(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").iterdir())


def exported(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint / PAYLOAD / "model.safetensors"))


def same(a: Any, b: Any) -> bool:
    """Nested dicts / lists / tensors equal bit for bit."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def training_state(checkpoint: Path) -> dict[str, Any]:
    """Raw weights, optimizer, LR schedule and EMA of a checkpoint (not the RNG states: Python's
    and NumPy's are unseeded process state)."""
    folder = checkpoint / "training_state"
    state: dict[str, Any] = {"model": load_file(str(folder / "model.safetensors"))}
    for path in sorted(folder.iterdir()):
        if path.suffix in (".bin", ".pkl") and not path.name.startswith("random_states"):
            state[path.name] = torch.load(path, weights_only=False)
    return state


def test_toy_stage_learns_validates_on_cadence_and_keeps_the_last_checkpoints(tmp_path):
    run = tmp_path / "run"
    stage = ToyStage(toy_config(run, max_steps=7, checkpoint_every=2, keep_last=2,
                                validate_every=3, log_with="tensorboard"))
    result = train_stage(stage, progress=False)
    assert (result.start_step, result.end_step) == (0, 7) and len(result.losses) == 7
    assert result.losses[-1] < 0.2 * result.losses[0], result.losses
    # a metrics-only validation before the first step, then every 3 steps and at the end
    assert stage.validations == [(0, False), (3, True), (6, True), (7, True)]
    assert [s for s, _ in result.validations] == [0, 3, 6, 7]
    val = [loss for _, loss in result.val_losses]
    assert all(b < a for a, b in itertools.pairwise(val)) and val[-1] < 0.2 * val[0]
    assert [p.name for p in result.validation_images] == [
        "step-000003.png", "step-000006.png", "step-000007.png"]
    assert all(p.is_file() for p in result.validation_images)
    assert list((run / "logs").rglob("events.out.tfevents.*"))
    assert stage.data.epochs == [0, 1, 2, 3]  # 2 steps per epoch
    # every 2 steps and the last; the 2 newest kept, nothing hidden left behind
    assert [p.name for p in result.checkpoints] == [
        "checkpoint-000002", "checkpoint-000004", "checkpoint-000006", "checkpoint-000007"]
    assert checkpoint_names(run) == ["checkpoint-000006", "checkpoint-000007"]
    last = run / "checkpoints" / "checkpoint-000007"
    assert sorted(p.name for p in last.iterdir()) == [PAYLOAD, "trainer_state.json",
                                                       "training_state"]
    state = json.loads((last / "trainer_state.json").read_text())
    assert state["step"] == 7 and state["toy"] is True and state["config"]["noise"] == 0.01
    # the payload holds the EMA weights (what validation saw), training_state the raw ones
    assert torch.equal(exported(last)["weight"], stage.validated_weights[7])
    raw = load_file(str(last / "training_state" / "model.safetensors"))
    assert not torch.equal(raw["weight"], exported(last)["weight"])
    assert torch.equal(raw["weight"], stage.model.weight.detach())


def test_toy_resume_is_exact(tmp_path):
    """6 steps in one go == 3 steps (mid-epoch), stop, resume for 3: losses, raw weights,
    optimizer, schedule, EMA and the exported weights, bit for bit."""
    straight = train_stage(ToyStage(toy_config(tmp_path / "a")), progress=False)
    first = train_stage(ToyStage(toy_config(tmp_path / "b", max_steps=3)), progress=False)
    second = train_stage(ToyStage(toy_config(tmp_path / "b")), resume="latest", progress=False)
    assert (second.start_step, second.end_step) == (3, 6)
    assert first.losses + second.losses == straight.losses
    a, b = (tmp_path / r / "checkpoints" / "checkpoint-000006" for r in "ab")
    state_a, state_b = training_state(a), training_state(b)
    assert {"model", "optimizer.bin", "custom_checkpoint_0.pkl",
            "custom_checkpoint_1.pkl"} <= set(state_a)  # weights, optimizer, schedule, EMA
    assert same(state_a, state_b)
    assert same(exported(a), exported(b))


def test_optimizer_groups_come_from_the_stage(tmp_path):
    config = toy_config(tmp_path / "run", weight_decay=0.1, max_steps=1)
    engine = TrainingEngine(ToyStage(config), progress=False)
    groups = engine.optimizer.param_groups
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert [[tuple(p.shape) for p in g["params"]] for g in groups] == [[(1, 3)], [(1,)]]

    class OneGroup(ToyStage):
        parameter_groups = Stage.parameter_groups  # the default: one group, config's decay

    engine = TrainingEngine(OneGroup(toy_config(tmp_path / "one", weight_decay=0.1)),
                            progress=False)
    assert [g["weight_decay"] for g in engine.optimizer.param_groups] == [0.1]
    assert len(engine.optimizer.param_groups[0]["params"]) == 2


def test_weight_decay_groups_decay_matrices_only():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4),
                                torch.nn.Embedding(5, 4))
    model[2].weight.requires_grad_(False)
    decay, no_decay = weight_decay_groups(model.named_parameters(), 0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert [tuple(p.shape) for p in decay["params"]] == [(4, 3)]
    assert [tuple(p.shape) for p in no_decay["params"]] == [(4,), (4,), (4,)]
    only_vectors = weight_decay_groups([("b", torch.nn.Parameter(torch.zeros(3)))], 0.05)
    assert len(only_vectors) == 1 and only_vectors[0]["weight_decay"] == 0.0


def test_incomplete_checkpoints_are_ignored(tmp_path):
    run = tmp_path / "run"
    train_stage(ToyStage(toy_config(run, max_steps=2, checkpoint_every=1)), progress=False)
    root = run / "checkpoints"
    # a crash while writing step 3, a folder without its state, one without its payload
    shutil.copytree(root / "checkpoint-000002", root / ".checkpoint-000003.partial")
    shutil.copytree(root / "checkpoint-000002", root / "checkpoint-000004")
    (root / "checkpoint-000004" / "trainer_state.json").unlink()
    shutil.copytree(root / "checkpoint-000002", root / "checkpoint-000005")
    shutil.rmtree(root / "checkpoint-000005" / PAYLOAD)
    assert [s for s, _ in list_checkpoints(run, (PAYLOAD,))] == [1, 2]
    assert resolve_resume(run, "latest", (PAYLOAD,)) == root / "checkpoint-000002"
    with pytest.raises(CheckpointError, match="incomplete checkpoint"):
        resolve_resume(run, root / "checkpoint-000005", (PAYLOAD,))
    result = train_stage(ToyStage(toy_config(run, max_steps=3, checkpoint_every=1)),
                         resume="latest", progress=False)
    assert result.start_step == 2
    assert not (root / ".checkpoint-000003.partial").exists()
    assert not list(root.glob(".*"))


def test_resume_refuses_changed_settings_and_reuse_of_a_run(tmp_path):
    run = tmp_path / "run"
    train_stage(ToyStage(toy_config(run, max_steps=1)), progress=False)
    for key, value in (("learning_rate", 0.5), ("noise", 0.5)):
        with pytest.raises(CheckpointError, match=f"{key}="):
            train_stage(ToyStage(toy_config(run, max_steps=2, **{key: value})),
                        resume="latest", progress=False)
    with pytest.raises(CheckpointError, match="already holds checkpoints"):
        train_stage(ToyStage(toy_config(run, max_steps=2)), progress=False)
    # runtime keys may change
    result = train_stage(ToyStage(toy_config(run, max_steps=2, keep_last=1, log_every=1)),
                         resume="latest", progress=False)
    assert result.end_step == 2


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    stage = ToyStage(toy_config(run, checkpoint_every=2), nan_at_call=7)  # step 4, micro 0
    with pytest.raises(LossNotFiniteError) as caught:
        train_stage(stage, progress=False)
    message = str(caught.value)
    assert "\n" not in message and "loss became nan at step 4" in message
    assert str(run / "checkpoints" / "checkpoint-000002") in message
    assert checkpoint_names(run) == ["checkpoint-000002"]  # step 4 not saved, nothing partial
    resumed = train_stage(ToyStage(toy_config(run, checkpoint_every=2)), resume="latest",
                          progress=False)
    assert resumed.start_step == 2 and resumed.end_step == 6

    with pytest.raises(LossNotFiniteError, match=r"at step 1; .*no checkpoint yet"):
        train_stage(ToyStage(toy_config(tmp_path / "other"), nan_at_call=1), progress=False)


def test_loop_config_is_strict_and_extended_by_stages(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'lerning_rate'"):
        load_config(ToyConfig, "toy", None, {"lerning_rate": 1.0})
    config = load_config(ToyConfig, "toy", None, {"noise": 0.5, "max_steps": 3})
    assert config.noise == 0.5 and config.max_steps == 3
    dumped = config.model_dump(mode="json")
    assert "max_steps" not in ToyConfig.comparable(dumped)
    assert "noise" in ToyConfig.comparable(dumped)
    with pytest.raises(ConfigError, match="no output folder"):
        TrainingEngine(ToyStage(ToyConfig()), progress=False)


class ThreadCountsData(ToyData):
    """Each item also holds the threads torch, OpenCV and BLAS run in the process loading it."""

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        import cv2
        from threadpoolctl import threadpool_info

        blas = max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        counts = torch.tensor([torch.get_num_threads(), cv2.getNumThreads(), blas])
        return {**super().__getitem__(i), "threads": counts}


class ThreadCountsStage(ToyStage):
    def train_dataset(self) -> ToyData:
        self.data = ThreadCountsData()
        return self.data


def test_data_loader_workers_run_one_thread_each(tmp_path):
    """Next to a main process with 2 threads, each DataLoader worker runs torch and BLAS with 1
    thread (torch alone only sets its own pool); OpenCV runs one everywhere."""
    from threadpoolctl import threadpool_limits

    engine = TrainingEngine(ThreadCountsStage(toy_config(tmp_path / "run", workers=2)),
                            progress=False)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with threadpool_limits(2, user_api="blas"):
            batch = next(iter(engine.loader))
    finally:
        torch.set_num_threads(before)
    assert batch["threads"].tolist() == [[1, 1, 1]] * 4
