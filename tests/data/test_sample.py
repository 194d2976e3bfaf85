"""A prepared sample's record (``sample.json``: similarity, frame) and its views in a given
order (``mouselift.data.sample``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mouselift.data.layout import read_split
from mouselift.data.sample import (
    SampleError,
    SampleViews,
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


@settings(max_examples=40, deadline=None)
@given(cx=st.floats(-0.3, 1.3), cy=st.floats(-0.3, 1.3), half=st.floats(20.0, 200.0),
       size=st.sampled_from([16, 37, 64]))
def test_unseen_pixels_are_the_crop_pixels_mapped_outside_the_source(cx, cy, half, size):
    """From prepare's record alone (the crop's box and the source size), exactly the crop
    pixels whose centre the crop's own pixel map sends outside the source image."""
    from mouselift.data.framing.crops import nominal_camera, square_crop_geometry
    from mouselift.data.sample import unseen_pixels

    source = nominal_camera(576, 512)
    geom = square_crop_geometry(source, np.array([cx * 576, cy * 512]), half, size)
    ij = np.stack(np.meshgrid(np.arange(size), np.arange(size)), axis=-1).reshape(-1, 2)
    mapped = ij @ geom.affine[:, :2].T + geom.affine[:, 2]  # OpenCV source pixel of each centre
    outside = ((mapped[:, 0] < -0.5) | (mapped[:, 0] >= 575.5) | (mapped[:, 1] < -0.5)
               | (mapped[:, 1] >= 511.5)).reshape(size, size)
    margin = np.minimum(np.abs(mapped + 0.5), np.abs(mapped - [575.5, 511.5])).min(axis=1)
    clear = margin.reshape(size, size) > 1e-6  # pixels not on the image's edge to rounding
    got = unseen_pixels(geom.box, (576, 512), size, size)
    assert np.array_equal(got[clear], outside[clear])
    assert got.any() == geom.clipped or not outside.any()


def test_views_carry_what_their_cameras_did_not_see(mouse_dataset, tmp_path):
    """load_sample_views marks the unseen pixels from the record (the sample's views and its
    eval/ views, older records by their mask shape's or the rig's source size); subsets,
    resizing and concatenation keep them; a record that says nothing leaves them None."""
    import json
    import shutil

    from mouselift.data.layout import EVAL_DIR
    from mouselift.data.sample import load_sample_views, unseen_pixels

    name = read_split(mouse_dataset, "train")[0]
    sample = tmp_path / name
    shutil.copytree(mouse_dataset / name, sample)
    record = json.loads((sample / "sample.json").read_text())
    views = load_sample_views(sample)
    size = views.size[0]
    # view 1 runs past the right edge of its 576 × 512 source, view 2 is an older record
    record["views"][1]["box"] = [400.0, 100.0, 700.0, 400.0]
    record["views"][1]["source_size"] = [576, 512]
    record["views"][2]["box"] = [-150.0, 100.0, 150.0, 400.0]
    record["views"][2].pop("source_size", None)
    record["views"][2]["mask_shape"] = {"size": [576, 512]}
    (sample / "sample.json").write_text(json.dumps(record))
    views = load_sample_views(sample)
    assert views.unseen is not None and not views.unseen[0].any()
    expected = unseen_pixels([400.0, 100.0, 700.0, 400.0], (576, 512), size, size)
    assert np.array_equal(views.unseen[1].numpy(), expected)
    assert views.unseen[1, 0, -1] and not views.unseen[1, 0, 0]
    assert views.unseen[2, 0, 0] and not views.unseen[2, 0, -1]
    assert np.array_equal(views.subset([2, 1]).unseen[1].numpy(), expected)
    half = views.resized(size // 2)
    assert half.unseen.shape == (len(views), size // 2, size // 2)
    assert half.unseen[1].float().mean() == pytest.approx(expected.mean(), abs=0.05)
    both = SampleViews.concat([views.subset([0]), SampleViews(views.rgba[:1], views.cameras[:1],
                                                                views.names[:1])])
    assert both.unseen is not None and not both.unseen.any()
    # held-out views: the parent's eval_views, with the rig's source size when they lack one
    assert (sample / EVAL_DIR).is_dir()
    record["eval_views"][0]["box"] = [-150.0, 100.0, 150.0, 400.0]
    record["eval_views"][0].pop("source_size", None)
    for v in record["views"]:
        v["source_size"] = [576, 512]
    (sample / "sample.json").write_text(json.dumps(record))
    held = load_sample_views(sample / EVAL_DIR)
    assert held.unseen is not None and held.unseen[0, 0, 0] and not held.unseen[0, 0, -1]
    for v in record["views"]:
        v.pop("box")
    record.pop("eval_views", None)
    (sample / "sample.json").write_text(json.dumps(record))
    assert load_sample_views(sample).unseen is None
