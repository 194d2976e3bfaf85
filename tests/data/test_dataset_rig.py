"""Rigs from prepared datasets and the one resolver of rig specs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mouselift.cameras.facelift import read_opencv_cameras
from mouselift.cameras.rig import RigError, facelift_rig
from mouselift.data.dataset_rig import resolve_rig, rig_from_dataset


def test_rig_from_dataset(mouse_dataset):
    rig = rig_from_dataset(mouse_dataset, reference_view=2)
    assert rig.names[0] == "cam_002" and sorted(rig.names) == [f"cam_{i:03d}" for i in range(6)]
    assert len(set(rig.prompts)) == 6
    # the cameras of every frame are one rigid rig: relative rotations agree with any sample's
    sample = read_opencv_cameras(mouse_dataset / "sample_000000" / "opencv_cameras.json")
    order = [int(n[-3:]) for n in rig.names]
    ours = rig.relative_poses()
    for k, i in enumerate(order):
        rel = sample[i].w2c[:3, :3] @ sample[order[0]].w2c[:3, :3].T
        np.testing.assert_allclose(ours[k][:3, :3], rel, atol=1e-6)
    assert rig.source["reference_view"] == "cam_002"
    assert json.loads(json.dumps(rig.to_dict()))["views"][0]["name"] == "cam_002"


def test_resolve_rig_specs(mouse_dataset, tmp_path):
    assert resolve_rig("facelift").fingerprint() == facelift_rig(512).fingerprint()
    assert resolve_rig("facelift", resolution=64).fingerprint() == facelift_rig(64).fingerprint()
    from_dataset = resolve_rig("dataset", dataset=mouse_dataset, reference_view=1)
    assert from_dataset.fingerprint() == rig_from_dataset(mouse_dataset,
                                                          reference_view=1).fingerprint()
    assert resolve_rig(mouse_dataset, reference_view=1).fingerprint() == \
        from_dataset.fingerprint()
    from_dataset.save(tmp_path / "ckpt" / "rig")
    for spec in (tmp_path / "ckpt" / "rig", tmp_path / "ckpt" / "rig" / "rig.json",
                 tmp_path / "ckpt"):
        assert resolve_rig(spec).fingerprint() == from_dataset.fingerprint()
    assert resolve_rig(tmp_path / "ckpt", resolution=32).width == 32
    with pytest.raises(RigError, match="not 'facelift', a prepared dataset"):
        resolve_rig(tmp_path / "nowhere")
    with pytest.raises(RigError, match="needs a dataset"):
        resolve_rig("dataset")
