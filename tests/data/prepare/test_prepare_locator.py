"""``prepare`` records every view's mask shape and fits ``locator.json``; ``mouselift locator``
fits it for a dataset prepared without shapes (``mouselift.data.prepare.locator``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cli_testutils import run_cli
from mouselift.data.framing.locator import LOCATOR_FILE, MIN_FRAMES, OneViewLocator
from mouselift.data.framing.mask_shape import mask_shape
from mouselift.data.prepare.locator import SHAPE_KEY, fit_dataset_locator, record_shapes
from mouselift.data.recording import Recording
from mouselift.errors import DatasetError


def _records(dataset):
    return [json.loads(line) for line in (dataset / "manifest.jsonl").read_text().splitlines()]


def test_prepare_records_the_masks_shapes_and_fits_a_locator(mouse_dataset,
                                                              synthetic_recording):
    """Each view's ``mask_shape`` is that of the recording's full-frame mask; the suite's
    dataset is too short for any camera's model (6 train frames), which locator.json says."""
    record = _records(mouse_dataset)[0]
    masks = next(iter(Recording.open(synthetic_recording).frames(
        wanted=[record["frame"]], images=False))).masks
    for view, mask in zip(record["views"], masks, strict=True):
        assert view[SHAPE_KEY] == mask_shape(mask, 127).to_dict()
    locator = OneViewLocator.load(mouse_dataset / LOCATOR_FILE)
    assert not locator.cameras and len(locator.unavailable) == 6
    assert all(f"needs {MIN_FRAMES}" in why for why in locator.unavailable.values())
    assert locator.source["dataset"] == str(mouse_dataset.resolve())
    heights = [r["centre_mm"][2] for r in _records(mouse_dataset) if r["split"] == "train"]
    assert locator.centre_height_mm == pytest.approx(np.median(heights), abs=1e-3)
    summary = json.loads((mouse_dataset / "summary.json").read_text())
    assert summary["locator"].startswith(f"{LOCATOR_FILE}: no camera has a model (")


def _strip_shapes(dataset):
    for record in _records(dataset):
        path = dataset / record["sample"] / "sample.json"
        data = json.loads(path.read_text())
        for view in data["views"]:
            view.pop(SHAPE_KEY)
        path.write_text(json.dumps(data) + "\n")
    lines = []
    for record in _records(dataset):
        for view in record["views"]:
            view.pop(SHAPE_KEY)
        lines.append(json.dumps(record) + "\n")
    (dataset / "manifest.jsonl").write_text("".join(lines))
    (dataset / LOCATOR_FILE).unlink()


def test_the_command_measures_missing_shapes_from_the_recording(mouse_dataset,
                                                                synthetic_recording, tmp_path,
                                                                capsys):
    """A dataset prepared before shapes were recorded: the command adds prepare's own shapes
    to every record (sample.json and manifest) and writes the same locator."""
    old = tmp_path / "old"
    shutil.copytree(mouse_dataset, old)
    _strip_shapes(old)
    assert record_shapes(_records(old)[0]) is None
    _moved_summary(old)
    with pytest.raises(DatasetError, match="not here"):
        fit_dataset_locator(old, progress=False)
    code, out, err = run_cli(capsys, "locator", str(old), "--recording",
                             str(synthetic_recording), "-q")
    assert code == 0, err
    assert "one-view centre vs all-view centre on val" in out
    assert _records(old) == _records(mouse_dataset)
    for record in _records(old):
        assert json.loads((old / record["sample"] / "sample.json").read_text()) == record
    ours = json.loads((old / LOCATOR_FILE).read_text())
    theirs = json.loads((mouse_dataset / LOCATOR_FILE).read_text())
    assert {k: v for k, v in ours.items() if k != "source"} == {
        k: v for k, v in theirs.items() if k != "source"}


def _moved_summary(dataset) -> None:
    """Point the dataset's summary.json at a recording that is not here."""
    path = dataset / "summary.json"
    summary = json.loads(path.read_text())
    summary["recording"] = str(dataset / "gone")
    path.write_text(json.dumps(summary))


def test_the_command_refuses_another_recording(mouse_dataset, tmp_path, capsys):
    """A recording at another resolution has the same camera names but not the calibration the
    dataset was cut from: refused in one line before anything is written."""
    from mouselift.data.synth import SynthConfig, synthesize

    other = tmp_path / "other"
    synthesize(other, SynthConfig(frames=12, scale=0.25, seed=0), progress=False)
    code, _, err = run_cli(capsys, "locator", str(mouse_dataset), "--recording",
                           str(tmp_path / "missing"))
    assert code != 0 and "missing" in err
    before = (mouse_dataset / LOCATOR_FILE).read_text()
    with pytest.raises(DatasetError, match="another calibration") as info:
        fit_dataset_locator(mouse_dataset, other, progress=False)
    assert "\n" not in str(info.value)
    assert (mouse_dataset / LOCATOR_FILE).read_text() == before
