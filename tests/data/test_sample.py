"""A prepared sample's record (``sample.json``: similarity, frame) and its views in a given
order (``mouselift.data.sample``)."""

from __future__ import annotations

import numpy as np
import pytest

from mouselift.data.layout import read_split
from mouselift.data.sample import (
    SampleError,
    load_sample_record,
    load_sample_views,
    record_similarity,
)


def test_sample_record_helpers(mouse_dataset, tmp_path):
    name = read_split(mouse_dataset, "val")[0]
    record = load_sample_record(mouse_dataset / name)
    sim = record_similarity(record)
    assert sim.to_dict() == record["similarity"]
    with pytest.raises(SampleError, match=r"sample\.json: not found"):
        load_sample_record(tmp_path)
    (tmp_path / "sample.json").write_text("[1]")
    with pytest.raises(SampleError, match="not a JSON object"):
        load_sample_record(tmp_path)
    with pytest.raises(SampleError, match="no valid 'similarity'"):
        record_similarity({"similarity": {"scale": -1, "rotation": np.eye(3).tolist(),
                                          "translation": [0, 0, 0]}})
    views = load_sample_views(mouse_dataset / name)
    order = ["cam_003", "cam_000"]
    assert views.in_order(order).view_names == order
    with pytest.raises(SampleError, match="view 'front' is not among its images"):
        views.in_order(["front"], name)
