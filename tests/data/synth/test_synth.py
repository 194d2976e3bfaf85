"""Tests of the synthetic recording generator (``mouselift.data.synth``).

The heavy checks use one tiny recording (6 frames at 1/8 resolution, 144×128 px, 2 held-out
cameras) rendered once per module; the default configuration is only simulated, not rendered.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from mouselift.cameras.mammal import read_mammal_pkl
from mouselift.config.base import load_config
from mouselift.data.calibrations import builtin_calibration
from mouselift.data.synth import (
    MouseState,
    Renderer,
    Scene,
    SynthConfig,
    build_parts,
    eval_cameras,
    load_ground_truth,
    render_frame,
    rig_cameras,
    scene_for,
    simulate,
    surface_points,
    synthesize,
)
from mouselift.data.synth import writer as synth_writer
from mouselift.data.video import VideoReader, probe_video
from mouselift.errors import ConfigError, MouseliftError, RecordingError

TINY = SynthConfig(frames=6, scale=0.125, seed=3, eval_cameras=2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "rec"
    result = synthesize(out, TINY, progress=False)
    assert result.out_dir == out and result.num_frames == TINY.frames
    assert len(result.cameras) == 6 and len(result.eval_cameras) == TINY.eval_cameras
    assert result.clipped_views == int(load_ground_truth(out).clipped.sum())
    assert "6 cameras + 2 held-out" in result.format() and "\n" not in result.format()
    return out


@pytest.fixture(scope="module")
def renders() -> dict[tuple[int, int], object]:
    """Fresh renders of every (frame, rig camera) of the tiny recording."""
    trajectory = simulate(TINY)
    scene = scene_for(TINY)
    out = {}
    for k, cam in enumerate(rig_cameras(TINY)):
        renderer = Renderer(cam, scene, supersample=TINY.supersample)
        for f in range(TINY.frames):
            out[f, k] = renderer.render(build_parts(trajectory.state(f)))
    return out


def _decode(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame for _, frame in reader]


def _inside_image(uv: np.ndarray, width: int, height: int) -> np.ndarray:
    return (
        (uv[:, 0] > -0.5) & (uv[:, 0] < width - 0.5) & (uv[:, 1] > -0.5) & (uv[:, 1] < height - 0.5)
    )


# ----------------------------------------------------------------------------------- config
def test_config_validation_and_sizes():
    assert SynthConfig().image_size() == (576, 512)
    assert TINY.image_size() == (144, 128)
    assert SynthConfig(scale=0.3).image_size() == (346, 308)  # rounded to even sides
    with pytest.raises(ValueError):
        SynthConfig(speed_mm_s=(100.0, 50.0))
    with pytest.raises(ValueError):
        SynthConfig(eval_elevation_deg=(40.0, 10.0))
    with pytest.raises(ConfigError, match="unknown config key 'frame'"):
        load_config(SynthConfig, "synth", overrides={"frame": 3})
    assert load_config(SynthConfig, "synth", overrides={"frames": 3}).frames == 3


def _fingerprint(root: Path) -> dict[str, bytes]:
    """Every output file except the JSON description (which echoes the config)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "ground_truth.json"
    }


#: A changed value for every config key; each must change the written recording.
_CHANGES = {
    "frames": 4,
    "fps": 30.0,
    "scale": 0.125,
    "seed": 1,
    "eval_cameras": 2,
    "eval_elevation_deg": (25.0, 30.0),
    "crf": 35,
    "mask_crf": 10,
    "keyframe_interval": 1,
    "supersample": 1,
    "mouse_length_mm": 80.0,
    "arena_center_mm": (40.0, 70.0),
    "arena_radius_mm": 60.0,
    "speed_mm_s": (10.0, 20.0),
    "edge_probability": 0.0,
    "max_turn_rate_deg_s": 5.0,
    "max_bend_deg": 10.0,
    "surface_points": 300,
}


def test_every_config_key_changes_the_output(tmp_path: Path):
    assert set(_CHANGES) == set(SynthConfig.model_fields)
    base = SynthConfig(frames=3, scale=0.0625, eval_cameras=1, edge_probability=1.0)
    reference = _fingerprint(synthesize(tmp_path / "base", base, progress=False).out_dir)
    for key, value in _CHANGES.items():
        out = synthesize(tmp_path / key, base.model_copy(update={key: value}), progress=False)
        assert _fingerprint(out.out_dir) != reference, key


def test_render_frame_defaults_match_the_default_config():
    assert Scene() == scene_for(SynthConfig())
    assert MouseState(0.0, 0.0, 0.0).length_mm == SynthConfig().mouse_length_mm


# ----------------------------------------------------------------------------------- layout
def test_layout_videos_probe(tiny: Path):
    width, height = TINY.image_size()
    for root, count in ((tiny, 6), (tiny / "eval", TINY.eval_cameras)):
        for sub in ("videos_undist", "simpleclick_undist"):
            names = sorted(p.name for p in (root / sub).iterdir())
            assert names == sorted(f"{k}.mp4" for k in range(count))
            for k in range(count):
                info = probe_video(root / sub / f"{k}.mp4")
                assert (info.width, info.height) == (width, height)
                assert info.num_frames == TINY.frames
                assert info.fps == pytest.approx(TINY.fps)
                assert info.codec == "h264"
    top = sorted(p.name for p in tiny.iterdir())
    assert top == sorted(
        [
            "eval",
            "ground_truth.json",
            "ground_truth.npz",
            "new_cam.pkl",
            "simpleclick_undist",
            "videos_undist",
        ]
    )
    assert not list(tiny.parent.glob("*.partial*"))


def test_calibration_pickle_is_scaled_builtin_rig(tiny: Path):
    width, height = TINY.image_size()
    cams = read_mammal_pkl(tiny / "new_cam.pkl")
    builtin = builtin_calibration("markerless_mouse_1")
    assert len(cams) == 6
    for cam, ref in zip(cams, builtin, strict=True):
        assert cam.allclose(ref.resize(width, height))
        assert cam.fx == pytest.approx(ref.fx * 0.125)
        assert np.allclose(cam.w2c, ref.w2c)
    with open(tiny / "new_cam.pkl", "rb") as f:
        raw = pickle.load(f)
    assert isinstance(raw, list) and len(raw) == 6
    assert set(raw[0]) == {"K", "R", "T", "mapx", "mapy"}
    assert raw[0]["T"].shape == (3,) and raw[0]["mapx"].shape == (height, width)


def test_eval_cameras_are_separate_and_look_at_the_arena(tiny: Path):
    held_out = read_mammal_pkl(tiny / "eval" / "new_cam.pkl")
    assert len(held_out) == TINY.eval_cameras
    assert all(a.allclose(b) for a, b in zip(held_out, eval_cameras(TINY), strict=True))
    rig = rig_cameras(TINY)
    rig_ks = [c.K for c in rig]
    target = np.array([*TINY.arena_center_mm, 20.0])
    rig_dist = [np.linalg.norm(c.center - target) for c in rig]
    for cam in held_out:
        assert min(np.linalg.norm(cam.center - r.center) for r in rig) > 10.0
        offset = cam.center - target
        elevation = math.degrees(math.asin(offset[2] / np.linalg.norm(offset)))
        assert 10.0 <= elevation <= 40.0
        assert min(rig_dist) - 1e-6 <= np.linalg.norm(offset) <= max(rig_dist) + 1e-6
        assert any(np.allclose(cam.K, k) for k in rig_ks)  # same intrinsics style
        # The target lies on the optical axis: it projects onto the principal point.
        assert np.allclose(cam.project(target[None])[0], [cam.cx, cam.cy], atol=1e-6)
        # No roll: the image x axis is horizontal.
        assert abs(cam.R[0, 2]) < 1e-9
    assert not held_out[0].allclose(held_out[1])
    gt = load_ground_truth(tiny)
    assert gt.eval_clipped.shape == (TINY.frames, TINY.eval_cameras)


# ----------------------------------------------------------------------------------- content
def test_mask_videos_agree_with_render_and_are_lossy(tiny: Path, renders):
    gt = load_ground_truth(tiny)
    nonbinary = 0
    for k in range(6):
        decoded = _decode(tiny / "simpleclick_undist" / f"{k}.mp4")
        for f, frame in enumerate(decoded):
            assert np.abs(frame.astype(int) - frame[..., :1].astype(int)).max() <= 3  # grey
            nonbinary += int(np.sum((frame > 8) & (frame < 247)))
            mask = frame[..., 0] > 127
            rendered = renders[f, k].coverage > 0  # the mask video marks every touched pixel
            union = np.sum(mask | rendered)
            assert union > 0
            assert np.sum(mask & rendered) / union > 0.95, (f, k)
            assert gt.clipped[f, k] == renders[f, k].clipped
    assert nonbinary > 0  # lossy like the real SimpleClick videos


def test_rgb_videos_match_render(tiny: Path, renders):
    for k in range(6):
        for f, frame in enumerate(_decode(tiny / "videos_undist" / f"{k}.mp4")):
            expected = renders[f, k].rgb
            assert np.abs(frame.astype(int) - expected).mean() < 4.0
            # The mouse differs from the floor it stands on.
            mask = renders[f, k].mask
            if mask.sum() > 20:
                assert np.abs(expected[mask].mean(0) - expected[~mask].mean(0)).max() > 20


def test_surface_points_project_into_the_mask(tiny: Path, renders):
    """GT and renderer agree: every surface point lies on the silhouette (within the pixel
    discretisation), and the projected points cover the silhouette."""
    gt = load_ground_truth(tiny)
    cams = rig_cameras(TINY)
    for (f, k), result in renders.items():
        cam = cams[k]
        uv = cam.project(gt.surface_points[f].astype(np.float64))
        inside = _inside_image(uv, cam.width, cam.height)
        if inside.sum() < 50:
            continue
        px = np.round(uv[inside]).astype(int)
        in_mask = result.mask[px[:, 1], px[:, 0]]
        # Points on the outline round to a pixel whose centre may be just outside the mouse.
        assert in_mask.mean() >= 0.9, (f, k, in_mask.mean())
        grown = ndimage.binary_dilation(result.mask, np.ones((3, 3), dtype=bool))
        assert grown[px[:, 1], px[:, 0]].mean() >= 0.995, (f, k)
        if not result.clipped:
            hit = np.zeros_like(result.mask)
            hit[px[:, 1], px[:, 0]] = True
            near = ndimage.distance_transform_edt(~hit) <= 1.5
            assert near[result.mask].mean() >= 0.97, (f, k)


def test_surface_points_in_mask_at_default_resolution():
    """At the default half resolution the outline is a smaller share of the silhouette: at least
    96 % of the points round to a mask pixel in every view (measured 97–99 %)."""
    state = MouseState(x=60.0, y=62.0, heading=0.6, bend=0.6, tail_wag=0.3)
    parts = build_parts(state)
    pts = surface_points(parts, 2000).astype(np.float64)
    for cam in rig_cameras(SynthConfig()):
        result = Renderer(cam, scene_for(SynthConfig())).render(parts)
        uv = cam.project(pts)
        px = np.round(uv[_inside_image(uv, cam.width, cam.height)]).astype(int)
        assert len(px) > 1000
        assert result.mask[px[:, 1], px[:, 0]].mean() >= 0.96, cam.name


def test_mask_centroid_near_projected_centre(tiny: Path, renders):
    """The silhouette centroid is an area centroid, not the volume centroid: the thin 80 mm tail
    (a tenth of the silhouette area, far from the body) and perspective move it by about 3 mm
    typically and by up to 15 mm in the worst views of the default clip (measured). So: median
    < 5 mm, every unclipped view < 15 mm, measured at the centre's depth (px = mm · fx / z)."""
    gt = load_ground_truth(tiny)
    cams = rig_cameras(TINY)
    errors = []
    for (f, k), result in renders.items():
        if result.clipped:
            continue
        rows, cols = np.nonzero(result.mask)
        centroid = np.array([cols.mean(), rows.mean()])
        uv, z = cams[k].project(gt.centers[f][None], return_depth=True)
        errors.append(np.linalg.norm(centroid - uv[0]) * z[0] / cams[k].fx)
    assert len(errors) >= 10
    assert np.median(errors) < 5.0
    assert max(errors) < 15.0


def test_ground_truth_contents(tiny: Path):
    gt = load_ground_truth(tiny)
    trajectory = simulate(TINY)
    f_count = TINY.frames
    assert gt.centers.shape == (f_count, 3) and gt.centers.dtype == np.float64
    assert gt.headings.shape == (f_count,) and gt.surface_points.dtype == np.float32
    assert gt.surface_points.shape == (f_count, TINY.surface_points, 3)
    assert np.array_equal(gt.frame_indices, np.arange(f_count))
    assert gt.clipped.shape == (f_count, 6)
    for f in range(f_count):
        parts = build_parts(trajectory.state(f))
        assert np.allclose(gt.centers[f], parts.center())
        nose = parts.centers[parts.index("nose")]
        tail_base = parts.centers[parts.index("tail_00")]
        direction = nose[:2] - tail_base[:2]
        # heading = direction tail base → nose (the tail's first segment starts at the tail base).
        assert (
            abs(math.remainder(math.atan2(direction[1], direction[0]) - gt.headings[f], math.tau))
            < 0.12
        )
        assert 12.0 < gt.centers[f, 2] < 24.0  # body centre height as in the real recording
        pts = gt.surface_points[f]
        assert -0.01 < pts[:, 2].min() < 0.6  # feet on the floor
        # Outer surface: no point is deep inside any part (float32 storage → small tolerance).
        depth_inside = np.zeros(len(pts))
        for j in range(len(parts)):
            local = (pts - parts.centers[j]) @ parts.rotations[j] / parts.radii[j]
            depth_inside = np.maximum(depth_inside, 1.0 - np.einsum("ij,ij->i", local, local))
        assert depth_inside.max() < 1e-3
    assert gt.info["seed"] == TINY.seed and gt.info["config"] == TINY.model_dump(mode="json")
    assert gt.info["units"] == {"length": "mm", "angle": "rad"}


def test_render_frame_depth_lies_on_the_surface():
    cam = rig_cameras(SynthConfig(scale=0.125))[2]
    state = MouseState(x=60.0, y=55.0, heading=0.4, bend=0.5, tail_wag=0.2)
    rgb, mask, depth = render_frame(state, cam, supersample=1)
    assert rgb.shape == (cam.height, cam.width, 3) and rgb.dtype == np.uint8
    assert mask.dtype == bool and depth.dtype == np.float32
    assert 100 < mask.sum() < mask.size // 4
    assert np.array_equal(np.isfinite(depth), mask)
    rows, cols = np.nonzero(mask)
    points = cam.unproject(
        np.stack([cols, rows], axis=1).astype(np.float64), depth[mask].astype(np.float64)
    )
    parts = build_parts(state)
    # Each unprojected pixel lies on an ellipsoid (|u| = 1 in its unit-sphere frame), inside none.
    level = np.full(len(points), np.inf)
    for j in range(len(parts)):
        local = (points - parts.centers[j]) @ parts.rotations[j] / parts.radii[j]
        level = np.minimum(level, np.einsum("ij,ij->i", local, local))
    assert np.abs(level - 1.0).max() < 2e-3
    # Pixels off the mouse show the cached floor exactly where no shadow falls.
    renderer = Renderer(cam, scene_for(SynthConfig()), supersample=1)
    assert np.array_equal(renderer.render(parts).rgb[0], renderer.background_u8[0])


@pytest.mark.parametrize("bend", [-1.2, 0.0, 0.7])
@pytest.mark.parametrize("length", [60.0, 95.0, 130.0])
def test_mouse_stands_on_the_floor(bend: float, length: float):
    parts = build_parts(
        MouseState(x=10.0, y=-5.0, heading=2.0, bend=bend, tail_wag=0.4, length_mm=length)
    )
    lowest = parts.centers[:, 2] - np.linalg.norm(parts.rotations[:, 2, :] * parts.radii, axis=1)
    assert lowest.min() == pytest.approx(0.0, abs=1e-9)  # feet touch z = 0, nothing goes below
    nose = (
        parts.centers[parts.index("nose")]
        + parts.rotations[parts.index("nose")][:, 0] * parts.radii[parts.index("nose"), 0]
    )
    hips = (
        parts.centers[parts.index("hips")]
        - parts.rotations[parts.index("hips")][:, 0] * parts.radii[parts.index("hips"), 0]
    )
    # Nose tip to the back of the hips ≈ the configured nose-to-tail-base length.
    assert np.linalg.norm(nose[:2] - hips[:2]) == pytest.approx(length, rel=0.12)


# ----------------------------------------------------------------------------------- motion
def test_default_clip_has_clipped_views_and_walk_stays_in_arena():
    config = SynthConfig()
    trajectory = simulate(config)
    cams = rig_cameras(config)
    clipped = np.zeros((config.frames, len(cams)), dtype=bool)
    for f in range(0, config.frames, 3):
        pts = surface_points(build_parts(trajectory.state(f)), 400).astype(np.float64)
        for k, cam in enumerate(cams):
            clipped[f, k] = not _inside_image(cam.project(pts), cam.width, cam.height).all()
    assert clipped.any()
    assert not clipped.all()
    # A longer walk wanders over the arena and reaches its edge without leaving it.
    long = simulate(SynthConfig(frames=3000))
    radius = np.hypot(long.x - 55.0, long.y - 60.0)
    assert radius.max() <= config.arena_radius_mm + 1e-9
    assert radius.max() > 0.9 * config.arena_radius_mm
    speed = np.hypot(np.diff(long.x), np.diff(long.y)) * config.fps
    assert speed.max() < config.speed_mm_s[1] * 1.05
    assert np.ptp(np.unwrap(long.heading)) > math.pi
    assert np.abs(long.bend).max() > math.radians(20) and np.abs(long.bend).max() <= math.radians(
        70
    )


def test_determinism(tiny: Path, tmp_path: Path):
    again = tmp_path / "again"
    synthesize(again, TINY, progress=False)
    files = sorted(p.relative_to(tiny).as_posix() for p in tiny.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    assert "eval/videos_undist/1.mp4" in files and "ground_truth.npz" in files
    # Every file byte for byte, all videos included: VideoWriter's x264 settings make encoding
    # deterministic whatever the load on the machine (mbtree off; see VideoWriter).
    for name in files:
        assert (tiny / name).read_bytes() == (again / name).read_bytes(), name
    other = simulate(TINY.model_copy(update={"seed": 4}))
    same = simulate(TINY)
    assert not np.allclose(other.x, same.x)
    assert not eval_cameras(TINY.model_copy(update={"seed": 4}))[0].allclose(eval_cameras(TINY)[0])
    first = render_frame(same.state(0), rig_cameras(TINY)[0])
    second = render_frame(same.state(0), rig_cameras(TINY)[0])
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


# ----------------------------------------------------------------------------------- safety
def test_refuses_non_empty_directory_and_overwrites_on_request(tmp_path: Path):
    out = tmp_path / "rec"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    small = SynthConfig(frames=1, scale=0.0625)
    with pytest.raises(MouseliftError) as info:
        synthesize(out, small, progress=False)
    assert "\n" not in str(info.value) and str(out) in str(info.value)
    result = synthesize(out, small, progress=False, overwrite=True)
    assert not (out / "keep.txt").exists()
    assert probe_video(out / "videos_undist" / "0.mp4").num_frames == 1
    assert result.eval_cameras == [] and not (out / "eval").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec"]


def test_interrupted_run_leaves_nothing(tmp_path: Path, monkeypatch):
    calls = {"n": 0}
    original = synth_writer.Renderer.render

    def failing(self, parts):
        calls["n"] += 1
        if calls["n"] > 8:
            raise KeyboardInterrupt
        return original(self, parts)

    monkeypatch.setattr(synth_writer.Renderer, "render", failing)
    with pytest.raises(KeyboardInterrupt):
        synthesize(tmp_path / "rec", SynthConfig(frames=3, scale=0.0625), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_load_ground_truth_errors(tmp_path: Path):
    with pytest.raises(RecordingError, match="ground-truth file not found"):
        load_ground_truth(tmp_path)
