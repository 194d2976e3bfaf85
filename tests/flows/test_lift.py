"""``mouselift.flows.lift``: both checkpoints held together (the API ``infer`` and ``eval``
share) — rig check, generated views, the cameras Stage 1 and Stage 2 get."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infer_testutils import tiny_gslrm, tiny_pipeline
from mouselift.cameras.rig import facelift_rig
from mouselift.data.dataset_rig import rig_from_dataset
from mouselift.errors import ConfigError, MouseliftError
from mouselift.flows.lift import LiftModels, RigMismatchError, lift, parse_dtype
from mouselift.gslrm.inference import SplatFilters


@pytest.fixture(scope="module")
def facelift_gslrm(tmp_path_factory):
    return tiny_gslrm(tmp_path_factory.mktemp("lift") / "gslrm", facelift_rig(64))


@pytest.fixture(scope="module")
def mouse_pair(mouse_dataset, tmp_path_factory):
    rig = rig_from_dataset(mouse_dataset)
    work = tmp_path_factory.mktemp("lift_mouse")
    return (tiny_pipeline(work / "pipeline", rig, camera_embedding=True),
            tiny_gslrm(work / "gslrm", rig))


def _crop() -> np.ndarray:
    image = np.zeros((64, 64, 4), np.uint8)
    image[20:44, 16:48] = (120, 100, 90, 255)
    return image


def test_generated_views_hold_the_rigs_views(tiny_pipeline_dir, facelift_gslrm):
    models = LiftModels.load(tiny_pipeline_dir, facelift_gslrm)
    assert models.rig.fingerprint() == facelift_rig(64).fingerprint()
    views, gaussians = lift(models, _crop(), steps=2, seed=3)
    assert views.rgba.shape == (6, 64, 64, 4) and views.rgba.dtype == torch.float32
    assert bool((views.rgba[..., 3] == 1).all())  # alpha: opaque (documented)
    assert views.names == [f"views/{n}.png" for n in models.rig.names]
    assert all(a.allclose(b) for a, b in zip(views.cameras, models.rig.cameras, strict=True))
    again = models.generate_views(_crop(), steps=2, seed=3)
    assert torch.equal(again.rgba, views.rgba)  # a seed gives the same views
    assert len(gaussians) > 0 and gaussians.device.type == "cpu"
    unfiltered = models.reconstruct(views, filters=SplatFilters(
        min_opacity=None, max_scale=None, box=None, corner_floaters=None))
    assert len(unfiltered) == 2 + 6 * 64 * 64 >= len(gaussians)
    assert len(models.reconstruct(views, filters=None)) == len(gaussians)  # None = FaceLift's
    assert models.stage1_cameras(True) == "rig prompts only"


def test_rig_mismatch_names_both_checkpoints(tiny_pipeline_dir, mouse_pair):
    _, mouse_gslrm = mouse_pair
    with pytest.raises(RigMismatchError) as info:
        LiftModels.load(tiny_pipeline_dir, mouse_gslrm)
    message = str(info.value)
    assert "\n" not in message and isinstance(info.value, MouseliftError)
    for fragment in (str(tiny_pipeline_dir), str(mouse_gslrm), "'facelift'", "'mouse:ds'",
                     facelift_rig(64).fingerprint()):
        assert fragment in message


def test_pipeline_without_rig_takes_facelifts(tmp_path, facelift_gslrm, mouse_pair):
    """FaceLift's pipeckpts carry no rig: with FaceLift's GS-LRM they use FaceLift's rig, its
    prompts encoded by the pipeline's own text encoder; with another rig they are refused."""
    bare = tiny_pipeline(tmp_path / "bare", None)
    models = LiftModels.load(bare, facelift_gslrm)
    assert models.rig.fingerprint() == facelift_rig(64).fingerprint()
    assert models.pipeline.prompt_embeds.shape[0] == 6
    with pytest.raises(RigMismatchError, match="has no rig"):
        LiftModels.load(bare, mouse_pair[1])


def test_frame_cameras_reach_both_stages(mouse_pair, mouse_dataset):
    """With a camera embedding, other cameras give other views; Stage 2 gets the cameras."""
    from mouselift.data.sample import load_sample_views

    models = LiftModels.load(*mouse_pair)
    assert models.stage1_cameras(True) == "frame"
    assert models.stage1_cameras(False) == "rig average"
    sample = load_sample_views(mouse_dataset / "sample_000005").in_order(models.rig.names)
    rig_views = models.generate_views(_crop(), steps=2)
    frame_views = models.generate_views(_crop(), cameras=sample.cameras, steps=2)
    assert all(a.allclose(b) for a, b in zip(frame_views.cameras, sample.cameras, strict=True))
    assert not torch.equal(rig_views.rgba, frame_views.rgba)
    batch = models.generate_batch([_crop(), _crop()], [None, sample.cameras], steps=2)
    assert len(batch) == 2 and batch[1].cameras[0].allclose(sample.cameras[0])
    assert [len(g) > 0 for g in models.reconstruct_batch(batch)] == [True, True]


def test_dtypes():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert parse_dtype(None, cpu) == torch.float32 and parse_dtype(None, cuda) == torch.bfloat16
    assert parse_dtype("bf16", cpu) == torch.bfloat16
    with pytest.raises(ConfigError, match="GPU"):
        parse_dtype("fp16", cpu)
    with pytest.raises(ConfigError, match="fp32, bf16 or fp16"):
        parse_dtype("int8", cpu)


def _as_run(payload, run, name):
    """``payload`` copied into a complete training checkpoint of ``run`` (step 3), as the
    trainer lays it out: ``run/checkpoints/checkpoint-000003/<name>/``."""
    import json
    import shutil

    checkpoint = run / "checkpoints" / "checkpoint-000003"
    shutil.copytree(payload, checkpoint / name)
    (checkpoint / "training_state").mkdir()
    (checkpoint / "trainer_state.json").write_text(json.dumps({"step": 3}))
    return checkpoint


def test_run_checkpoint_and_payload_folders_load_the_same_models(mouse_pair, tmp_path):
    """`infer`/`eval` take what `train` prints (a checkpoint folder), the run folder (its
    latest complete checkpoint) or the payload folder, and say which they loaded."""
    pipeline, gslrm = mouse_pair
    runs = {"mvdiff": tmp_path / "mvd", "gslrm": tmp_path / "gs"}
    checkpoints = {"mvdiff": _as_run(pipeline, runs["mvdiff"], "pipeline"),
                   "gslrm": _as_run(gslrm, runs["gslrm"], "model")}
    payloads = {"mvdiff": checkpoints["mvdiff"] / "pipeline",
                "gslrm": checkpoints["gslrm"] / "model"}
    reference = LiftModels.load(pipeline, gslrm)
    for form, how in ((runs, "latest checkpoint of run {}"),
                      (checkpoints, "from the checkpoint folder given"), (payloads, None)):
        models = LiftModels.load(form["mvdiff"], form["gslrm"])
        assert (models.mvdiff_path, models.gslrm_path) == (payloads["mvdiff"],
                                                           payloads["gslrm"])
        info = models.describe()
        assert info["checkpoints"] == {k: str(v) for k, v in payloads.items()}
        assert info["checkpoints_found"] == ({} if how is None else
                                             {k: how.format(form[k]) for k in form})
        for a, b in ((models.gslrm, reference.gslrm),
                     (models.pipeline.unet, reference.pipeline.unet)):
            for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(),
                                         strict=True):
                assert torch.equal(x, y), name
    with pytest.raises(MouseliftError, match="nowhere: does not exist"):
        LiftModels.load(tmp_path / "nowhere", gslrm)
    with pytest.raises(MouseliftError, match="nowhere: does not exist"):
        LiftModels.load(pipeline, tmp_path / "nowhere")
    # the stages swapped
    with pytest.raises(MouseliftError, match=r"without a complete checkpoint .* with model/"):
        LiftModels.load(runs["gslrm"], runs["mvdiff"])
    with pytest.raises(MouseliftError, match="a checkpoint without pipeline/"):
        LiftModels.load(checkpoints["gslrm"], gslrm)
