"""Peak memory of training steps of the ``tiny`` presets (``train gslrm --config tiny``,
``train mvdiff --config tiny``) on a prepared dataset, and the view size each model is fed.

Each stage runs in its own process, which reports its own peak resident set
(``getrusage(RUSAGE_SELF).ru_maxrss``: the whole process — Python, torch, the models, the data
— not an increment) and the height × width of the views its loss received. Without
``--dataset`` a small synthetic recording (preset ``synth/tiny``) is prepared at
``--image-size`` (default 256 px) in a temporary folder: the models must see their own size
(64²), not the dataset's. A benchmark, not a test: nothing is asserted (the test
``tests/gslrm/test_gslrm_train.py::test_tiny_preset_trains_at_its_size_on_a_larger_dataset``
runs one case and asserts).

    .venv/bin/python bench/train_memory.py                         # 256-px dataset, 2 steps
    .venv/bin/python bench/train_memory.py --dataset data/mouse512 --steps 4
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model

STAGES = ("gslrm", "mvdiff")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, help="prepared dataset (default: a synthetic "
                        "one prepared at --image-size)")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--case", choices=STAGES, help="run one stage in this process")
    parser.add_argument("--output", type=Path, help="run folder of --case")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.dataset, args.output, args.steps)))
        return
    with tempfile.TemporaryDirectory(prefix="mouselift_train_memory_") as tmp:
        dataset = args.dataset or make_dataset(Path(tmp), args.image_size)
        rows = []
        for stage in STAGES:
            command = [sys.executable, __file__, "--case", stage, "--dataset", str(dataset),
                       "--output", str(Path(tmp) / stage), "--steps", str(args.steps)]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
    import torch

    print(f"{cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads, Python "
          f"{platform.python_version()}; dataset {dataset} ({args.steps} steps)\n")
    print("| preset | views fed to the model | seconds (whole run) | peak RSS (MiB) | of which "
          "training (MiB) |")
    print("|---|---|---:|---:|---:|")
    for row in rows:
        sizes = ", ".join(f"{h}×{w}" for h, w in row["view_sizes"])
        print(f"| train_{row['stage']}/tiny | {sizes} | {row['seconds']:.1f} | "
              f"{row['peak_rss_mib']:.0f} | {row['training_mib']:.0f} |")


def make_dataset(folder: Path, image_size: int) -> Path:
    """A synthetic recording (``synth/tiny``) prepared at ``image_size``."""
    from mouselift.config import load_config
    from mouselift.data.prepare import PrepareConfig, prepare_dataset
    from mouselift.data.synth import SynthConfig, synthesize

    synthesize(folder / "rec", load_config(SynthConfig, "synth", "tiny"), progress=False)
    prepare_dataset(folder / "rec", folder / "dataset",
                    PrepareConfig(image_size=image_size, workers=1, val_fraction=0.0),
                    progress=False)
    return folder / "dataset"


def run_case(stage_name: str, dataset: Path, output: Path, steps: int) -> dict:
    """``steps`` steps of the stage's ``tiny`` preset (no validation, no logging) in this
    process: the view sizes its loss saw, the time, this process's peak RSS."""
    from mouselift.train import train_stage

    overrides = {"dataset": str(dataset), "output_dir": str(output), "max_steps": steps,
                 "checkpoint_every": steps, "validate_every": steps, "validation_samples": 0,
                 "log_with": "none"}
    if stage_name == "gslrm":
        from mouselift.gslrm.train_config import load_train_gslrm_config
        from mouselift.gslrm.trainer import GSLRMStage

        stage = GSLRMStage(load_train_gslrm_config("tiny", overrides))
        key = "input_images"
    else:
        from mouselift.mvdiff.train_config import load_train_mvdiff_config
        from mouselift.mvdiff.trainer import MVDiffStage

        stage = MVDiffStage(load_train_mvdiff_config("tiny", overrides))
        key = "targets"
    sizes: set[tuple[int, int]] = set()
    loss = stage.loss

    def recording_loss(model, batch, generator):
        sizes.add(tuple(batch[key].shape[-2:]))
        return loss(model, batch, generator)

    stage.loss = recording_loss
    before = resident_mib()
    started = time.perf_counter()
    train_stage(stage, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"stage": stage_name, "view_sizes": sorted(sizes),
            "seconds": time.perf_counter() - started, "peak_rss_mib": peak,
            "before_training_mib": before, "training_mib": peak - before}


def resident_mib() -> float:
    """This process's resident set now (MiB): Python, torch, diffusers and accelerate loaded."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


if __name__ == "__main__":
    main()
