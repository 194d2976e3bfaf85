"""A wrong argument is reported at once: before any model is loaded (issue 22). Model loading is
stubbed to fail loudly, and each error must come within a second."""

from __future__ import annotations

import time

import pytest
import torch

import mouselift.flows.lift
import mouselift.gslrm.checkpoints
import mouselift.gslrm.inference
import mouselift.gslrm.trainer
import mouselift.mvdiff.pipeline
from cli_testutils import one_line_error, run_cli


def _never(*_args, **_kwargs):
    raise AssertionError("a model was loaded before the arguments were checked")


@pytest.fixture
def no_loading(monkeypatch):
    """Every way a command loads a model raises ``AssertionError``."""
    monkeypatch.setattr(mouselift.flows.lift.LiftModels, "load", _never)
    monkeypatch.setattr(mouselift.gslrm.inference.Stage2Model, "load", _never)
    for module in (mouselift.gslrm.checkpoints, mouselift.flows.lift, mouselift.gslrm.inference,
                   mouselift.gslrm.trainer):
        monkeypatch.setattr(module, "load_gslrm", _never)
    monkeypatch.setattr(mouselift.gslrm.trainer, "load_facelift_checkpoint", _never)
    pipeline = mouselift.mvdiff.pipeline.MultiViewDiffusionPipeline
    monkeypatch.setattr(pipeline, "from_pretrained", _never)
    monkeypatch.setattr(pipeline, "from_architecture", _never)


@pytest.fixture
def files(tmp_path, synthetic_recording, mouse_dataset):
    """The suite's recording and dataset, and checkpoint paths that exist (never read: the
    error comes first)."""
    sample = (mouse_dataset / "train.txt").read_text().split()[0]
    paths = {"rec": synthetic_recording, "data": mouse_dataset, "sample": mouse_dataset / sample}
    for name in ("pipe", "gslrm"):
        paths[name] = tmp_path / name
        paths[name].mkdir()
    paths["image"] = tmp_path / "mouse.png"
    paths["image"].write_bytes(b"")
    paths["out"] = tmp_path / "out"
    paths["missing"] = tmp_path / "nowhere"
    return {name: str(path) for name, path in paths.items()}


def _cases(f: dict[str, str]) -> dict[str, tuple[list[str], str]]:
    """name → (arguments, a fragment of the error)."""
    models = ["--mvdiff", f["pipe"], "--gslrm", f["gslrm"]]
    infer = ["infer", f["image"], f["out"], *models]
    video = ["infer", f["out"], "--video", "--recording", f["rec"], "--camera", "0", *models]
    evaluate = ["eval", f["data"], f["out"], *models]
    reconstruct = ["reconstruct", f["sample"], f["out"], "--gslrm", f["gslrm"]]
    mvdiff = ["train", "mvdiff", "--pipeline", f["pipe"], "--dataset", f["data"], "--output",
              f["out"]]
    gslrm = ["train", "gslrm", "--checkpoint", f["gslrm"], "--dataset", f["data"], "--output",
             f["out"]]
    return {
        "infer cuda": ([*infer, "--device", "cuda"], "CUDA is not available"),
        "infer solver": ([*infer, "--solver", "euler"], "unknown solver 'euler'"),
        "infer image": (["infer", f["missing"], f["out"], *models], f["missing"]),
        "infer gslrm": ([*infer[:3], "--mvdiff", f["pipe"], "--gslrm", f["missing"]],
                        f["missing"]),
        "infer mvdiff": ([*infer[:3], "--mvdiff", f["missing"], "--gslrm", f["gslrm"]],
                         f["missing"]),
        "infer mask": ([*infer, "--mask", f["missing"]], f["missing"]),
        "infer recording": ([*video[:3], "--recording", f["missing"], *video[5:]], f["missing"]),
        "infer shard": ([*video, "--shard", "5/2"], "shard 5/2"),
        "infer frames": ([*video, "--frames", "7:7"], "7:7"),
        "infer video cuda": ([*video, "--device", "cuda"], "CUDA is not available"),
        "eval cuda": ([*evaluate, "--device", "cuda"], "CUDA is not available"),
        "eval solver": ([*evaluate, "--solver", "euler"], "unknown solver 'euler'"),
        "eval dataset": (["eval", f["missing"], f["out"], *models], f["missing"]),
        "eval gslrm": ([*evaluate[:3], "--gslrm", f["missing"]], f["missing"]),
        "eval mvdiff": ([*evaluate[:3], "--gslrm", f["gslrm"], "--mvdiff", f["missing"]],
                        f["missing"]),
        "reconstruct cuda": ([*reconstruct, "--device", "cuda"], "CUDA is not available"),
        "reconstruct views": (["reconstruct", f["missing"], f["out"], "--gslrm", f["gslrm"]],
                              f["missing"]),
        "reconstruct gslrm": ([*reconstruct[:3], "--gslrm", f["missing"]], f["missing"]),
        "train mvdiff dataset": ([*mvdiff[:4], "--dataset", f["missing"], *mvdiff[6:]],
                                 f["missing"]),
        "train mvdiff pipeline": ([*mvdiff[:2], "--pipeline", f["missing"], *mvdiff[4:]],
                                  f["missing"]),
        "train gslrm dataset": ([*gslrm[:4], "--dataset", f["missing"], *gslrm[6:]],
                                f["missing"]),
        "train gslrm checkpoint": ([*gslrm[:2], "--checkpoint", f["missing"], *gslrm[4:]],
                                   f["missing"]),
        "prepare recording": (["prepare", f["missing"], f["out"]], f["missing"]),
        "prepare shard": (["prepare", f["rec"], f["out"], "--shard", "5/2"], "shard 5/2"),
        "prepare frames": (["prepare", f["rec"], f["out"], "--frames", "7:7"], "7:7"),
        "fit cuda": (["fit", f["sample"], f["out"], "--device", "cuda"], "CUDA is not available"),
        "fit sample": (["fit", f["missing"], f["out"]], f["missing"]),
    }


CASES = list(_cases({name: name for name in ("pipe", "gslrm", "rec", "data", "sample", "image",
                                              "out", "missing")}))


@pytest.mark.parametrize("case", CASES)
def test_wrong_argument_is_reported_before_loading(capsys, no_loading, files, case):
    args, fragment = _cases(files)[case]
    if "cuda" in case and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    started = time.perf_counter()
    code, _, err = run_cli(capsys, *args, "-q")
    seconds = time.perf_counter() - started
    one_line_error(code, err, fragment)
    assert seconds < 1.0, f"{case}: the error took {seconds:.1f} s"
