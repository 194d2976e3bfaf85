"""``mouselift train builtin``: the one command that makes the built-in models, here with the
``tiny`` recipe (24 frames, a few steps a stage: ~15 s)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from cli_testutils import run_cli
from mouselift.errors import ConfigError
from mouselift.flows.builtin import load_builtin_recipe, train_builtin
from mouselift.flows.lift import LiftModels
from mouselift.train.checkpoints import list_checkpoints
from mouselift.weights import MADE_BY_FILE, file_sha256


@pytest.fixture(scope="module")
def built(tiny_builtin):
    return tiny_builtin


def _weights(folder):
    return {p.relative_to(folder): load_file(str(p)) for p in sorted(folder.rglob(
        "*.safetensors"))}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(
        a[f].keys() == b[f].keys() and all(torch.equal(a[f][k], b[f][k]) for k in a[f])
        for f in a)


def test_the_command_makes_both_models_with_what_made_them(built):
    """Both model folders load as a lift pair (one rig, with the dataset's locator); each
    mouselift.json names the command, recipe, seed and data, and the SHA-256 of every weight
    file, which match the files."""
    out, result = built
    assert list(result.steps) == ["recording", "dataset", "vae", "mvdiff", "gslrm", "export"]
    assert all(what.startswith("made") for what in result.steps.values())
    models = LiftModels.load(out / "models" / "stage1", out / "models" / "stage2")
    assert models.rig.locator is not None
    stored = load_file(str(out / "models" / "stage2" / "model.safetensors"))
    assert {t.dtype for t in stored.values()} == {torch.float16}  # the recipe's storage
    assert {p.dtype for p in models.gslrm.parameters()} == {torch.float32}  # run in float32
    assert {p.dtype for p in models.pipeline.unet.parameters()} == {torch.float32}
    assert models.pipeline.vae.config.scaling_factor != 0.18215  # its own, measured
    for stage in ("stage1", "stage2"):
        folder = out / "models" / stage
        made = json.loads((folder / MADE_BY_FILE).read_text())["builtin"]
        assert made["command"] == "mouselift train builtin build --config tiny"
        assert made["recipe"] == "tiny" and made["seed"] == 0 and made["stage"] == stage
        assert made["data"]["synth"]["frames"] == 24
        assert made["weights"] and all(file_sha256(folder / name) == digest
                                       for name, digest in made["weights"].items())
    assert "format" in json.loads((out / "models" / "stage2" / MADE_BY_FILE).read_text())


def test_a_rerun_does_nothing_and_a_lost_checkpoint_is_retrained_exactly(built, tmp_path):
    """Re-running finds every step complete; with the last GS-LRM checkpoint lost it resumes
    from the one before and ends with the same weights, to the bit."""
    out, _ = built
    copy = tmp_path / "build"
    shutil.copytree(out, copy)
    before = _weights(copy / "models")
    again = train_builtin(copy, load_builtin_recipe("tiny"), recipe_name="tiny",
                          progress=False)
    assert [again.steps[k] for k in ("recording", "dataset", "vae", "mvdiff", "gslrm")] == [
        "done"] * 5
    last = list_checkpoints(copy / "runs" / "gslrm")[-1][1]
    shutil.rmtree(last)
    resumed = train_builtin(copy, load_builtin_recipe("tiny"), recipe_name="tiny",
                            progress=False)
    assert resumed.steps["gslrm"] == "resumed from step 2"
    assert _same(_weights(copy / "models"), before)


def test_a_recording_of_another_recipe_is_refused(built, tmp_path):
    out, _ = built
    copy = tmp_path / "build"
    shutil.copytree(out / "recording", copy / "recording")
    other = load_builtin_recipe("tiny", {"seed": 1})
    with pytest.raises(ConfigError, match="other synth settings"):
        train_builtin(copy, other, progress=False)


def test_the_cli_takes_overrides(capsys, built, tmp_path):
    code, _, err = run_cli(capsys, "train", "builtin", str(tmp_path / "x"), "--config", "tiny",
                           "--set", "synth.framez=3")
    assert code == 2 and "framez" in err and "\n" not in err.strip()


def test_infer_without_checkpoints_uses_the_built_in_models(built, tmp_path, monkeypatch):
    """MOUSELIFT_BUILTIN names a build's models: infer with neither checkpoint uses them, says
    so in one line and in report.json, and writes every output; with none installed, or with one
    checkpoint of the two, it is a one-line error."""
    from mouselift.errors import WeightsError
    from mouselift.flows.infer import infer
    from mouselift.mvdiff.solvers import SamplingSettings

    out, _ = built
    monkeypatch.setenv("MOUSELIFT_BUILTIN", str(out / "models"))
    result = infer(tmp_path / "infer", recording=out / "recording", frame=5, camera=0,
                   sampler=SamplingSettings(steps=2), turntable_frames=2, progress=False)
    assert result.report["builtin"]["recipe"] == "tiny"
    assert result.report["builtin"]["stage1"] == str(out / "models" / "stage1")
    assert "using the built-in models (recipe tiny" in result.format()
    for name in ("input.png", "multiview.png", "gaussians.ply", "turntable.mp4", "views.png",
                 "metrics.json", "report.json", "opencv_cameras.json"):
        assert (tmp_path / "infer" / name).is_file(), name
    monkeypatch.setenv("MOUSELIFT_BUILTIN", str(tmp_path / "none"))
    with pytest.raises(WeightsError, match="no built-in models") as info:
        infer(tmp_path / "x", recording=out / "recording", frame=5, camera=0, progress=False)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="--gslrm needs --mvdiff"):
        infer(tmp_path / "x", gslrm=out / "models" / "stage2", recording=out / "recording",
              frame=5, camera=0, progress=False)


def test_installing_checks_the_records_and_the_size(built, tmp_path):
    """``python -m mouselift.weights install``: a build whose weights match their records goes
    in whole; a changed weight file or a build over the size limit is refused."""
    from mouselift.errors import WeightsError
    from mouselift.weights import install, verify

    out, _ = built
    target = install(out / "models", tmp_path / "installed")
    assert verify(target / "stage1") == [] and verify(target / "stage2") == []
    with pytest.raises(WeightsError, match=r"more than the 0\.1 MB"):
        install(out / "models", tmp_path / "small", max_mb=0.1)
    tampered = tmp_path / "tampered"
    shutil.copytree(out / "models", tampered)
    (tampered / "stage2" / "model.safetensors").write_bytes(b"x")
    with pytest.raises(WeightsError, match="weights differ"):
        install(tampered, tmp_path / "bad")


@pytest.mark.slow  # ~40 s: a recording, its dataset, infer, eval with a per-scene fit
def test_the_demo_uses_the_built_in_models(built, tmp_path, monkeypatch):
    """With built-in models installed, ``mouselift demo`` synthesises a recording of a seed they
    never saw, infers one frame and evaluates them against the per-scene fit."""
    from mouselift.flows.demo import BUILTIN_DEMO_SEED, run_demo

    out, _ = built
    monkeypatch.setenv("MOUSELIFT_BUILTIN", str(out / "models"))
    result = run_demo(tmp_path / "demo", frames=16, eval_samples=1, progress=False)
    truth = json.loads((result.recording_dir / "ground_truth.json").read_text())
    assert truth["seed"] == BUILTIN_DEMO_SEED != 0  # the training recording's seed is 0
    report = json.loads((result.infer_dir / "report.json").read_text())
    assert report["builtin"]["recipe"] == "tiny"
    evaluated = json.loads((result.eval_dir / "eval.json").read_text())
    assert set(evaluated["means"]) == {"fit", "stage2", "stage1", "end_to_end"}
    assert "the built-in models" in result.report and "synthetic mouse only" in result.report
    assert f"mouselift view {result.infer_dir}" in result.report


def test_eval_with_nothing_given_evaluates_the_built_in_models(built, tmp_path, monkeypatch):
    from mouselift.flows.evaluate import evaluate_dataset

    out, _ = built
    monkeypatch.setenv("MOUSELIFT_BUILTIN", str(out / "models"))
    result = evaluate_dataset(out / "dataset", tmp_path / "eval", samples=1,
                              sampler={"solver": "dpm++", "steps": 2}, progress=False)
    assert result.report["builtin"]["recipe"] == "tiny"
    assert set(result.report["means"]) == {"stage2", "stage1", "end_to_end"}
    with pytest.raises(ConfigError, match="leave out --gslrm"):
        evaluate_dataset(out / "dataset", tmp_path / "e2", builtin=True,
                         gslrm=out / "models" / "stage2")


def test_reconstruct_without_a_checkpoint_uses_the_built_in_stage_2(capsys, built, tmp_path,
                                                                   monkeypatch):
    """The built-in Stage 2 reconstructs a sample's real views as the same model given by path
    does (the same Gaussians), and says so in one line and in metrics.json."""
    from mouselift.errors import WeightsError
    from mouselift.flows.reconstruct import reconstruct

    out, _ = built
    sample = sorted((out / "dataset").glob("sample_*"))[0]
    monkeypatch.setenv("MOUSELIFT_BUILTIN", str(out / "models"))
    code, stdout, _ = run_cli(capsys, "reconstruct", str(sample), str(tmp_path / "builtin"),
                              "--turntable-frames", "2", "--quiet")
    assert code == 0
    assert "using the built-in models (recipe tiny" in stdout
    metrics = json.loads((tmp_path / "builtin" / "metrics.json").read_text())
    assert metrics["builtin"]["stage2"] == str(out / "models" / "stage2")
    given = reconstruct(sample, tmp_path / "given", out / "models" / "stage2",
                        turntable_frames=2, progress=False)
    assert given.metrics["builtin"] is None
    assert given.metrics["inputs"] == metrics["inputs"]
    assert given.metrics["num_gaussians"] == metrics["num_gaussians"]
    monkeypatch.setenv("MOUSELIFT_BUILTIN", str(tmp_path / "none"))
    with pytest.raises(WeightsError, match="no built-in models"):
        reconstruct(sample, tmp_path / "x", progress=False)


def test_eval_scores_the_locator_the_models_carry_when_the_dataset_has_none(built, tmp_path,
                                                                           monkeypatch):
    """A dataset too short to fit a locator, cut from the calibration the models' locator was
    fitted for: eval's localisation scores the models' one; from another calibration it keeps
    the dataset's."""
    from dataclasses import replace

    from mouselift.data.framing.locator import OneViewLocator, fit_locator
    from mouselift.data.prepare.locator import dataset_observations
    from mouselift.data.prepare.manifest import sample_records
    from mouselift.flows.evaluate.localisation import score_localisation

    out, _ = built
    dataset = out / "dataset"  # the tiny recipe's: too short for any camera model
    names = [json.loads(line)["sample"] for line in
             (dataset / "manifest.jsonl").read_text().splitlines()][:3]
    own = OneViewLocator.load(dataset)
    assert not own.cameras
    train, _, _ = dataset_observations(sample_records(dataset))
    with monkeypatch.context() as patch:  # a locator fitted on these few frames all the same
        patch.setattr("mouselift.data.framing.locator.MIN_FRAMES", 5)
        patch.setattr("mouselift.data.framing.locator.MIN_REFERENCE_VIEWS", 1)
        carried = fit_locator(own.calibration, train, threshold=127).to_dict()
    info, _ = score_localisation(dataset, names, carried)
    assert info["locator_from"] == "the checkpoints' rig"
    other = OneViewLocator.from_dict(carried)
    moved = []
    for camera in other.calibration:
        w2c = camera.w2c.copy()
        w2c[0, 3] += 5.0
        moved.append(replace(camera, w2c=w2c))
    info, _ = score_localisation(dataset, names, replace(other, calibration=moved).to_dict())
    assert info["locator_from"] == str(dataset / "locator.json")
