"""The Stage-1 UNet: FaceLift's released parameter layout, and loading FaceLift-format folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mouselift.errors import WeightsError
from mouselift.mvdiff import build_unet, load_mvdiff_config, load_unet

# Parameter names and shapes of FaceLift's released pipeckpts/unet (see tests/fixtures/README.md).
MANIFEST = Path(__file__).resolve().parents[1] / "fixtures" / \
    "facelift_mvdiffusion_unet_state_dict.json"


def test_facelift_preset_matches_released_unet_manifest():
    """Every parameter name and shape of FaceLift's pipeckpts/unet, nothing more."""
    manifest = json.loads(MANIFEST.read_text())
    unet = build_unet(load_mvdiff_config("facelift").unet, device="meta")
    ours = {k: list(v.shape) for k, v in unet.state_dict().items()}
    theirs = {k: list(v) for k, v in manifest["state_dict"].items()}
    assert sorted(set(theirs) - set(ours)) == []
    assert sorted(set(ours) - set(theirs)) == []
    assert {k: v for k, v in ours.items() if theirs[k] != v} == {}
    assert len(ours) == manifest["_num_tensors"] == 690
    assert sum(p.numel() for p in unet.parameters()) == manifest["_num_params"]
    config = manifest["_config_used"]
    for key in ("in_channels", "cross_attention_dim", "projection_class_embeddings_input_dim",
                "upcast_attention", "use_linear_projection", "class_embed_type"):
        assert unet.config[key] == config[key], key


def write_facelift_style_unet(folder: Path, arch, *, fmt: str = "safetensors",
                              sparse: bool = True) -> dict[str, torch.Tensor]:
    """A tiny UNet saved the way FaceLift's pipeckpts/unet is: FaceLift's class and block names
    plus its multi-view keys in config.json."""
    torch.manual_seed(3)
    unet = build_unet(arch.unet)
    config = dict(unet.config)
    rename = {"CrossAttnDownBlock2D": "CrossAttnDownBlockMV2D",
              "CrossAttnUpBlock2D": "CrossAttnUpBlockMV2D"}
    config["down_block_types"] = [rename.get(b, b) for b in config["down_block_types"]]
    config["up_block_types"] = [rename.get(b, b) for b in config["up_block_types"]]
    config["mid_block_type"] = "UNetMidBlockMV2DCrossAttn"
    config.update({"_class_name": "UNetMV2DConditionModel", "num_views": 6,
                   "multiview_attention": True, "sparse_mv_attention": sparse,
                   "cd_attention_last": False, "cd_attention_mid": False,
                   "selfattn_block": "custom", "addition_downsample": False})
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config, default=list))
    state = {k: v.contiguous() for k, v in unet.state_dict().items()}
    if fmt == "safetensors":
        save_file(state, str(folder / "diffusion_pytorch_model.safetensors"))
    else:
        torch.save(state, folder / "diffusion_pytorch_model.bin")
    return state


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_loads_facelift_style_folder_exactly(tmp_path, tiny_arch, fmt):
    state = write_facelift_style_unet(tmp_path / "unet", tiny_arch, fmt=fmt)
    unet, settings = load_unet(tmp_path / "unet")
    assert type(unet).__name__ == "UNet2DConditionModel"
    assert settings.num_views == 6 and settings.attention == "sparse"
    loaded = unet.state_dict()
    assert set(loaded) == set(state)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_dense_flag_is_read(tmp_path, tiny_arch):
    write_facelift_style_unet(tmp_path / "unet", tiny_arch, sparse=False)
    assert load_unet(tmp_path / "unet")[1].attention == "dense"


def test_sharded_weights(tmp_path, tiny_arch):
    state = write_facelift_style_unet(tmp_path / "unet", tiny_arch)
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    keys = sorted(state)
    half = len(keys) // 2
    shards = {"a.safetensors": keys[:half], "b.safetensors": keys[half:]}
    for name, part in shards.items():
        save_file({k: state[k] for k in part}, str(tmp_path / "unet" / name))
    index = {"weight_map": {k: n for n, part in shards.items() for k in part}}
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors.index.json").write_text(
        json.dumps(index))
    unet, _ = load_unet(tmp_path / "unet")
    assert torch.equal(unet.state_dict()[keys[-1]], state[keys[-1]])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("drop", "missing for this architecture"),
        ("extra", "unexpected tensor"),
        ("shape", "has shape"),
    ],
)
def test_mismatched_weights_are_one_line_errors(tmp_path, tiny_arch, damage, message):
    state = write_facelift_style_unet(tmp_path / "unet", tiny_arch)
    key = "conv_in.weight"
    if damage == "drop":
        del state[key]
    elif damage == "extra":
        state["camera_proj.weight"] = torch.zeros(3, 3)
    else:
        state[key] = torch.zeros(32, 4, 3, 3)  # a stock 4-channel SD UNet
    save_file(state, str(tmp_path / "unet" / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(WeightsError, match=message) as info:
        load_unet(tmp_path / "unet")
    assert "\n" not in str(info.value)


def test_missing_files(tmp_path, tiny_arch):
    with pytest.raises(WeightsError, match=r"no config\.json"):
        load_unet(tmp_path)
    write_facelift_style_unet(tmp_path / "unet", tiny_arch)
    (tmp_path / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(WeightsError, match=r"no diffusion_pytorch_model\.safetensors"):
        load_unet(tmp_path / "unet")


def test_dtype_on_load(tmp_path, tiny_arch):
    write_facelift_style_unet(tmp_path / "unet", tiny_arch)
    unet, _ = load_unet(tmp_path / "unet", dtype=torch.bfloat16)
    assert {p.dtype for p in unet.parameters()} == {torch.bfloat16}
