"""Rigs from prepared datasets and the one resolver of rig specs."""

from __future__ import annotations

import json
from dataclasses import replace

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


def test_the_rig_carries_the_datasets_locator_into_both_stages_checkpoints(mouse_dataset,
                                                                            tmp_path):
    """rig_from_dataset attaches locator.json; it is saved beside rig.json by every writer of a
    rig (a rig folder, a GS-LRM checkpoint, a Stage-1 pipeline) and read back with the rig;
    the fingerprint does not depend on it."""
    import torch

    from mouselift.cameras.rig import LOCATOR_FILE, load_rig
    from mouselift.gslrm.checkpoints import load_gslrm, save_gslrm
    from mouselift.gslrm.config import load_gslrm_config
    from mouselift.gslrm.model import GSLRM
    from mouselift.mvdiff import MultiViewDiffusionPipeline, load_mvdiff_config

    rig = rig_from_dataset(mouse_dataset)
    expected = json.loads((mouse_dataset / LOCATOR_FILE).read_text())
    assert rig.locator == expected
    assert rig.resized(32).locator == expected
    assert load_rig(rig.save(tmp_path / "rig")).locator == expected
    torch.manual_seed(0)
    save_gslrm(GSLRM(load_gslrm_config("tiny")), tmp_path / "gslrm", rig)
    assert json.loads((tmp_path / "gslrm" / "rig" / LOCATOR_FILE).read_text()) == expected
    assert load_gslrm(tmp_path / "gslrm")[1].locator == expected
    pipe = MultiViewDiffusionPipeline.from_architecture(load_mvdiff_config("tiny"), rig=rig)
    pipe.save_pretrained(tmp_path / "pipeline")
    assert MultiViewDiffusionPipeline.from_pretrained(
        tmp_path / "pipeline").rig.locator == expected
    bare = replace(rig, locator=None)
    assert bare.fingerprint() == rig.fingerprint() and bare == rig
    bare.save(tmp_path / "rig")  # a rig without one leaves none behind
    assert not (tmp_path / "rig" / LOCATOR_FILE).exists()
    assert load_rig(tmp_path / "rig").locator is None
