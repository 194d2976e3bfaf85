"""Geometry of framing (``mouselift.data.framing``): triangulation, crops, resampling,
normalisation, the visual hull, and ``prepare``'s ``process_frame`` built on them.

Cameras are the real rig (``builtin_calibration()``: 1152×1024, skew ≠ 0, mm, Z up), resized
where images are drawn so the tests stay fast.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from mouselift.cameras import Camera, Similarity
from mouselift.cameras.facelift import read_opencv_cameras, write_opencv_cameras
from mouselift.data.calibrations import builtin_calibration
from mouselift.data.framing.crops import (
    CropError,
    crop_geometry,
    resample_view,
    tangent_cone_half_size,
)
from mouselift.data.framing.hull import hull_centroid
from mouselift.data.framing.normalize import check_undistorted, frame_similarity
from mouselift.data.framing.triangulate import (
    NO_CONSENSUS,
    TOO_FEW_VIEWS,
    MaskStats,
    mask_stats,
    triangulate_robust,
)
from mouselift.data.prepare.config import PrepareConfig
from mouselift.data.prepare.samples import process_frame
from mouselift.errors import RecordingError

CENTRES = [
    np.array([55.0, 64.0, 21.0]),  # mean mouse position of the real recording
    np.array([126.0, -32.0, 30.0]),  # arena corner: the mouse is ~20° off-axis in some views
    np.array([-16.0, 122.0, 40.0]),
]


@pytest.fixture(scope="module")
def rig() -> list[Camera]:
    return builtin_calibration()


def perfect_stats(cameras, point, area=5000):
    return [
        MaskStats(area, cam.project(point[None])[0], (10, 10, 20, 20), False, area / 1e6)
        for cam in cameras
    ]


# ------------------------------------------------------------------------------ mask stats
def test_mask_stats_centroid_area_border():
    mask = np.zeros((40, 50), np.uint8)
    mask[10:20, 5:9] = 200  # columns 5..8, rows 10..19
    mask[0:3, 0:2] = 100  # below the threshold: ignored
    s = mask_stats(mask, 127)
    assert s.area == 40
    np.testing.assert_allclose(s.centroid, [6.5, 14.5])  # OpenCV pixel centres
    assert s.bbox == (5, 10, 9, 20) and not s.touches_border
    assert s.fraction == pytest.approx(40 / 2000)
    mask[30:40, 45:50] = 255
    assert mask_stats(mask, 127).touches_border
    empty = mask_stats(np.zeros((8, 8), np.uint8))
    assert empty.area == 0 and np.all(np.isnan(empty.centroid)) and empty.bbox is None


# ------------------------------------------------------------------------------ triangulation
@pytest.mark.parametrize("point", CENTRES)
def test_triangulation_exact_with_perfect_centroids(rig, point):
    tri = triangulate_robust(rig, perfect_stats(rig, point))
    assert tri.ok
    np.testing.assert_allclose(tri.point, point, atol=1e-8)
    assert tri.inliers.all() and not tri.outliers.any()
    assert np.nanmax(tri.errors) < 1e-6


def test_triangulation_robust_to_one_corrupted_view(rig):
    point = CENTRES[0]
    stats = perfect_stats(rig, point)
    bad = stats[3]
    shifted = bad.centroid + np.array([160.0, -90.0])
    stats[3] = MaskStats(bad.area, shifted, bad.bbox, False, bad.fraction)
    tri = triangulate_robust(rig, stats)
    np.testing.assert_allclose(tri.point, point, atol=1e-8)
    assert tri.outliers.tolist() == [False, False, False, True, False, False]
    assert not tri.inliers[3] and tri.inliers.sum() == 5
    assert tri.errors[3] > 100


def test_triangulation_ignores_empty_masks(rig):
    point = CENTRES[1]
    stats = perfect_stats(rig, point)
    stats[0] = mask_stats(np.zeros((1024, 1152), np.uint8))
    stats[4] = MaskStats(3, stats[4].centroid + 300, (0, 0, 2, 2), False, 3 / (1152 * 1024))
    tri = triangulate_robust(rig, stats)
    np.testing.assert_allclose(tri.point, point, atol=1e-8)
    assert tri.valid.tolist() == [False, True, True, True, False, True]
    assert np.isnan(tri.errors[0]) and np.isnan(tri.errors[4])


def test_triangulation_fails_cleanly_with_too_few_views(rig):
    stats = perfect_stats(rig, CENTRES[0])
    empty = mask_stats(np.zeros((16, 16), np.uint8))
    stats = [stats[0]] + [empty] * 5
    tri = triangulate_robust(rig, stats)
    assert not tri.ok and tri.point is None and tri.reason == TOO_FEW_VIEWS
    assert not tri.inliers.any()


def test_triangulation_two_inconsistent_views_have_no_consensus(rig):
    point = CENTRES[0]
    stats = perfect_stats(rig, point)[:2]
    cams = rig[:2]
    # Move view 1's centroid across its epipolar line (the image of view 0's ray).
    ray = [cams[0].unproject(stats[0].centroid[None], d)[0] for d in (250.0, 400.0)]
    a, b = cams[1].project(np.array(ray))
    normal = np.array([-(b - a)[1], (b - a)[0]]) / np.linalg.norm(b - a)
    s1 = stats[1]
    stats[1] = MaskStats(s1.area, s1.centroid + 80 * normal, s1.bbox, False, s1.fraction)
    tri = triangulate_robust(cams, stats)
    assert not tri.ok and tri.reason == NO_CONSENSUS


def test_triangulation_leaves_out_views_clipped_by_the_image_border(rig):
    point = CENTRES[0]
    stats = perfect_stats(rig, point)
    s = stats[2]
    shifted = s.centroid + np.array([25.0, 0.0])
    stats[2] = MaskStats(s.area, shifted, (0, 5, 40, 60), True, s.fraction)
    tri = triangulate_robust(rig, stats)
    np.testing.assert_allclose(tri.point, point, atol=1e-8)  # the biased view was not used
    assert tri.clipped_in_source.tolist() == [False, False, True, False, False, False]
    assert not tri.inliers[2]


def render_ellipsoid_masks(cameras, centre, semi_axes, heading):
    """Binary silhouettes (uint8 0/255) of an ellipsoid, by ray casting every pixel centre."""
    c, s = np.cos(heading), np.sin(heading)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    inv = np.diag(1.0 / np.asarray(semi_axes)) @ rot.T  # world → unit-sphere frame
    masks = []
    for cam in cameras:
        dirs = cam.ray_directions(cam.pixel_centers().reshape(-1, 2)) @ inv.T
        origin = inv @ (cam.center - centre)
        a = np.sum(dirs * dirs, axis=1)
        b = 2 * dirs @ origin
        disc = b * b - 4 * a * (origin @ origin - 1.0)
        masks.append(np.where(disc > 0, 255, 0).astype(np.uint8).reshape(cam.height, cam.width))
    return masks


def test_triangulated_silhouette_centroids_are_inliers_near_the_true_centre(rig):
    cams = [c.resize(288, 256) for c in rig]
    for centre, heading in ((CENTRES[0], 0.3), ((90.0, 20.0, 25.0), 2.0), ((20.0, 100, 25), -1)):
        masks = render_ellipsoid_masks(cams, np.array(centre), (45.0, 20.0, 22.0), heading)
        tri = triangulate_robust(cams, [mask_stats(m) for m in masks])
        assert tri.ok and tri.inliers.all() and not tri.clipped_in_source.any(), tri.errors
        # Silhouette centroids are not projections of the centre, but close: a few mm
        # (measured 1.1–1.8 mm; errors 1–4.3 px against thresholds 12–21 px at this size).
        assert np.linalg.norm(tri.point - centre) < 3.0


def test_silhouettes_cut_by_the_image_border_are_flagged_and_not_used(rig):
    cams = [c.resize(288, 256) for c in rig]
    centre = CENTRES[1]  # arena corner: the body leaves the image in 4 of 6 views
    masks = render_ellipsoid_masks(cams, centre, (45.0, 20.0, 22.0), 2.0)
    tri = triangulate_robust(cams, [mask_stats(m) for m in masks])
    assert tri.clipped_in_source.tolist() == [True, True, False, True, False, True]
    assert tri.inliers.tolist() == [False, False, True, False, True, False]
    assert np.linalg.norm(tri.point - centre) < 4.0  # measured 2.6 mm


# ------------------------------------------------------------------------------ crops
@pytest.mark.parametrize("centre", CENTRES)
def test_crop_centre_lands_on_crop_centre(rig, centre):
    size = 512
    for cam in rig:
        geom = crop_geometry(cam, centre, 60.0, size)
        np.testing.assert_allclose(geom.camera.project(centre[None])[0], [255.5, 255.5], atol=1e-6)
        assert geom.camera.size == (size, size)
        assert geom.camera.skew == 0.0 and geom.camera.fx == geom.camera.fy
        np.testing.assert_array_equal(geom.camera.w2c, cam.w2c)
        x0, y0, x1, y1 = geom.box
        np.testing.assert_allclose([(x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5],
                                   cam.project(centre[None])[0], atol=0.05)  # skew shears it


def test_crop_half_size_formula_on_the_optical_axis(rig):
    cam = rig[1]
    for distance, radius in ((300.0, 60.0), (420.0, 35.0)):
        centre = cam.center + distance * cam.R[2]  # on the optical axis
        rho = tangent_cone_half_size(cam, centre, radius)
        assert rho == pytest.approx(radius / np.sqrt(distance**2 - radius**2), rel=1e-9)
        geom = crop_geometry(cam, centre, radius, 256)
        half_width = (geom.box[2] - geom.box[0]) / 2
        # pixel half-size f·r/sqrt(d²−r²) (+ the tiny skew shear of the box corners)
        expected = cam.fx * radius / np.sqrt(distance**2 - radius**2)
        assert half_width == pytest.approx(expected + abs(cam.skew) * rho, rel=1e-9)


def test_sphere_has_the_same_size_in_every_crop(rig):
    """The sphere of radius r fills the crop exactly (half-size S/2) in every view, including
    views that see it ~20° off-axis, where the on-axis formula alone would cut it by ~15 %."""
    size, radius = 256, 60.0
    rng = np.random.default_rng(1)
    dirs = rng.normal(size=(50_000, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    for centre in CENTRES:
        radii = []
        for cam in rig:
            geom = crop_geometry(cam, centre, radius, size)
            pix = geom.camera.project(centre + radius * dirs)
            radii.append(np.abs(pix - (size - 1) / 2).max())
        radii = np.array(radii)
        assert np.all(np.abs(radii / (size / 2) - 1) < 0.01), radii
        assert radii.max() <= size / 2 + 1e-6


def test_camera_inside_sphere_is_a_crop_error(rig):
    with pytest.raises(CropError):
        crop_geometry(rig[0], rig[0].center + np.array([5.0, 0.0, 0.0]), 60.0, 64)


def test_written_camera_matches_affine_map_exactly(rig, tmp_path):
    """project(written camera, X) mapped through the resampling affine = project(source, X), for
    the crop camera, the normalised one, and the normalised one read back from
    ``opencv_cameras.json`` (FaceLift's +0.5 convention, no skew key)."""
    rng = np.random.default_rng(2)
    for n, centre in enumerate(CENTRES):
        sim = frame_similarity(rig, centre)
        points = centre + rng.uniform(-80, 80, size=(200, 3))
        geoms = [crop_geometry(cam, centre, 60.0, 512) for cam in rig]
        path = tmp_path / f"cams{n}.json"
        write_opencv_cameras(path, [g.camera.transformed(sim) for g in geoms], sample_id="s")
        assert "skew" not in path.read_text()
        read_back = read_opencv_cameras(path)
        for cam, geom, back in zip(rig, geoms, read_back, strict=True):
            for written, pts in ((geom.camera, points),
                                 (geom.camera.transformed(sim), sim.apply(points)),
                                 (back, sim.apply(points))):
                out = written.project(pts)
                mapped = out @ geom.affine[:, :2].T + geom.affine[:, 2]
                np.testing.assert_allclose(mapped, cam.project(points), atol=1e-6)


def _blob_image(camera, point, sigma=3.0):
    h, w = camera.height, camera.width
    u, v = camera.project(point[None])[0]
    yy, xx = np.mgrid[0:h, 0:w]
    blob = np.exp(-((xx - u) ** 2 + (yy - v) ** 2) / (2 * sigma**2))
    image = np.zeros((h, w, 3), np.uint8)
    image[..., 1] = np.round(20 + 230 * blob).astype(np.uint8)
    mask = np.round(255 * blob).astype(np.uint8)
    return image, mask


def _weighted_centre(values, baseline=0.0):
    v = np.clip(values.astype(np.float64) - baseline, 0.0, None)
    v = np.where(v > 0.2 * v.max(), v - 0.2 * v.max(), 0.0)
    yy, xx = np.mgrid[0 : v.shape[0], 0 : v.shape[1]]
    return np.array([(xx * v).sum(), (yy * v).sum()]) / v.sum()


# Output sizes: 400 (enlarged, ~0.8 source px per output px), 160 (~2: box-reduced 2× first),
# 48 (~7: reduced 7× first). Measured errors: ≤ 0.03, ≤ 0.03, ≤ 0.11 px; a half-pixel slip in the
# source convention gives 0.3 px at 160.
@pytest.mark.parametrize(("size", "tolerance"), [(400, 0.1), (160, 0.1), (48, 0.25)])
def test_resampled_dot_appears_at_the_written_projection(rig, size, tolerance):
    cams = [c.resize(576, 512) for c in rig]
    centre = CENTRES[0]
    target = centre + np.array([25.0, -20.0, 15.0])
    for cam in cams:
        image, mask = _blob_image(cam, target, sigma=3.0)
        geom = crop_geometry(cam, centre, 60.0, size)
        rgba = resample_view(image, mask, geom, size)
        assert rgba.shape == (size, size, 4) and rgba.dtype == np.uint8
        expected = geom.camera.project(target[None])[0]
        for channel, baseline in ((1, 20), (3, 0)):  # green channel and alpha
            found = _weighted_centre(rgba[..., channel], baseline)
            assert np.linalg.norm(found - expected) < tolerance, (channel, found, expected)


def test_regions_outside_the_source_are_transparent(rig):
    cam = rig[0].resize(288, 256)
    centre = np.array([126.0, 122.0, 30.0])
    geom = crop_geometry(cam, centre, 120.0, 64)
    assert geom.clipped
    image = np.full((256, 288, 3), 200, np.uint8)
    mask = np.full((256, 288), 255, np.uint8)
    rgba = resample_view(image, mask, geom, 64)
    grid = np.stack(np.meshgrid(np.arange(64.0), np.arange(64.0)), axis=-1).reshape(-1, 2)
    src = grid @ geom.affine[:, :2].T + geom.affine[:, 2]
    inside = ((src[:, 0] > 0.5) & (src[:, 0] < 286.5) & (src[:, 1] > 0.5) & (src[:, 1] < 254.5))
    outside = ((src[:, 0] < -1.5) | (src[:, 0] > 288.5) | (src[:, 1] < -1.5) | (src[:, 1] > 256.5))
    alpha = rgba[..., 3].reshape(-1)
    assert outside.any() and inside.any()
    assert np.all(alpha[outside] == 0) and np.all(alpha[inside] == 255)
    geom_in = crop_geometry(cam, np.array([55.0, 64.0, 21.0]), 30.0, 64)
    assert not geom_in.clipped


# ------------------------------------------------------------------------------ normalisation
@pytest.mark.parametrize("centre", CENTRES)
def test_normalisation_centres_scales_and_keeps_the_rig_rigid(rig, centre):
    sim = frame_similarity(rig, centre, 2.7)
    np.testing.assert_allclose(sim.apply(centre), 0.0, atol=1e-12)
    moved = [c.transformed(sim) for c in rig]
    distances = [np.linalg.norm(c.center) for c in moved]
    assert abs(np.mean(distances) - 2.7) < 1e-9
    for old, new in zip(rig, moved, strict=True):
        np.testing.assert_allclose(new.R, old.R, atol=1e-15)  # axes unchanged: Z stays up
        np.testing.assert_allclose(new.center, sim.scale * (old.center - centre), atol=1e-12)
    for i, j in itertools.combinations(range(len(rig)), 2):
        rel_old = rig[i].w2c @ rig[j].c2w
        rel_new = moved[i].w2c @ moved[j].c2w
        np.testing.assert_allclose(rel_new[:3, :3], rel_old[:3, :3], atol=1e-12)
        np.testing.assert_allclose(rel_new[:3, 3], sim.scale * rel_old[:3, 3], atol=1e-12)
    pts = centre + np.random.default_rng(3).uniform(-50, 50, size=(20, 3))
    for old, new in zip(rig, moved, strict=True):
        np.testing.assert_allclose(new.project(sim.apply(pts)), old.project(pts), atol=1e-9)
    assert isinstance(sim, Similarity) and np.array_equal(sim.rotation, np.eye(3))


def test_distorted_cameras_are_refused(rig):
    check_undistorted(rig, "rec")
    distorted = builtin_calibration(undistorted=False)
    assert any(c.has_distortion for c in distorted)
    with pytest.raises(RecordingError) as info:
        check_undistorted(distorted, "rec")
    assert "\n" not in str(info.value) and "undistorted" in str(info.value)


# ------------------------------------------------------------------------------ visual hull
def test_visual_hull_centroid_finds_the_body_centre(rig):
    cams = [c.resize(288, 256) for c in rig]
    for centre, heading in ((CENTRES[0], 0.3), ((90.0, 20.0, 25.0), 2.0), ((20.0, 100, 25), -1)):
        centre = np.asarray(centre)
        masks = render_ellipsoid_masks(cams, centre, (45.0, 20.0, 22.0), heading)
        start = centre + np.array([4.0, -3.0, 2.0])
        found, voxels = hull_centroid(cams, masks, start, 45.0, 2.0)
        assert voxels > 1000
        assert np.linalg.norm(found - centre) < 1.0, found - centre  # measured 0.1–0.4 mm
    # Masks that agree on nothing leave no hull.
    empty = [np.zeros((256, 288), np.uint8) for _ in cams]
    assert hull_centroid(cams, empty, CENTRES[0], 45.0, 2.0) == (None, 0)


def test_visual_hull_with_views_cut_by_the_image_border(rig):
    """Views whose mask touches the border only carve inside their image; treating them like
    the others (outside the image = not mouse) would cut the body off."""
    cams = [c.resize(288, 256) for c in rig]
    centre = CENTRES[1]  # arena corner: the body leaves the image in views 0, 1, 3 and 5
    masks = render_ellipsoid_masks(cams, centre, (45.0, 20.0, 22.0), 2.0)
    cut = [mask_stats(m).touches_border for m in masks]
    assert cut == [True, True, False, True, False, True]
    found, _ = hull_centroid(cams, masks, centre, 45.0, 2.0, partial=cut)
    naive, _ = hull_centroid(cams, masks, centre, 45.0, 2.0)
    assert np.linalg.norm(found - centre) < 5.0  # measured 3.6 mm (only 2 views see it all)
    assert np.linalg.norm(naive - centre) > 10.0  # measured 20.5 mm


def test_process_frame_survives_a_wrong_mask(rig, tmp_path):
    cams = [c.resize(288, 256) for c in rig]
    centre = CENTRES[0]
    masks = render_ellipsoid_masks(cams, centre, (45.0, 20.0, 22.0), 0.3)
    masks[2] = np.roll(masks[2], (40, -60), axis=(0, 1))  # a mask of something else
    images = [np.full((256, 288, 3), 90, np.uint8) for _ in cams]
    outcome = process_frame(7, images, masks, cams, PrepareConfig(image_size=32), "train", tmp_path)
    assert outcome.status == "written"
    record = json.loads((tmp_path / "sample_000007" / "sample.json").read_text())
    assert "cam_002:triangulation_outlier" in record["flags"]
    assert record["centre_method"] == "hull"
    assert np.linalg.norm(np.asarray(record["centre_mm"]) - centre) < 1.0
    assert record["views"][2]["triangulation_inlier"] is False


def test_process_frame_records_a_skipped_frame(rig, tmp_path):
    cams = [c.resize(96, 80) for c in rig]
    masks = [np.zeros((80, 96), np.uint8) for _ in cams]
    images = [np.zeros((80, 96, 3), np.uint8) for _ in cams]
    outcome = process_frame(3, images, masks, cams, PrepareConfig(image_size=32), "val", tmp_path)
    assert (outcome.status, outcome.reason) == ("skipped", TOO_FEW_VIEWS)
    assert not list(tmp_path.glob("sample_*"))
    skipped = json.loads((tmp_path / "skipped" / "frame_000003.json").read_text())
    assert skipped["reason"] == TOO_FEW_VIEWS and len(skipped["views"]) == 6
