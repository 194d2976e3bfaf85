"""``mouselift train builtin OUT``: the one reproducible command that makes the built-in models.

From nothing but the package, seeded and resumable, on a CPU (a GPU only makes it faster):

1. ``OUT/recording`` — a synthetic recording of the real rig (``synth``: a long walk over the
   whole arena at a low frame rate, so poses and positions vary; the seed is the recipe's);
2. ``OUT/dataset`` — prepared from it (``prepare``: crops at the models' resolution, geometry
   targets, the one-view locator);
3. ``OUT/runs/vae`` — Stage 1's own autoencoder (``train vae``);
4. ``OUT/runs/mvdiff`` — the Stage-1 pipeline around it (``train mvdiff --set vae=…``);
5. ``OUT/runs/gslrm`` — GS-LRM with the geometry targets (``train gslrm``);
6. ``OUT/models/stage1`` and ``OUT/models/stage2`` — the last checkpoints' payloads (EMA
   weights, config, the rig and its locator), each with ``mouselift.json`` naming the command,
   the recipe, the seed and the data that made it, and the SHA-256 of every weight file.

Every step is skipped when its output is complete for the same recipe (a recording with the
recipe's synth settings, a dataset with its prepare settings, a run at its last step) and resumed
where it stopped otherwise (``prepare`` by its samples, training from its newest checkpoint,
exactly: :mod:`mouselift.train`); a recording or dataset made with other settings is refused in
one line. The recipe is a :class:`BuiltinRecipe` (presets in ``mouselift/configs/builtin/``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from .. import __version__
from ..atomic import atomic_dir, atomic_write_text
from ..config import StrictModel, load_config
from ..data.prepare.config import PrepareConfig
from ..data.synth.config import SynthConfig
from ..errors import ConfigError
from ..jsonfile import read_json
from ..weights import MADE_BY_FILE, STAGE1_DIR, STAGE2_DIR, weight_digests

BUILTIN_FORMAT = "mouselift-builtin"
BUILTIN_VERSION = 1


class TrainRecipe(StrictModel):
    """One training step of the recipe: a preset of its command and overrides (``--set``)."""

    config: str = Field(..., description="the command's preset (or a YAML file)")
    set: dict[str, Any] = Field(default_factory=dict, description="config keys overridden")


class BuiltinRecipe(StrictModel):
    """What ``mouselift train builtin`` makes the built-in models from (module docstring).
    ``seed`` seeds the recording and every training run."""

    seed: int = Field(0, ge=0, description="seed of the recording and of every training run")
    storage: Literal["float16", "float32"] = Field(
        "float16", description="dtype of the exported weight files (inference loads them as "
        "float32 on a CPU): float16 halves what the package ships")
    synth: SynthConfig = SynthConfig(frames=3000, fps=10.0, scale=0.5, eval_cameras=1)
    prepare: PrepareConfig = PrepareConfig(image_size=64)
    vae: TrainRecipe = TrainRecipe(config="small")
    mvdiff: TrainRecipe = TrainRecipe(config="small")
    gslrm: TrainRecipe = TrainRecipe(config="small")


def load_builtin_recipe(preset_or_path: str | os.PathLike = "small",
                        overrides: dict | None = None) -> BuiltinRecipe:
    """A ``mouselift/configs/builtin/`` preset (``small``, ``tiny``) or YAML file."""
    return load_config(BuiltinRecipe, "builtin", preset_or_path, overrides)


@dataclass
class BuiltinResult:
    """What :func:`train_builtin` did: ``steps`` → ``"done"`` (already complete), ``"made"`` or
    ``"resumed from step N"``; ``seconds`` per step; ``models`` the two model folders."""

    out_dir: Path
    steps: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    models: dict[str, Path] = field(default_factory=dict)

    def format(self) -> str:
        lines = [f"train builtin → {self.out_dir}"]
        lines += [f"  {name}: {what} ({self.seconds.get(name, 0.0):.0f} s)"
                  for name, what in self.steps.items()]
        lines += [f"  {stage}: {path}" for stage, path in self.models.items()]
        return "\n".join(lines)


def train_builtin(out_dir: str | os.PathLike, recipe: BuiltinRecipe | None = None, *,
                  recipe_name: str = "small", command: str | None = None,
                  progress: bool = True) -> BuiltinResult:
    """Make (or finish making) the built-in models in ``out_dir`` (module docstring).
    ``recipe_name`` and ``command`` are recorded in each model's ``mouselift.json``."""
    recipe = recipe or load_builtin_recipe(recipe_name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    synth = recipe.synth.model_copy(update={"seed": recipe.seed})
    result = BuiltinResult(out)

    def step(name: str, action: Callable[[], str]) -> None:
        started = time.perf_counter()
        result.steps[name] = action()
        result.seconds[name] = time.perf_counter() - started

    step("recording", lambda: _recording(out / "recording", synth, progress))
    step("dataset", lambda: _dataset(out / "recording", out / "dataset", recipe.prepare,
                                     progress))
    runs = out / "runs"
    common = {"dataset": str(out / "dataset"), "seed": recipe.seed}
    step("vae", lambda: _train("vae", recipe.vae, runs / "vae", common, progress))
    step("mvdiff", lambda: _train("mvdiff", recipe.mvdiff, runs / "mvdiff",
                                  {**common, "vae": str(runs / "vae")}, progress))
    step("gslrm", lambda: _train("gslrm", recipe.gslrm, runs / "gslrm", common, progress))
    made_by = {"format": BUILTIN_FORMAT, "version": BUILTIN_VERSION, "mouselift": __version__,
               "command": command or f"mouselift train builtin {out} --config {recipe_name}",
               "recipe": recipe_name, "seed": recipe.seed,
               "data": {"synth": synth.model_dump(mode="json"),
                        "prepare": recipe.prepare.content_dict()},
               "settings": recipe.model_dump(mode="json")}
    step("export", lambda: _export(runs, out / "models", made_by, result))
    return result


# --- steps ------------------------------------------------------------------------------------
def _recording(folder: Path, synth: SynthConfig, progress: bool) -> str:
    from ..data.synth import synthesize

    if folder.exists():
        info = read_json(folder / "ground_truth.json", ConfigError, "recording's ground truth")
        if info.get("config") != synth.model_dump(mode="json"):
            raise ConfigError(f"{folder}: a recording made with other synth settings (remove "
                              "it, or use another OUT)")
        return "done"
    synthesize(folder, synth, progress=progress)
    return "made"


def _dataset(recording: Path, folder: Path, prepare: PrepareConfig, progress: bool) -> str:
    from ..data.prepare import prepare_dataset

    summary = prepare_dataset(recording, folder, prepare, progress=progress)
    return f"made ({summary.written} samples)" if summary.written else "done"


def _stage_functions(stage: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """``(config loader, train function)`` of a training step (imported when it runs)."""
    if stage == "vae":
        from ..mvdiff.train_config import load_train_vae_config
        from ..mvdiff.vae_trainer import train_vae

        return load_train_vae_config, train_vae
    if stage == "mvdiff":
        from ..mvdiff.train_config import load_train_mvdiff_config
        from ..mvdiff.trainer import train_mvdiff

        return load_train_mvdiff_config, train_mvdiff
    from ..gslrm.train_config import load_train_gslrm_config
    from ..gslrm.trainer import train_gslrm

    return load_train_gslrm_config, train_gslrm


def _train(stage: str, recipe: TrainRecipe, output: Path, common: dict[str, Any],
           progress: bool) -> str:
    """Train (or resume, or skip) one stage's run in ``output``."""
    from ..config import merge_overrides
    from ..train.checkpoints import list_checkpoints

    load, train = _stage_functions(stage)
    config = load(recipe.config, merge_overrides(recipe.set, {**common,
                                                              "output_dir": str(output)}))
    found = list_checkpoints(output)
    if found and found[-1][0] >= config.max_steps:
        return "done"
    result = train(config, resume="latest" if found else None, progress=progress)
    return f"resumed from step {result.start_step}" if found else "made"


def _export(runs: Path, models: Path, made_by: dict[str, Any], result: BuiltinResult) -> str:
    """Copy the last checkpoints' payloads into ``models/`` (atomically, replacing an earlier
    export), each with its ``mouselift.json``."""
    from ..gslrm.checkpoints import MODEL_DIR
    from ..mvdiff.pipeline import PIPELINE_DIR
    from ..train.checkpoints import list_checkpoints

    sources = {STAGE1_DIR: (runs / "mvdiff", PIPELINE_DIR), STAGE2_DIR: (runs / "gslrm",
                                                                         MODEL_DIR)}
    with atomic_dir(models, replace=True) as tmp:
        for name, (run, payload) in sources.items():
            step, checkpoint = list_checkpoints(run)[-1]
            shutil.copytree(checkpoint / payload, tmp / name)
            if made_by["settings"]["storage"] == "float16":
                for path in sorted((tmp / name).rglob("*.safetensors")):
                    _to_float16(path)
            _write_made_by(tmp / name, {**made_by, "stage": name,
                                        "checkpoint": f"{run.name} step {step}"})
    for name in sources:
        result.models[name] = models / name
    return "made"


def _to_float16(path: Path) -> None:
    """Rewrite a safetensors file with its float32 tensors as float16 (metadata kept)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    halved = {key: t.to(torch.float16) if t.dtype == torch.float32 else t
              for key, t in tensors.items()}
    path.unlink()  # a hard link into the run's checkpoint must not be written through
    save_file(halved, str(path), metadata=metadata)


def _write_made_by(folder: Path, made_by: dict[str, Any]) -> None:
    """``mouselift.json`` of a built-in model folder: ``made_by`` and the weight files' SHA-256
    (merged into an existing ``mouselift.json``, the GS-LRM folder's own)."""
    path = folder / MADE_BY_FILE
    existing = read_json(path, ConfigError) if path.is_file() else {}
    atomic_write_text(path, json.dumps(
        {**existing, "builtin": {**made_by, "weights": weight_digests(folder)}}, indent=1) + "\n")


__all__ = ["BUILTIN_FORMAT", "BuiltinRecipe", "BuiltinResult", "TrainRecipe",
           "load_builtin_recipe", "train_builtin"]
