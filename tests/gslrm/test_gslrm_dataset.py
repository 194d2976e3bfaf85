"""Stage-2 training items: view choice, cameras, resizing, compositing, seeding, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from mouselift.data.sample import SampleError, load_sample_views
from mouselift.errors import DatasetError
from mouselift.gslrm.dataset import GSLRMDataConfig, GSLRMDataset, collate_gslrm

RIG_VIEWS = 6  # the fixture's rig; each sample also has one eval/ view


def _frames(folder: Path) -> list[dict]:
    return json.loads((folder / "opencv_cameras.json").read_text())["frames"]


def _json_camera(frame: dict) -> tuple[np.ndarray, np.ndarray]:
    """(c2w, K) of a FaceLift JSON frame, written out by hand: K in OpenCV pixels (−0.5)."""
    c2w = np.linalg.inv(np.array(frame["w2c"], dtype=np.float64))
    k = np.array([[frame["fx"], 0.0, frame["cx"] - 0.5],
                  [0.0, frame["fy"], frame["cy"] - 0.5],
                  [0.0, 0.0, 1.0]])
    return c2w, k


def _project(k: np.ndarray, c2w: np.ndarray, point: np.ndarray) -> np.ndarray:
    cam = np.linalg.inv(c2w) @ np.append(point, 1.0)
    uvw = k @ cam[:3]
    return uvw[:2] / uvw[2]


def _rows(t: torch.Tensor) -> list[tuple[int, int]]:
    return [tuple(r) for r in t.tolist()]


def test_item_layout_and_view_choice(mouse_dataset):
    ds = GSLRMDataset(mouse_dataset, "train", seed=0)
    for index in (0, 3):
        item = ds[index]
        vi, vt = 5, RIG_VIEWS + 1
        assert item["input_images"].shape == (vi, 3, 64, 64)
        assert item["input_c2w"].shape == (vi, 4, 4) and item["input_K"].shape == (vi, 3, 3)
        assert item["target_images"].shape == (vt, 3, 64, 64)
        assert item["target_alpha"].shape == (vt, 1, 64, 64)
        assert item["target_c2w"].shape == (vt, 4, 4) and item["target_K"].shape == (vt, 3, 3)
        assert item["index"].dtype == torch.long and item["index"].shape == (vt, 2)
        assert item["sample"] == ds.samples[index]
        # index = (view_idx, scene_idx); the rig views are a permutation, the eval view is last
        assert (item["index"][:, 1] == index).all() and (item["input_index"][:, 1] == index).all()
        views = item["index"][:, 0].tolist()
        assert sorted(views) == list(range(RIG_VIEWS + 1)) and views[-1] == RIG_VIEWS
        assert item["target_is_eval"].tolist() == [False] * RIG_VIEWS + [True]
        # inputs ⊂ targets, listed first in input order, same images and cameras
        inputs = item["input_index"][:, 0].tolist()
        assert views[:vi] == inputs and RIG_VIEWS not in inputs  # eval views never inputs
        assert torch.equal(item["target_images"][:vi], item["input_images"])
        assert torch.equal(item["target_c2w"][:vi], item["input_c2w"])
        assert torch.equal(item["target_K"][:vi], item["input_K"])
        for key in ("input_images", "target_images", "target_alpha"):
            assert item[key].dtype == torch.float32
            assert 0.0 <= float(item[key].min()) and float(item[key].max()) <= 1.0


def test_cameras_are_the_samples_own(mouse_dataset):
    ds = GSLRMDataset(mouse_dataset, "train", seed=5)
    item = ds[1]
    folder = mouse_dataset / ds.samples[1]
    frames = _frames(folder) + _frames(folder / "eval")
    assert len(frames) == RIG_VIEWS + 1
    for j, (view, _) in enumerate(_rows(item["index"])):
        c2w, k = _json_camera(frames[view])
        np.testing.assert_allclose(item["target_c2w"][j].double().numpy(), c2w, atol=1e-5)
        np.testing.assert_allclose(item["target_K"][j].double().numpy(), k, rtol=1e-6)
    # a neighbouring sample has its own cameras (no rig average): the crops differ per frame
    other = ds[0]
    same_view = {v: j for j, (v, _) in enumerate(_rows(other["index"]))}
    j0 = same_view[int(item["index"][0, 0])]
    assert not torch.allclose(other["target_K"][j0], item["target_K"][0])


def test_resize_scales_intrinsics_and_images(mouse_dataset):
    full = GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(), seed=2)[4]
    half = GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(image_size=32), seed=2)[4]
    assert torch.equal(full["index"], half["index"])  # the draws do not depend on the size
    assert half["target_images"].shape == (RIG_VIEWS + 1, 3, 32, 32)
    assert half["input_images"].shape == (5, 3, 32, 32)
    assert torch.equal(full["target_c2w"], half["target_c2w"])
    points = np.array([[0.0, 0.0, 0.0], [0.12, -0.2, 0.07], [-0.3, 0.1, -0.05]])
    for j in range(RIG_VIEWS + 1):
        k64, k32 = full["target_K"][j].double().numpy(), half["target_K"][j].double().numpy()
        c2w = full["target_c2w"][j].double().numpy()
        for p in points:
            u64, u32 = _project(k64, c2w, p), _project(k32, c2w, p)
            # pixel centres at integers: edges (u + 0.5) scale by 32/64
            np.testing.assert_allclose(u32, (u64 + 0.5) * 0.5 - 0.5, atol=1e-4)
        # the images follow: the mask centroid moves exactly like a projected point
        for a_full, a_half in ((full["target_alpha"][j, 0], half["target_alpha"][j, 0]),):
            def centroid(a: torch.Tensor) -> np.ndarray:
                ys, xs = torch.meshgrid(torch.arange(a.shape[0], dtype=torch.float64),
                                        torch.arange(a.shape[1], dtype=torch.float64),
                                        indexing="ij")
                w = a.double()
                return np.array([float((w * xs).sum() / w.sum()), float((w * ys).sum() / w.sum())])
            np.testing.assert_allclose(centroid(a_half), (centroid(a_full) + 0.5) * 0.5 - 0.5,
                                       atol=0.05)


def test_same_seed_epoch_index_same_item_other_epoch_other_inputs(mouse_dataset):
    a = GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(background="random"), seed=7)
    b = GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(background="random"), seed=7)
    first = a[2]
    again = b[2]
    for key, value in first.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, again[key]), key
    choices = set()
    for epoch in range(6):
        a.set_epoch(epoch)
        choices.add(tuple(a[2]["input_index"][:, 0].tolist()))
    assert len(choices) > 1
    a.set_epoch(0)  # back to epoch 0: exactly the first item again (exact resume)
    assert torch.equal(a[2]["input_images"], first["input_images"])
    assert torch.equal(a[2]["background"], first["background"])
    other_seed = GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(background="random"), seed=8)
    assert not torch.equal(other_seed[2]["background"], first["background"])


@pytest.mark.parametrize("background", ["white", "black", "grey", "random"])
def test_background_compositing_is_exact(mouse_dataset, background):
    ds = GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(background=background), seed=1)
    item = ds[0]
    bg = item["background"]
    expected_bg = {"white": [1.0] * 3, "black": [0.0] * 3, "grey": [0.5] * 3}
    if background in expected_bg:
        assert bg.tolist() == expected_bg[background]
    else:
        assert bg.shape == (3,) and 0.0 <= float(bg.min()) and float(bg.max()) <= 1.0
        assert not torch.equal(bg, ds[1]["background"])  # one colour per object
    folder = mouse_dataset / ds.samples[0]
    rgba = torch.cat([load_sample_views(folder).rgba, load_sample_views(folder / "eval").rgba])
    for j, (view, _) in enumerate(_rows(item["index"])):
        rgb, a = rgba[view, ..., :3].permute(2, 0, 1), rgba[view, ..., 3:].permute(2, 0, 1)
        want = rgb * a + bg.view(3, 1, 1) * (1.0 - a)
        torch.testing.assert_close(item["target_images"][j], want, atol=1e-6, rtol=0)
        assert torch.equal(item["target_alpha"][j], a)
    for j, (view, _) in enumerate(_rows(item["input_index"])):
        rgb, a = rgba[view, ..., :3].permute(2, 0, 1), rgba[view, ..., 3:].permute(2, 0, 1)
        want = rgb * a + bg.view(3, 1, 1) * (1.0 - a)
        torch.testing.assert_close(item["input_images"][j], want, atol=1e-6, rtol=0)


def test_fixed_selection_and_target_options(mouse_dataset):
    fixed = GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(input_selection="fixed"))
    for epoch in (0, 3):
        fixed.set_epoch(epoch)
        item = fixed[1]
        assert item["input_index"][:, 0].tolist() == [0, 1, 2, 3, 4]
        assert item["index"][:, 0].tolist() == [0, 1, 2, 3, 4, 5, 6]
    no_eval = GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(use_eval_views=False))[0]
    assert no_eval["index"].shape == (RIG_VIEWS, 2) and not no_eval["target_is_eval"].any()
    cfg = GSLRMDataConfig(num_input_views=2, num_target_views=3, target_has_input=False,
                          use_eval_views=False)
    disjoint = GSLRMDataset(mouse_dataset, "train", cfg, seed=4)
    for index in range(3):
        item = disjoint[index]
        inputs = set(item["input_index"][:, 0].tolist())
        targets = set(item["index"][:, 0].tolist())
        assert len(inputs) == 2 and len(targets) == 3 and not inputs & targets
    cfg_fixed = GSLRMDataConfig(**{**cfg.model_dump(), "input_selection": "fixed"})
    item = GSLRMDataset(mouse_dataset, "train", cfg_fixed)[0]
    assert item["input_index"][:, 0].tolist() == [0, 1]
    assert item["index"][:, 0].tolist() == [2, 3, 4]


def test_collate_keeps_strings_and_stacks(mouse_dataset):
    ds = GSLRMDataset(mouse_dataset, "train", seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate_gslrm)
    batch = next(iter(loader))
    assert batch["sample"] == ds.samples[:2]
    assert batch["target_images"].shape == (2, RIG_VIEWS + 1, 3, 64, 64)
    assert batch["index"].shape == (2, RIG_VIEWS + 1, 2)
    assert batch["index"][1, :, 1].tolist() == [1] * (RIG_VIEWS + 1)
    assert batch["background"].shape == (2, 3)


def _copy_dataset(src: Path, dst: Path, samples: list[str]) -> Path:
    for name in samples:
        shutil.copytree(src / name, dst / name)
    (dst / "train.txt").write_text("\n".join(samples) + "\n")
    return dst


def test_errors_are_one_line(mouse_dataset, tmp_path):
    def one_line(exc: pytest.ExceptionInfo) -> str:
        text = str(exc.value)
        assert "\n" not in text
        return text

    with pytest.raises(DatasetError) as exc:
        GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(num_input_views=7, num_target_views=7))
    assert "fewer than num_input_views (7)" in one_line(exc)
    with pytest.raises(DatasetError) as exc:
        GSLRMDataset(mouse_dataset, "train", GSLRMDataConfig(target_has_input=False))
    assert "num_input_views + num_target_views (11)" in one_line(exc)
    with pytest.raises(DatasetError) as exc:
        GSLRMDataset(mouse_dataset, "nosuchsplit")
    one_line(exc)
    with pytest.raises(ValidationError):
        GSLRMDataConfig(num_input_views=5, num_target_views=4)
    with pytest.raises(ValidationError):
        GSLRMDataConfig(background="pink")

    # a later sample with too few views: SampleError at item time; no eval views: collate error
    names = ["sample_000000", "sample_000001"]
    data = _copy_dataset(mouse_dataset, tmp_path / "ds", names)
    meta = data / names[1] / "opencv_cameras.json"
    doc = json.loads(meta.read_text())
    doc["frames"] = doc["frames"][:5]
    meta.write_text(json.dumps(doc))
    ds = GSLRMDataset(data, "train")
    ds[0]
    with pytest.raises(SampleError) as exc:
        ds[1]
    assert "fewer than num_target_views (6)" in one_line(exc)
    shutil.rmtree(data / names[1])
    shutil.copytree(mouse_dataset / names[1], data / names[1])
    shutil.rmtree(data / names[1] / "eval")
    ds = GSLRMDataset(data, "train")
    assert ds[1]["index"].shape == (RIG_VIEWS, 2)
    with pytest.raises(DatasetError) as exc:
        collate_gslrm([ds[0], ds[1]])
    assert "use_eval_views" in one_line(exc)


def test_target_seen_marks_what_each_camera_did_not_see(mouse_dataset, tmp_path):
    """``target_seen`` is 0 where a target's crop ran past its source image (from the sample
    record), 1 elsewhere, resized with the images; a record that says nothing: all ones."""
    from mouselift.data.layout import read_split
    from mouselift.data.sample import unseen_pixels

    copy = tmp_path / "ds"
    shutil.copytree(mouse_dataset, copy)
    for name in read_split(copy, "train"):
        record = json.loads((copy / name / "sample.json").read_text())
        for view in record["views"]:
            view["box"], view["source_size"] = [400.0, 100.0, 700.0, 400.0], [576, 512]
        record.pop("eval_views", None)
        (copy / name / "sample.json").write_text(json.dumps(record))
    item = GSLRMDataset(copy, "train", seed=0)[0]
    expected = torch.from_numpy(~unseen_pixels([400.0, 100.0, 700.0, 400.0], (576, 512), 64,
                                               64)).float()
    assert item["target_seen"].shape == (RIG_VIEWS + 1, 1, 64, 64)
    for j in range(RIG_VIEWS):
        assert torch.equal(item["target_seen"][j, 0], expected)
    assert torch.equal(item["target_seen"][RIG_VIEWS], torch.ones(1, 64, 64))  # eval: unsaid
    half = GSLRMDataset(copy, "train", GSLRMDataConfig(image_size=32), seed=0)[0]
    assert half["target_seen"][0, 0, 0, -1] == 0.0 and half["target_seen"][0, 0, 0, 0] == 1.0
    plain = GSLRMDataset(mouse_dataset, "train", seed=0)[0]
    assert plain["target_seen"].shape == (RIG_VIEWS + 1, 1, 64, 64)
