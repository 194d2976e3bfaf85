"""A prepared dataset's ground truth (``mouselift.data.synth.ground_truth``): found from the
dataset's ``summary.json`` or given, rows by frame, and the centre check against a sample."""

from __future__ import annotations

import json

import pytest

from mouselift.data.layout import recorded_source
from mouselift.data.synth import load_ground_truth
from mouselift.data.synth.ground_truth import find_ground_truth
from mouselift.errors import DatasetError, RecordingError


def test_recorded_source_relative_paths(tmp_path):
    (tmp_path / "work" / "data" / "ds").mkdir(parents=True)
    ds = tmp_path / "work" / "data" / "ds"
    (ds / "summary.json").write_text(json.dumps({"recording": "rec", "out_dir": "data/ds"}))
    assert tmp_path / "work" / "rec" in recorded_source(ds)  # where prepare ran
    assert find_ground_truth(ds).info["available"] is False
    (ds / "summary.json").write_text("{}")
    assert recorded_source(ds) == []


def test_found_from_the_summary_or_given(mouse_dataset, synthetic_recording):
    found = find_ground_truth(mouse_dataset)
    assert found.info == {"available": True, "recording": str(synthetic_recording),
                          "source": "summary.json"}
    given = find_ground_truth(mouse_dataset, synthetic_recording)
    assert given.info["source"] == "--recording"
    assert given.surface_points(4).shape == found.truth.surface_points[4].shape


def test_a_centre_far_from_the_truth_is_not_this_recording(mouse_dataset, synthetic_recording):
    truth = find_ground_truth(mouse_dataset, synthetic_recording)
    assert truth.check_centre(4, truth.truth.centers[4], "sample_000004") == 0.0
    with pytest.raises(DatasetError, match="not the recording"):
        truth.check_centre(4, [0.0, 0.0, 0.0], "sample_000004")


def test_rows_by_frame(synthetic_recording):
    truth = load_ground_truth(synthetic_recording)
    assert truth.row_of(4) == 4
    with pytest.raises(RecordingError, match="no frame 999"):
        truth.row_of(999)
