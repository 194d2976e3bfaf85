"""GS-LRM weights: FaceLift's checkpoint file layout (through the same path a real one takes) and
our checkpoint folders with their rig."""

from __future__ import annotations

import pytest
import torch

from mouselift.cameras.rig import RigError, facelift_rig, rig_from_cameras
from mouselift.errors import WeightsError
from mouselift.gslrm.checkpoints import (
    load_facelift_checkpoint,
    load_gslrm,
    read_info,
    save_gslrm,
)
from mouselift.gslrm.config import load_gslrm_config
from mouselift.gslrm.model import GSLRM, cameras_to_tensors

#: VGG19 conv shapes of FaceLift's perceptual-loss extras (loss_calculator.…net.conv{1..16}).
VGG19 = [(64, 3), (64, 64), (128, 64), (128, 128), (256, 128)] + [(256, 256)] * 3 + \
    [(512, 256)] + [(512, 512)] * 7


def _model() -> GSLRM:
    torch.manual_seed(3)
    return GSLRM(load_gslrm_config("tiny")).eval()


def _facelift_file(tmp_path, model: GSLRM, *, drop: str | None = None,
                   reshape: str | None = None):
    """A checkpoint in FaceLift's layout: {'model': state dict + the VGG19 extras, ...}."""
    state = dict(model.state_dict())
    for n, (out, inp) in enumerate(VGG19, start=1):
        state[f"loss_calculator.perceptual_loss_module.net.conv{n}.weight"] = torch.zeros(
            out, inp, 3, 3)
        state[f"loss_calculator.perceptual_loss_module.net.conv{n}.bias"] = torch.zeros(out)
    if drop:
        del state[drop]
    if reshape:
        state[reshape] = torch.zeros(3, 3)
    path = tmp_path / "ckpt_0000000000021125.pt"
    torch.save({"model": state, "optimizer": {}, "fwdbwd_pass_step": 21125}, path)
    return path


def _output(model: GSLRM) -> torch.Tensor:
    rig = facelift_rig(64)
    K, c2w = cameras_to_tensors(rig.cameras[:2])
    images = torch.rand(1, 2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model(images, K[None], c2w[None]).means


def test_facelift_layout_loads_through_the_real_path(tmp_path):
    source = _model()
    path = _facelift_file(tmp_path, source)
    loaded = load_facelift_checkpoint(path, load_gslrm_config("tiny"))
    assert not loaded.training
    assert torch.equal(_output(loaded), _output(source))
    model, rig = load_gslrm(path, facelift_config=load_gslrm_config("tiny"),
                            rig=facelift_rig(64))
    assert rig.fingerprint() == facelift_rig(64).fingerprint()
    assert torch.equal(_output(model), _output(source))


def test_wrong_facelift_files_are_one_line_errors(tmp_path):
    source = _model()
    config = load_gslrm_config("tiny")
    bad = _facelift_file(tmp_path, source, drop="input_layer_norm.weight")
    with pytest.raises(WeightsError, match=r"1 missing: input_layer_norm.weight") as info:
        load_facelift_checkpoint(bad, config)
    assert "\n" not in str(info.value)
    bad = _facelift_file(tmp_path, source, reshape="gaussian_upsampler.linear.weight")
    with pytest.raises(WeightsError, match="mis-shaped"):
        load_facelift_checkpoint(bad, config)
    with pytest.raises(WeightsError, match="unexpected"):  # a deeper file into a shallower model
        load_facelift_checkpoint(_facelift_file(tmp_path, _model()), load_gslrm_config(
            "tiny", {"depth": 1}))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="as a weights-only PyTorch file"):
        load_facelift_checkpoint(tmp_path / "junk.pt", config)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(WeightsError, match="'model' state dict"):
        load_facelift_checkpoint(tmp_path / "list.pt", config)
    with pytest.raises(WeightsError, match="not found"):
        load_facelift_checkpoint(tmp_path / "none.pt", config)


def test_our_folder_round_trip_and_rig_check(tmp_path):
    source = _model()
    rig = facelift_rig(64)
    folder = save_gslrm(source, tmp_path / "gslrm", rig)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors",
                                                        "mouselift.json", "rig"]
    assert read_info(folder)["rig_fingerprint"] == rig.fingerprint()
    loaded, loaded_rig = load_gslrm(folder, rig=rig)
    assert loaded.config == source.config
    assert loaded_rig.fingerprint() == rig.fingerprint()
    assert torch.equal(_output(loaded), _output(source))
    other = rig_from_cameras(rig.cameras[:4], name="four views")
    with pytest.raises(RigError) as info:
        load_gslrm(folder, rig=other)
    assert "four views" in str(info.value) and str(folder) in str(info.value)
    with pytest.raises(WeightsError, match="not a GS-LRM checkpoint"):
        load_gslrm(tmp_path)
    # the written weights can be other than the live ones (EMA weights at export)
    zeros = {k: torch.zeros_like(v) for k, v in source.state_dict().items()}
    save_gslrm(source, tmp_path / "ema", rig, state=zeros)
    ema, _ = load_gslrm(tmp_path / "ema")
    assert all(torch.count_nonzero(v) == 0 for v in ema.state_dict().values())
