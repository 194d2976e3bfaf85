"""``mouselift train mvdiff`` and ``mouselift embeds``: help, tiny runs, one-line errors."""

from __future__ import annotations

import pytest

from cli_testutils import one_line_error, run_cli


@pytest.mark.parametrize("command", [["train", "mvdiff"], ["embeds"]])
def test_help_has_examples(capsys, command):
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0 and "Examples" in out and "mouselift" in out


def test_train_then_embeds_then_resume(capsys, mouse_dataset, tmp_path):
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                             str(mouse_dataset), "--output", str(run), "--max-steps", "2",
                             "--log-with", "none", "--set", "validation_samples=0", "-q")
    assert code == 0, err
    assert "trained steps 0 → 2" in out and "checkpoint-000002" in out
    pipeline = run / "checkpoints" / "checkpoint-000002" / "pipeline"

    code, out, err = run_cli(capsys, "embeds", "--pipeline", str(pipeline), "--rig", "facelift",
                             "--image-size", "64", "--out", str(tmp_path / "rig"))
    assert code == 0, err
    assert "rig 'facelift' (6 views, 64×64" in out and "(6, 77, 32)" in out
    assert (tmp_path / "rig" / "prompt_embeds.safetensors").is_file()

    code, out, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                             str(mouse_dataset), "--output", str(run), "--max-steps", "3",
                             "--log-with", "none", "--set", "validation_samples=0",
                             "--resume", "latest", "-q")
    assert code == 0, err
    assert "trained steps 2 → 3" in out


def test_one_line_errors(capsys, mouse_dataset, tmp_path):
    code, _, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                           str(mouse_dataset), "--output", str(tmp_path / "r"),
                           "--set", "lerning_rate=1")
    one_line_error(code, err, "unknown config key 'lerning_rate'")
    code, _, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                           str(mouse_dataset), "--output", str(tmp_path / "r"),
                           "--set", "resolution=64")
    one_line_error(code, err, "config key 'resolution' was renamed 'image_size'")
    code, _, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--output",
                           str(tmp_path / "r"))
    one_line_error(code, err, "no dataset")
    code, _, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                           str(tmp_path), "--output", str(tmp_path / "r"))
    one_line_error(code, err, "train.txt")
    code, _, err = run_cli(capsys, "train", "mvdiff", "--pipeline", str(tmp_path / "none"),
                           "--dataset", str(mouse_dataset), "--output", str(tmp_path / "r"))
    one_line_error(code, err, "none: does not exist")
    code, _, err = run_cli(capsys, "embeds", "--pipeline", str(tmp_path), "--rig", "nowhere",
                           "--out", str(tmp_path / "x"))
    one_line_error(code, err, "not 'facelift', a prepared dataset, or a rig")
    code, _, err = run_cli(capsys, "train", "mvdiff", "--config", "tiny", "--dataset",
                           str(mouse_dataset), "--output", str(tmp_path / "r"), "--set", "oops")
    one_line_error(code, err, "expected KEY=VALUE")


def test_embeds_from_facelift_file(capsys, tiny_pipeline_dir, tmp_path):
    """FaceLift's clr_embeds.pt format: a bare fp16 tensor (6, 77, width) written by torch.save;
    imported for the FaceLift rig without a text encoder, stored as float32 with the rig."""
    import shutil

    import torch

    from mouselift.cameras.rig import facelift_rig, load_prompt_embeds, load_rig

    pipeline = tmp_path / "pipeckpts"
    shutil.copytree(tiny_pipeline_dir, pipeline)
    for name in ("text_encoder", "tokenizer", "rig"):
        shutil.rmtree(pipeline / name, ignore_errors=True)
    width = 32  # the tiny UNet's cross_attention_dim
    embeds = torch.randn(6, 77, width, generator=torch.Generator().manual_seed(0)).half()
    torch.save(embeds, tmp_path / "clr_embeds.pt")
    code, out, err = run_cli(capsys, "embeds", "--pipeline", str(pipeline), "--rig", "facelift",
                             "--image-size", "64", "--from-file", str(tmp_path / "clr_embeds.pt"),
                             "--into-pipeline")
    assert code == 0, err
    assert "(6, 77, 32)" in out
    rig = load_rig(pipeline / "rig")
    assert rig.fingerprint() == facelift_rig(64).fingerprint()
    stored = load_prompt_embeds(pipeline / "rig", rig)
    assert stored.dtype == torch.float32 and torch.equal(stored, embeds.float())

    # wrong width (a 768-wide CLIP), wrong view count, not a tensor, a pickle with code: refused
    torch.save(torch.randn(6, 77, 768).half(), tmp_path / "wide.pt")
    torch.save(torch.randn(4, 77, width), tmp_path / "four.pt")
    torch.save({"embeds": embeds}, tmp_path / "dict.pt")
    (tmp_path / "evil.pt").write_bytes(b"cos\nsystem\n(S'echo hi'\ntR.")
    for name, message in (("wide.pt", "768"), ("four.pt", "expected (6, 77, width)"),
                          ("dict.pt", "holds a dict"), ("evil.pt", "weights-only PyTorch file"),
                          ("missing.pt", "not found")):
        code, _, err = run_cli(capsys, "embeds", "--pipeline", str(pipeline), "--rig",
                               "facelift", "--image-size", "64", "--from-file",
                               str(tmp_path / name), "--out", str(tmp_path / "o"))
        one_line_error(code, err, message)
    # the file holds FaceLift's prompts: another rig with them would be a silent mismatch
    from mouselift.cameras.rig import rig_from_cameras

    rig_from_cameras(facelift_rig(64).cameras, name="mine").save(tmp_path / "mine")
    code, _, err = run_cli(capsys, "embeds", "--pipeline", str(pipeline), "--rig",
                           str(tmp_path / "mine"), "--from-file", str(tmp_path / "clr_embeds.pt"),
                           "--out", str(tmp_path / "o"))
    one_line_error(code, err, "use them with --rig facelift")


def test_random_weights_are_asked_for_by_name(capsys, mouse_dataset, tmp_path):
    """Without --pipeline the `mouse` preset is refused (it used to train a random tiny pipeline
    for 30,000 steps without a word); --init or --config tiny ask for random weights."""
    code, _, err = run_cli(capsys, "train", "mvdiff", "--dataset", str(mouse_dataset),
                           "--output", str(tmp_path / "r"), "--max-steps", "1", "-q")
    one_line_error(code, err, "give pipeline", "init")
    assert not (tmp_path / "r").exists()
    code, out, err = run_cli(capsys, "train", "mvdiff", "--init", "tiny", "--dataset",
                             str(mouse_dataset), "--output", str(tmp_path / "r"),
                             "--max-steps", "1", "--mixed-precision", "no",
                             "--set", "validation_samples=0", "--log-with", "none", "-q")
    assert code == 0, err
    assert "trained steps 0 → 1" in out
    # --resume takes the run folder too (its latest complete checkpoint) and says which
    resume = ["train", "mvdiff", "--init", "tiny", "--dataset", str(mouse_dataset), "--output",
              str(tmp_path / "r"), "--max-steps", "2", "--mixed-precision", "no", "--set",
              "validation_samples=0", "--log-with", "none", "-q", "--resume"]
    code, out, err = run_cli(capsys, *resume, str(tmp_path / "r"))
    assert code == 0, err
    assert f"resumed from: {tmp_path / 'r' / 'checkpoints' / 'checkpoint-000001'}" in out
    assert "trained steps 1 → 2" in out
    code, _, err = run_cli(capsys, *resume, str(tmp_path / "nowhere"))
    one_line_error(code, err, "nowhere: does not exist")
