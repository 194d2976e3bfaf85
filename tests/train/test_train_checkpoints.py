"""Checkpoint folders of the engine: publication never leaves a moment without a complete
checkpoint, deletion never leaves one that looks complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mouselift.train import checkpoints as ckpt

PAYLOAD = ("model",)


def make_partial(run: Path, step: int, marker: str) -> Path:
    partial = ckpt.partial_path(run, step)
    (partial / ckpt.TRAINING_STATE_DIR).mkdir(parents=True)
    (partial / ckpt.TRAINING_STATE_DIR / "marker.txt").write_text(marker)
    return partial


def export_marker(marker: str):
    def export(folder: Path) -> None:
        (folder / "model").mkdir()
        (folder / "model" / "marker.txt").write_text(marker)
    return export


def marker(folder: Path) -> str:
    return (folder / "model" / "marker.txt").read_text()


def test_publish_replaces_a_checkpoint_without_a_gap(tmp_path):
    final = ckpt.checkpoint_path(tmp_path, 2)
    ckpt.publish(make_partial(tmp_path, 2, "old"), final, {"step": 2}, export_marker("old"))
    assert ckpt.is_complete(final, PAYLOAD) and marker(final) == "old"
    assert json.loads((final / ckpt.STATE_FILE).read_text()) == {"step": 2}

    seen_during_assembly = []

    def export(folder: Path) -> None:
        # the previous checkpoint is still there, complete, while the new one is assembled
        seen_during_assembly.append((ckpt.is_complete(final, PAYLOAD), marker(final)))
        export_marker("new")(folder)

    partial = make_partial(tmp_path, 2, "new")
    ckpt.publish(partial, final, {"step": 2, "again": True}, export)
    assert seen_during_assembly == [(True, "old")]
    assert marker(final) == "new"
    assert (final / ckpt.TRAINING_STATE_DIR / "marker.txt").read_text() == "new"
    assert not partial.exists()
    assert [p.name for p in ckpt.checkpoints_root(tmp_path).iterdir()] == ["checkpoint-000002"]


def test_a_failed_publication_leaves_the_previous_checkpoint(tmp_path):
    final = ckpt.checkpoint_path(tmp_path, 2)
    ckpt.publish(make_partial(tmp_path, 2, "old"), final, {"step": 2}, export_marker("old"))

    def failing(folder: Path) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        ckpt.publish(make_partial(tmp_path, 2, "new"), final, {"step": 2}, failing)
    assert ckpt.is_complete(final, PAYLOAD) and marker(final) == "old"
    ckpt.clear_partials(tmp_path)
    assert [p.name for p in ckpt.checkpoints_root(tmp_path).iterdir()] == ["checkpoint-000002"]


def test_prune_hides_a_checkpoint_before_deleting_it(tmp_path, monkeypatch):
    for step in (1, 2, 3):
        ckpt.publish(make_partial(tmp_path, step, str(step)), ckpt.checkpoint_path(tmp_path, step),
                     {"step": step}, export_marker(str(step)))
    # a deletion killed halfway (here: never done) leaves a hidden folder, not a checkpoint
    monkeypatch.setattr(ckpt.shutil, "rmtree", lambda *a, **k: None)
    removed = ckpt.prune(tmp_path, 2, PAYLOAD)
    assert removed == [ckpt.checkpoint_path(tmp_path, 1)]
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path, PAYLOAD)] == [2, 3]
    monkeypatch.undo()
    assert len(list(ckpt.checkpoints_root(tmp_path).glob(".checkpoint-000001.*.partial"))) == 1
    ckpt.clear_partials(tmp_path)
    assert sorted(p.name for p in ckpt.checkpoints_root(tmp_path).iterdir()) == [
        "checkpoint-000002", "checkpoint-000003"]


def test_resolve_resume_names_what_is_missing(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match="no complete checkpoint"):
        ckpt.resolve_resume(tmp_path, "latest")
    with pytest.raises(ckpt.CheckpointError, match="nowhere: does not exist"):
        ckpt.resolve_resume(tmp_path, tmp_path / "nowhere")
    final = ckpt.checkpoint_path(tmp_path, 5)
    ckpt.publish(make_partial(tmp_path, 5, "x"), final, {"step": 5})
    assert ckpt.resolve_resume(tmp_path, "latest") == final
    with pytest.raises(ckpt.CheckpointError, match=r"incomplete checkpoint \(no model\)"):
        ckpt.resolve_resume(tmp_path, final, PAYLOAD)


def test_a_run_a_checkpoint_and_its_payload_name_the_same_checkpoint(tmp_path):
    """What `train` prints (the checkpoint folder), the run folder (its latest complete
    checkpoint) and the payload folder all resolve — to load, and to resume."""
    run = tmp_path / "run"
    for step in (2, 4):
        ckpt.publish(make_partial(run, step, str(step)), ckpt.checkpoint_path(run, step),
                     {"step": step}, export_marker(str(step)))
    (ckpt.checkpoint_path(run, 6) / "model").mkdir(parents=True)  # incomplete: no state
    latest = ckpt.checkpoint_path(run, 4)
    forms = {run: f"latest checkpoint of run {run}",
             latest: "from the checkpoint folder given", latest / "model": ""}
    for given, how in forms.items():
        assert ckpt.resolve_payload(given, "model") == (latest / "model", how)
        assert ckpt.resolve_resume(tmp_path / "other", given, PAYLOAD) == latest
    loose = tmp_path / "model.pt"  # FaceLift's file, or a payload saved on its own
    loose.write_bytes(b"")
    assert ckpt.resolve_payload(loose, "model") == (loose, "")
    assert ckpt.resolve_payload(tmp_path, "model") == (tmp_path, "")
    assert ckpt.loaded_from(latest / "model", forms[run]) == (
        f"{latest / 'model'} (latest checkpoint of run {run})")
    with pytest.raises(ckpt.CheckpointError, match="nowhere: does not exist"):
        ckpt.resolve_payload(tmp_path / "nowhere", "model")
    with pytest.raises(ckpt.CheckpointError, match="a checkpoint without pipeline/"):
        ckpt.resolve_payload(latest, "pipeline")
    with pytest.raises(ckpt.CheckpointError, match="not a checkpoint folder"):
        ckpt.resolve_resume(run, loose, PAYLOAD)
