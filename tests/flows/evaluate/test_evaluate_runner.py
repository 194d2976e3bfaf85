"""``evaluate_dataset`` on the suite's 64-px dataset: tiny random checkpoints, eval.json checked
against direct recomputations, the 3D metrics from the synthetic ground truth."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mouselift.cameras.rig import facelift_rig
from mouselift.data.dataset_rig import rig_from_dataset
from mouselift.data.layout import read_split
from mouselift.data.sample import load_sample_views
from mouselift.data.synth import load_ground_truth
from mouselift.errors import ConfigError, DatasetError, RecordingError, WeightsError
from mouselift.fit.config import FitConfig
from mouselift.flows.evaluate import evaluate_dataset
from mouselift.flows.lift import RigMismatchError
from mouselift.gslrm.checkpoints import load_gslrm
from mouselift.gslrm.inference import SplatFilters, predict_gaussians
from mouselift.images import composite
from mouselift.metrics import LPIPS, psnr
from mouselift.metrics.geometry import surface_metrics
from mouselift.mvdiff import MultiViewDiffusionPipeline
from mouselift.splat.render import render


def test_eval_json_structure(stage2_eval, mouse_dataset, synthetic_recording):
    report = json.loads((stage2_eval.out_dir / "eval.json").read_text())
    assert report["format"] == "mouselift-eval" and report["split"] == "val"
    assert report["samples_in_split"] == 4 and report["num_samples"] == 2
    evaluations = report["evaluations"]
    assert evaluations["stage2"]["ran"] and not evaluations["fit"]["ran"]
    assert evaluations["stage1"] == {"ran": False, "skipped": "no --mvdiff"}
    assert report["ground_truth"] == {"available": True, "recording": str(synthetic_recording),
                                      "source": "summary.json"}
    assert "no LPIPS weights" in report["lpips_unavailable"]
    val = read_split(mouse_dataset, "val")
    assert [s["sample"] for s in report["samples"]] == [val[0], val[-1]]  # spread over val
    for sample in report["samples"]:
        assert sample["frame"] == int(sample["sample"].split("_")[1])
        assert sample["gt_centre_offset_mm"] < 5
        stage2 = sample["evaluations"]["stage2"]
        assert set(stage2["views"]) == {"inputs", "held_out"}
        assert stage2["views"]["inputs"]["num_views"] == 6
        assert stage2["views"]["held_out"]["num_views"] == 1
        assert np.isfinite(stage2["views"]["inputs"]["psnr"])
        assert stage2["views"]["inputs"]["lpips"] is None
        geo = stage2["geometry"]
        assert np.isfinite(geo["chamfer_mm"]) and 0 <= geo["fscore_2mm"] <= geo["fscore_5mm"]
    # means are the means over the samples
    means = report["means"]["stage2"]
    for key in ("psnr", "psnr_masked", "ssim", "iou"):
        values = [s["evaluations"]["stage2"]["views"]["held_out"][key]
                  for s in report["samples"]]
        assert means["views"]["held_out"][key] == pytest.approx(np.mean(values))
    assert means["geometry"]["chamfer_mm"] == pytest.approx(np.mean(
        [s["evaluations"]["stage2"]["geometry"]["chamfer_mm"] for s in report["samples"]]))
    table = stage2_eval.format()
    assert "stage2" in table and "held-out" in table and "Chamfer mm" in table
    assert "IoU" in table
    assert "fit: skipped (no --fit)" in table


def test_numbers_equal_a_direct_recomputation(stage2_eval, mouse_dataset, gslrm_checkpoint,
                                              synthetic_recording):
    """One sample by hand: the model, FaceLift's filters, a render of the held-out camera, PSNR
    of it against the image on white; the Gaussians' centres to mm with the sample's similarity
    written out (X = Rᵀ(X' − t) / s) against the frame's ground truth."""
    entry = stage2_eval.report["samples"][0]
    sample = mouse_dataset / entry["sample"]
    model, _ = load_gslrm(gslrm_checkpoint)
    gaussians = SplatFilters().apply(predict_gaussians(model, load_sample_views(sample),
                                                       device=torch.device("cpu")))
    assert entry["evaluations"]["stage2"]["num_gaussians"] == len(gaussians)
    held = load_sample_views(sample / "eval")
    rgb = render(gaussians, held.cameras[0], torch.ones(3)).rgb[0].clamp(0, 1).double()
    expected = float(psnr(rgb, composite(held.rgba[0].double(), "white")))
    got = entry["evaluations"]["stage2"]["views"]["held_out"]["per_view"][0]
    assert got["psnr"] == pytest.approx(expected, abs=1e-9)
    # the silhouette IoU: rendered alpha > 0.5 against the real mask > 0.5
    alpha = render(gaussians, held.cameras[0], torch.ones(3)).alpha[0, ..., 0] > 0.5
    mask = held.rgba[0, ..., 3] > 0.5
    iou = float((alpha & mask).sum()) / float((alpha | mask).sum())
    assert got["iou"] == pytest.approx(iou, abs=1e-12)

    record = json.loads((sample / "sample.json").read_text())
    s = record["similarity"]["scale"]
    rot = np.array(record["similarity"]["rotation"])
    t = np.array(record["similarity"]["translation"])
    keep = gaussians.opacities.numpy() >= 0.04
    centres = (gaussians.means.double().numpy()[keep] - t) @ rot / s
    truth = load_ground_truth(synthetic_recording)
    points = truth.surface_points[list(truth.frame_indices).index(entry["frame"])]
    direct = surface_metrics(centres, points, weights=gaussians.opacities.numpy()[keep])
    geo = entry["evaluations"]["stage2"]["geometry"]
    assert geo["chamfer_mm"] == pytest.approx(direct["chamfer_mm"], rel=1e-9)
    assert geo["fscore_5mm"] == pytest.approx(direct["fscore_5mm"], rel=1e-9)


def test_a_predictor_of_nothing_scores_as_a_white_image(mouse_dataset, gslrm_checkpoint,
                                                        tmp_path):
    """Filters that drop every Gaussian: the renders are the white background, so the metrics
    are those of a white image, the 3D accuracy is the worst (inf, F = 0)."""
    nothing = SplatFilters(min_opacity=1.0)
    result = evaluate_dataset(mouse_dataset, tmp_path, gslrm=gslrm_checkpoint, samples=1,
                              filters=nothing, progress=False)
    entry = result.report["samples"][0]["evaluations"]["stage2"]
    assert entry["num_gaussians"] == 0
    views = load_sample_views(mouse_dataset / result.report["samples"][0]["sample"])
    white = torch.ones((*views.rgba.shape[1:3], 3), dtype=torch.float64)
    targets = [composite(v.double(), "white") for v in views.rgba]
    # where a crop ran past its source image the camera saw nothing: scored as matching
    expected = np.mean([float(psnr(torch.where(unseen[..., None], target, white), target))
                        for unseen, target in zip(views.unseen_or_none, targets, strict=True)])
    assert entry["views"]["inputs"]["psnr"] == pytest.approx(expected, abs=1e-9)
    assert entry["geometry"]["chamfer_mm"] == float("inf")
    assert entry["geometry"]["fscore_5mm"] == 0.0
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["samples"][0]["evaluations"]["stage2"]["geometry"]["chamfer_mm"] == "inf"


def test_lpips_when_weights_are_given(mouse_dataset, gslrm_checkpoint, tmp_path):
    """An untrained LPIPS (random VGG16, unit lin weights) saved as one combined file in
    torchvision's and the LPIPS package's key layouts."""
    torch.manual_seed(1)
    lpips = LPIPS()
    state = {k.removeprefix("vgg."): v for k, v in lpips.vgg.state_dict().items()}
    state.update({f"lin{i}.model.1.weight": w for i, w in enumerate(lpips.lin_weights())})
    torch.save(state, tmp_path / "lpips_all.pth")
    result = evaluate_dataset(mouse_dataset, tmp_path / "out", gslrm=gslrm_checkpoint,
                              samples=1, vgg_weights=tmp_path / "lpips_all.pth",
                              progress=False)
    assert "lpips_unavailable" not in result.report
    entry = result.report["samples"][0]
    held = entry["evaluations"]["stage2"]["views"]["held_out"]
    model, _ = load_gslrm(gslrm_checkpoint)
    sample = mouse_dataset / entry["sample"]
    gaussians = SplatFilters().apply(predict_gaussians(model, load_sample_views(sample),
                                                       device=torch.device("cpu")))
    view = load_sample_views(sample / "eval")
    rgb = render(gaussians, view.cameras[0], torch.ones(3)).rgb[0].clamp(0, 1)
    target = composite(view.rgba[0], "white")
    expected = float(lpips(rgb.permute(2, 0, 1)[None], target.permute(2, 0, 1)[None])[0])
    assert held["lpips"] == pytest.approx(expected, rel=1e-4)
    assert result.report["means"]["stage2"]["views"]["held_out"]["lpips"] == held["lpips"]


def test_fit_reference(mouse_dataset, tmp_path):
    fit = FitConfig(steps=3, init_points=200, hull_voxels=16, densify_every=100,
                    densify_until=0, max_gaussians=500)
    result = evaluate_dataset(mouse_dataset, tmp_path, fit=fit, samples=1, progress=False)
    entry = result.report["samples"][0]["evaluations"]["fit"]
    assert set(entry["views"]) == {"inputs", "held_out"} and entry["num_gaussians"] > 0
    assert np.isfinite(entry["geometry"]["chamfer_mm"])
    assert result.report["fit"]["steps"] == 3
    assert result.report["evaluations"]["stage2"]["ran"] is False


def test_a_fit_that_cannot_start_is_recorded_not_fatal(mouse_dataset, tmp_path, monkeypatch):
    def empty_hull(*_args, **_kwargs):
        raise ValueError("the masks leave an empty visual hull")

    monkeypatch.setattr("mouselift.flows.evaluate.fit.optimize", empty_hull)
    result = evaluate_dataset(mouse_dataset, tmp_path, fit=FitConfig(steps=1), samples=1,
                              progress=False)
    sample = result.report["samples"][0]
    assert sample["failed"] == {"fit": "the masks leave an empty visual hull"}
    assert sample["evaluations"] == {} and result.report["means"] == {}
    assert "fit: failed on 1 sample(s)" in result.format()


def test_without_ground_truth_the_3d_metrics_are_omitted(mouse_dataset, gslrm_checkpoint,
                                                         tmp_path, monkeypatch):
    moved = tmp_path / "ds"
    moved.symlink_to(mouse_dataset)
    summary = json.loads((mouse_dataset / "summary.json").read_text())
    monkeypatch.setattr("mouselift.data.synth.ground_truth.recorded_source",
                        lambda _: [tmp_path / "gone"])
    result = evaluate_dataset(moved, tmp_path / "out", gslrm=gslrm_checkpoint, samples=1,
                              progress=False)
    info = result.report["ground_truth"]
    assert info["available"] is False and "not there" in info["reason"]
    assert result.report["samples"][0]["evaluations"]["stage2"]["geometry"] is None
    assert "geometry" not in result.report["means"]["stage2"]
    assert "3D metrics omitted" in result.format()
    assert summary["recording"]  # the real dataset names its recording


def test_wrong_recording_is_refused(mouse_dataset, gslrm_checkpoint, tmp_path):
    with pytest.raises(RecordingError, match="ground-truth file not found"):
        evaluate_dataset(mouse_dataset, tmp_path, gslrm=gslrm_checkpoint,
                         recording=tmp_path, progress=False)


def test_user_errors(mouse_dataset, gslrm_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("MOUSELIFT_BUILTIN", str(tmp_path / "no-builtin-models"))
    with pytest.raises(DatasetError, match="not found"):
        evaluate_dataset(tmp_path / "nope", tmp_path / "o", gslrm=gslrm_checkpoint)
    with pytest.raises(DatasetError, match=r"no test\.txt"):
        evaluate_dataset(mouse_dataset, tmp_path / "o", split="test", gslrm=gslrm_checkpoint)
    with pytest.raises(ConfigError, match="nothing to evaluate"):
        evaluate_dataset(mouse_dataset, tmp_path / "o")
    with pytest.raises(ConfigError, match="needs --gslrm too"):
        evaluate_dataset(mouse_dataset, tmp_path / "o", mvdiff=tmp_path)
    with pytest.raises(WeightsError, match="no built-in models"):
        evaluate_dataset(mouse_dataset, tmp_path / "o", builtin=True)


@pytest.fixture(scope="module")
def dataset_pipeline(tiny_arch, mouse_dataset, tmp_path_factory):
    """A tiny random Stage-1 pipeline carrying the dataset's rig (the GS-LRM's)."""
    work = tmp_path_factory.mktemp("eval_pipe")
    pipe = MultiViewDiffusionPipeline.from_architecture(
        tiny_arch, rig=rig_from_dataset(mouse_dataset), seed=0, workdir=work / "build")
    return pipe.save_pretrained(work / "pipeline")


def test_stage1_and_end_to_end(mouse_dataset, gslrm_checkpoint, dataset_pipeline, tmp_path):
    result = evaluate_dataset(mouse_dataset, tmp_path, gslrm=gslrm_checkpoint,
                              mvdiff=dataset_pipeline, samples=1, seed=3,
                              sampler={"solver": "dpm++", "steps": 2}, progress=False)
    report = result.report
    assert all(report["evaluations"][n]["ran"] for n in ("stage1", "end_to_end", "stage2"))
    assert report["sampler"] == {"solver": "dpm++", "steps": 2, "guidance": 3.0, "eta": None}
    entry = report["samples"][0]["evaluations"]
    assert entry["stage1"]["views"]["input"]["num_views"] == 1
    assert entry["stage1"]["views"]["novel"]["num_views"] == 5
    assert entry["stage1"]["geometry"] is None
    for group in ("input", "novel"):  # the generated views' non-white pixels vs the masks
        assert 0.0 <= entry["stage1"]["views"][group]["iou"] <= 1.0
    e2e = entry["end_to_end"]
    assert set(e2e["views"]) == {"input", "novel", "held_out"}
    assert np.isfinite(e2e["geometry"]["chamfer_mm"])
    assert e2e["cameras"].startswith("the sample's own")
    rows = [line.split()[:2] for line in result.format().splitlines()]
    assert ["stage1", "novel"] in rows and ["end_to_end", "held-out"] in rows


def test_a_pipeline_of_another_rig_is_refused(tiny_pipeline_dir, gslrm_checkpoint,
                                              mouse_dataset, tmp_path):
    assert facelift_rig(64).names[0] == "front"
    with pytest.raises(RigMismatchError):
        evaluate_dataset(mouse_dataset, tmp_path, gslrm=gslrm_checkpoint,
                         mvdiff=tiny_pipeline_dir, samples=1, progress=False)


def test_one_view_localisation_per_sample_and_camera(stage2_eval, mouse_dataset):
    """eval.json's localisation: each sample and camera's plane-method centre against the
    sample's all-view centre, recomputed by hand; the suite dataset's locator has no camera
    model (too few frames), so the locator's column is empty."""
    from mouselift.data.framing.locate import ray_plane_point
    from mouselift.data.framing.locator import OneViewLocator

    report = json.loads((stage2_eval.out_dir / "eval.json").read_text())
    loc = report["localisation"]
    assert loc["available"] and set(loc["per_camera"]) == {str(k) for k in range(6)}
    locator = OneViewLocator.load(mouse_dataset / "locator.json")
    entry = report["samples"][0]
    record = json.loads((mouse_dataset / entry["sample"] / "sample.json").read_text())
    assert len(entry["localisation"]) == 6
    for score, view, camera in zip(entry["localisation"], record["views"],
                                   locator.calibration, strict=True):
        point, _ = ray_plane_point(camera, np.array(view["mask_shape"]["centroid"]),
                                   locator.centre_height_mm)
        assert score["plane_mm"] == pytest.approx(
            np.linalg.norm(point - record["centre_mm"]), abs=2e-3)
        assert score["locator_mm"] is None
        assert score["touches_border"] == any(view["mask_shape"]["border"])
    assert "one-view mouse centre vs the all-view centre" in stage2_eval.format()


def test_localisation_with_a_fitted_locator(mouse_dataset, known_mouse, tmp_path):
    """With a locator for the dataset's calibration, the per-camera means are the means of the
    samples' scores; a dataset without locator.json says how to get one."""
    import shutil

    from mouselift.data.framing.locator import fit_locator
    from mouselift.flows.evaluate.localisation import score_localisation

    copy = tmp_path / "ds"
    shutil.copytree(mouse_dataset, copy)
    fit_locator(known_mouse.cameras, known_mouse.train, threshold=127).save(
        copy / "locator.json")
    names = read_split(copy, "val")
    info, per_sample = score_localisation(copy, names)
    assert info["available"] and set(per_sample) == set(names)
    for camera in range(6):
        whole = [s["locator_mm"] for n in names for s in per_sample[n]
                 if s["camera"] == camera and s["reference"] and not s["touches_border"]]
        summary = info["per_camera"][str(camera)]["whole"]
        assert summary["n"] == len(whole)
        if whole:
            assert summary["locator"]["mean"] == pytest.approx(np.mean(whole), abs=2e-3)
    (copy / "locator.json").unlink()
    info, per_sample = score_localisation(copy, names)
    assert not info["available"] and "mouselift locator" in info["reason"] and not per_sample
