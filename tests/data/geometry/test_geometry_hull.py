"""Geometry targets from the visual hull: depth maps of an analytic ellipsoid seen by a synthetic
rig against the exact ray–ellipsoid intersections, and the on-disk format."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import binary_erosion

from mouselift.cameras import Camera, look_at
from mouselift.data.framing.crops import crop_sphere_radius
from mouselift.data.geometry import (
    hull_targets,
    read_depth,
    read_geometry_info,
    surface_voxels,
    voxel_depth,
    write_geometry,
)
from mouselift.data.sample import SampleError, SampleViews

AXES = np.array([0.35, 0.18, 0.15])  # the ellipsoid's semi-axes, world units
SIZE = 64
SPHERE = 0.45  # the crop sphere: every view just holds it


def rig(elevations=(-35.0, 5.0, 45.0), azimuths=8) -> list[Camera]:
    """Cameras 2.7 from the origin looking at it, the crop sphere just filling each image."""
    focal = (SIZE / 2) / math.tan(math.asin(SPHERE / 2.7))
    K = np.array([[focal, 0, (SIZE - 1) / 2], [0, focal, (SIZE - 1) / 2], [0, 0, 1]])
    cams = []
    for elevation in elevations:
        for k in range(azimuths):
            a, e = math.radians(360 * k / azimuths + 11 * elevation), math.radians(elevation)
            eye = 2.7 * np.array([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a),
                                  math.sin(e)])
            cams.append(Camera(K, look_at(eye, [0.0, 0.0, 0.0]), SIZE, SIZE,
                               name=f"cam_{len(cams):03d}"))
    return cams


def exact_depth(camera: Camera) -> np.ndarray:
    """Camera-frame z of the first ray–ellipsoid intersection per pixel, 0 where the ray misses."""
    v, u = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    pix = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(camera.K).T  # z = 1
    c2w = np.linalg.inv(camera.w2c)
    d = pix @ c2w[:3, :3].T
    o = np.broadcast_to(c2w[:3, 3], d.shape)
    lo, ld = o / AXES, d / AXES
    a, b, c = (ld * ld).sum(-1), 2 * (lo * ld).sum(-1), (lo * lo).sum(-1) - 1
    disc = b * b - 4 * a * c
    t = (-b - np.sqrt(np.clip(disc, 0, None))) / (2 * a)  # along d, whose camera z is 1
    return np.where(disc > 0, t, 0.0)


def views_of(cameras: list[Camera]) -> SampleViews:
    rgba = torch.zeros(len(cameras), SIZE, SIZE, 4)
    for k, cam in enumerate(cameras):
        rgba[k, ..., :3] = 0.5
        rgba[k, ..., 3] = torch.from_numpy(exact_depth(cam) > 0).float()
    return SampleViews(rgba, cameras, [f"images/{c.name}.png" for c in cameras])


@pytest.fixture(scope="module")
def ellipsoid_targets():
    cams = rig()
    views = views_of(cams[:-3])
    held_out = views_of(cams[-3:])
    return views, held_out, hull_targets(views, held_out=held_out, voxel_px=1.0)


def test_hull_depth_equals_the_ray_ellipsoid_intersection_within_a_voxel(ellipsoid_targets):
    views, held_out, targets = ellipsoid_targets
    assert targets.num_voxels > 1000 and len(targets.carving) == len(views)
    errors = []
    # held-out views: the same hull, never carved with
    for group, maps in ((views, targets.depths), (held_out, targets.held_out)):
        for name, cam in zip(group.view_names, group.cameras, strict=True):
            truth = exact_depth(cam)
            depth = maps[name]
            both = (truth > 0) & (depth > 0)
            assert both.sum() > 0.95 * (truth > 0).sum(), name  # the mask gets depth
            assert not (depth[truth == 0] > 0).any()  # nothing outside the mask
            # away from the silhouette (where rays graze the surface, a sub-pixel shift is a
            # large change of depth), in voxels
            inner = binary_erosion(truth > 0, iterations=2) & both
            err = (depth[inner] - truth[inner]) / targets.voxel
            assert err.max() < 1.5, name  # a voxel is kept by its centre: never far behind
            errors.append(err)
    err = np.abs(np.concatenate(errors))
    # the hull of 21 views holds the ellipsoid, a little larger between the views (in front)
    assert np.median(err) < 0.5 and np.quantile(err, 0.9) < 1.0


def test_voxel_depth_of_one_voxel_by_hand():
    cam = rig()[0]
    step = 0.05
    depth = voxel_depth(np.zeros((1, 3)), step, cam)
    z = 2.7 - step / 2  # the voxel's front, seen from the camera 2.7 away
    centre = np.unravel_index(np.argmax(depth), depth.shape)
    assert depth[centre] == pytest.approx(z, abs=1e-6)
    # it covers the pixels within its bounding sphere's projection, nothing else
    reach = 0.5 * math.sqrt(3) * step * cam.K[0, 0] / 2.7
    v, u = np.mgrid[:SIZE, :SIZE]
    uv = cam.project(np.zeros((1, 3)))[0]
    inside = (u - uv[0]) ** 2 + (v - uv[1]) ** 2 <= reach**2
    assert ((depth > 0) == inside).all()


def test_surface_voxels_drop_the_hidden_ones():
    r = np.arange(5) * 0.1
    cube = np.stack(np.meshgrid(r, r, r, indexing="ij"), axis=-1).reshape(-1, 3)
    shell = surface_voxels(cube, 0.1)
    assert len(shell) == 5**3 - 3**3


def test_crop_sphere_radius_is_what_each_crop_holds():
    assert crop_sphere_radius(views_of(rig()[:2]).cameras) == pytest.approx(SPHERE, rel=1e-9)


def test_prepare_rules_decide_which_views_carve():
    cams = rig()[:6]
    views = views_of(cams)
    record = {"views": [{"file_path": f"images/{c.name}.png", "hull_view": k != 1,
                         "clipped": k in (2, 4), "clipped_in_source": k in (2, 5),
                         "touches_border": k == 3} for k, c in enumerate(cams)]}
    targets = hull_targets(views, record=record, voxel_px=2.0)
    # 1: not in prepare's hull; 2: its crop runs past the source where the mouse is cut
    assert targets.carving == ["cam_000", "cam_003", "cam_004", "cam_005"]
    assert targets.partial == ["cam_003", "cam_005"]
    with pytest.raises(ValueError, match="no view may carve"):
        hull_targets(views, record={"views": [{"file_path": f"images/{c.name}.png",
                                               "hull_view": False} for c in cams]})


def test_files_round_trip_to_a_tenth_of_a_depth_unit(ellipsoid_targets, tmp_path):
    views, held_out, targets = ellipsoid_targets
    folder = write_geometry(tmp_path, targets.depths, targets.held_out, targets.describe())
    assert sorted(p.name for p in folder.glob("*.png")) == sorted(
        f"{n}.png" for n in views.view_names)
    name = views.view_names[0]
    back = read_depth(tmp_path, name)
    assert back.dtype == np.float32 and back.shape == (SIZE, SIZE)
    np.testing.assert_allclose(back, targets.depths[name], atol=0.51e-4)
    assert (back == 0).sum() == (targets.depths[name] == 0).sum()
    assert read_depth(tmp_path, held_out.view_names[0], held_out=True) is not None
    assert read_depth(tmp_path, "cam_999") is None
    info = read_geometry_info(tmp_path)
    assert info["source"] == "hull" and info["depth_unit"] == 1e-4
    assert info["held_out_views"] == sorted(held_out.view_names)
    assert info["num_voxels"] == targets.num_voxels
    with pytest.raises(SampleError, match="mouselift geometry"):
        read_geometry_info(tmp_path / "other")
