"""``load_scene``: what each kind of PATH gives, and one-line errors for what cannot be shown."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from viewer_testutils import blob, ring_cameras, write_infer_folder, write_point_cloud_ply

from mouselift.atomic import RESULT_MANIFEST, mark_result_folder
from mouselift.cameras import read_opencv_cameras
from mouselift.errors import ConfigError, SplatFormatError
from mouselift.splat import write_ply
from mouselift.viewer import GENERATED, REAL, ViewerError, flatten_numbers, load_scene
from mouselift.viewer.scene import CACHE_FRAMES, natural_key

REPORT = {
    "psnr": 21.0, "masked": {"psnr": 18.0, "ok": True}, "chamfer_mm": 1.5, "views": 6,
    "per_view": [{"psnr": 1.0}], "name": "mouse", "lpips": None, "timings": {"total": 2},
}  # fmt: skip


def test_a_ply_file(fit_dir):
    scene = load_scene(fit_dir / "gaussians.ply")
    assert scene.kind == "ply" and len(scene) == 1
    assert scene.frames[0].name == "gaussians"
    assert len(scene.gaussians(0)) == 300
    assert scene.views == {} and scene.metrics == {} and scene.images == []


def test_a_sequence_in_natural_order(sequence_dir):
    scene = load_scene(sequence_dir)
    assert scene.kind == "sequence"
    assert [f.name for f in scene.frames] == ["frame_2", "frame_10"]
    assert [len(scene.gaussians(i)) for i in (0, 1)] == [1500, 1200]
    assert scene.views == {}


def test_a_sequence_of_output_folders_keeps_their_numbers(fit_dir, tmp_path):
    root = tmp_path / "video"
    for name, psnr in (("frame_000010", 20.5), ("frame_000009", 19.0)):
        shutil.copytree(fit_dir, root / name)
        (root / name / "report.json").write_text(json.dumps({"psnr": psnr}))
    scene = load_scene(root)
    assert [f.name for f in scene.frames] == ["frame_000009", "frame_000010"]
    assert scene.frames[0].metrics["psnr"] == 19.0
    assert scene.frames[1].metrics["psnr"] == 20.5
    assert scene.frames[1].metrics["train.psnr"] == 21.25  # from metrics.json too


def test_frames_are_read_once_and_only_a_few_are_kept(tmp_path):
    for k in range(CACHE_FRAMES + 2):
        write_ply(tmp_path / f"f{k}.ply", blob((0.1 * k, 0.0, 0.0), n=10 + k, seed=k))
    scene = load_scene(tmp_path)
    assert len(scene) == CACHE_FRAMES + 2
    assert scene.gaussians(0) is scene.gaussians(0)
    for k in range(len(scene)):
        scene.gaussians(k)
    assert len(scene._cache) == CACHE_FRAMES and 0 not in scene._cache
    with pytest.raises(IndexError):
        scene.gaussians(len(scene))


def test_a_sample_with_its_fit(sample, fit_dir):
    scene = load_scene(sample, fit=fit_dir)
    assert scene.kind == "sample+fit" and scene.source == sample
    assert len(scene.gaussians(0)) == 300
    real = scene.views[REAL]
    assert list(scene.views) == [REAL]
    assert [v.label for v in real] == [f"cam_{k:03d}" for k in range(6)] + ["eval/cam_000"]
    assert [v.held_out for v in real] == [False] * 6 + [True]
    expected = read_opencv_cameras(sample / "opencv_cameras.json")
    assert all(v.camera.allclose(c) for v, c in zip(real[:6], expected, strict=True))
    assert all(v.image.shape == (64, 64, 3) and v.image.dtype == np.uint8 for v in real)
    assert scene.metrics == {"steps": 30, "seconds": 1.5, "num_gaussians": 300,
                             "train.num_views": 6, "train.psnr": 21.25, "train.ssim": 0.875,
                             "held_out.num_views": 1, "held_out.psnr": 18.5}
    assert [title for title, _ in scene.images] == ["renders over images"]
    assert scene.notes == []


def test_view_images_are_composited_on_white(sample, fit_dir):
    """Background pixels (alpha 0 in the sample's RGBA) come out white."""
    real = load_scene(sample, fit=fit_dir).views[REAL]
    corner = real[0].image[0, 0]
    assert corner.tolist() == [255, 255, 255]


def test_a_fit_folder_finds_its_sample(sample, fit_dir):
    scene = load_scene(fit_dir)
    assert scene.kind == "outputs" and scene.source == fit_dir
    assert len(scene.views[REAL]) == 7
    assert scene.metrics["train.psnr"] == 21.25


def test_a_fit_folder_with_a_relative_sample_path(sample, fit_dir, monkeypatch):
    """``fit`` records the path as typed: relative to the working directory of that run."""
    metrics = json.loads((fit_dir / "metrics.json").read_text())
    metrics["sample"] = sample.name
    (fit_dir / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.chdir(sample.parent)
    assert len(load_scene(fit_dir).views[REAL]) == 7


def test_a_fit_folder_whose_sample_is_gone_shows_the_rest(fit_dir, tmp_path):
    metrics = json.loads((fit_dir / "metrics.json").read_text())
    metrics["sample"] = str(tmp_path / "nowhere" / "sample_000000")
    (fit_dir / "metrics.json").write_text(json.dumps(metrics))
    scene = load_scene(fit_dir)
    assert scene.views == {}
    assert len(scene.notes) == 1 and "--sample" in scene.notes[0]
    assert scene.metrics["train.psnr"] == 21.25


def test_an_infer_folder(tmp_path):
    folder = write_infer_folder(tmp_path / "infer", REPORT)
    scene = load_scene(folder)
    assert scene.metrics == {"psnr": 21.0, "masked.psnr": 18.0, "chamfer_mm": 1.5, "views": 6,
                             "timings.total": 2}
    assert list(scene.views) == [GENERATED]
    generated = scene.views[GENERATED]
    assert [v.label for v in generated] == ["view_0", "view_1", "view_2"]
    assert generated[0].image.shape == (32, 32, 3)
    assert generated[0].image[0, 0].tolist() == [230, 128, 153]  # PINK
    assert generated[2].image is None  # its PNG is missing: the camera is drawn without it
    for view, camera in zip(generated, ring_cameras(3), strict=True):
        assert np.allclose(view.camera.c2w, camera.c2w)
    assert [title for title, _ in scene.images] == ["input", "generated views"]


def test_only_the_files_of_the_result_are_shown(tmp_path):
    """A later ``infer --views`` result (no generated views) whose manifest lists its files: the
    views, cameras and sheet an earlier run left are not shown as this run's, and a note says so."""
    folder = write_infer_folder(tmp_path / "infer", REPORT)
    mark_result_folder(folder, "infer", ["gaussians.ply", "input.png", "report.json"])
    scene = load_scene(folder)
    assert scene.views == {} and [title for title, _ in scene.images] == ["input"]
    assert scene.metrics["psnr"] == 21.0
    assert any("4 file(s) not part of its `mouselift infer` result" in note
               and "multiview.png" in note for note in scene.notes)
    mark_result_folder(folder, "infer", [str(p.relative_to(folder)) for p in folder.rglob("*")
                                         if p.is_file() and p.name != RESULT_MANIFEST])
    scene = load_scene(folder)  # all listed: all shown, no note
    assert len(scene.views[GENERATED]) == 3 and len(scene.images) == 2 and not scene.notes


def test_generated_and_real_views_together(sample, tmp_path):
    folder = write_infer_folder(tmp_path / "infer", REPORT)
    scene = load_scene(folder, sample=sample)
    assert list(scene.views) == [REAL, GENERATED]
    assert (len(scene.views[REAL]), len(scene.views[GENERATED])) == (7, 3)


def test_a_sample_for_any_ply(sample, fit_dir):
    scene = load_scene(fit_dir / "gaussians.ply", sample=sample)
    assert list(scene.views) == [REAL] and len(scene.views[REAL]) == 7


def test_a_broken_report_is_a_note(tmp_path):
    folder = write_infer_folder(tmp_path / "infer", REPORT)
    (folder / "report.json").write_text("{not json")
    scene = load_scene(folder)
    assert scene.metrics == {}
    assert len(scene.notes) == 1 and "report.json" in scene.notes[0]


def test_flatten_numbers():
    doc = {"a": 1, "b": {"c": 2.5, "d": {"e": -1}}, "flag": True, "s": "x", "n": None,
           "l": [1, 2], "config": {"lr": 0.1}, "per_view": {"x": 1}}
    assert flatten_numbers(doc) == {"a": 1, "b.c": 2.5, "b.d.e": -1}
    assert flatten_numbers([1, 2]) == {}


def test_natural_key():
    names = ["frame_10.ply", "frame_9.ply", "Frame_100.ply", "a.ply"]
    assert sorted(names, key=natural_key) == ["a.ply", "frame_9.ply", "frame_10.ply",
                                              "Frame_100.ply"]


# --------------------------------------------------------------------------------- errors


def test_an_empty_folder(tmp_path):
    with pytest.raises(ViewerError, match="no Gaussian PLY in this folder"):
        load_scene(tmp_path)


def test_a_folder_without_ply(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ViewerError, match="no Gaussian PLY"):
        load_scene(tmp_path)


def test_a_point_cloud_is_not_gaussians(tmp_path):
    path = write_point_cloud_ply(tmp_path / "points.ply")
    with pytest.raises(SplatFormatError, match="not a Gaussian splat PLY"):
        load_scene(path)
    with pytest.raises(SplatFormatError, match="not a Gaussian splat PLY"):
        load_scene(tmp_path)  # a sequence whose first frame is not Gaussians


def test_not_a_ply_at_all(tmp_path):
    path = tmp_path / "image.ply"
    path.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(SplatFormatError, match="not a PLY file"):
        load_scene(path)


def test_a_missing_path(tmp_path):
    with pytest.raises(ViewerError, match="no such file or folder"):
        load_scene(tmp_path / "missing.ply")


def test_a_sample_needs_its_fit(sample):
    with pytest.raises(ViewerError, match="give --fit FITDIR"):
        load_scene(sample)


def test_fit_needs_a_sample(fit_dir, tmp_path):
    with pytest.raises(ConfigError, match="must then be a prepared sample"):
        load_scene(fit_dir, fit=fit_dir)


def test_fit_without_gaussians(sample, tmp_path):
    with pytest.raises(ViewerError, match=r"no gaussians\.ply"):
        load_scene(sample, fit=tmp_path)


def test_sample_must_be_a_sample(fit_dir, tmp_path):
    with pytest.raises(ConfigError, match="not a prepared sample"):
        load_scene(fit_dir, sample=tmp_path)
    with pytest.raises(ConfigError, match="no such folder"):
        load_scene(fit_dir, sample=tmp_path / "missing")


def test_fit_and_sample_together(sample, fit_dir):
    with pytest.raises(ConfigError, match="not both"):
        load_scene(sample, fit=fit_dir, sample=sample)
