"""Frame selection, train/val split by time blocks, sharding and config validation."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from mouselift.config.base import load_config
from mouselift.data.prepare.config import PrepareConfig, parse_frames
from mouselift.data.prepare.split import (
    GAP,
    TRAIN,
    VAL,
    chunks,
    parse_shard,
    plan_split,
    select_frames,
    shard_frames,
)
from mouselift.errors import ConfigError


# ------------------------------------------------------------------------------ selection
def test_frames_range_and_every():
    cfg = PrepareConfig(frames="10:50", every=5)
    np.testing.assert_array_equal(select_frames(cfg, 100), np.arange(10, 50, 5))
    assert select_frames(PrepareConfig(frames="95:"), 100).tolist() == [95, 96, 97, 98, 99]
    assert select_frames(PrepareConfig(frames=":3"), 100).tolist() == [0, 1, 2]
    assert select_frames(PrepareConfig(frames="90:500"), 100).tolist() == list(range(90, 100))
    assert len(select_frames(PrepareConfig(), 37)) == 37


def test_num_samples_evenly_spaced():
    frames = select_frames(PrepareConfig(num_samples=5), 101)
    assert frames.tolist() == [0, 25, 50, 75, 100]
    frames = select_frames(PrepareConfig(num_samples=7, frames="100:1100"), 18000)
    assert frames[0] == 100 and frames[-1] == 1099 and len(frames) == 7
    steps = np.diff(frames)
    assert steps.max() - steps.min() <= 1
    assert len(select_frames(PrepareConfig(num_samples=50), 10)) == 10  # capped, no duplicates


@pytest.mark.parametrize("bad", ["abc", "5", "1:2:3", "-1:5", "7:3", "4:4"])
def test_bad_frames_pattern_is_rejected(bad):
    with pytest.raises(ValidationError):
        PrepareConfig(frames=bad)


def test_frames_outside_recording():
    with pytest.raises(ValueError, match="starts at 500"):
        parse_frames("500:", 100)
    assert parse_frames(None, 100) == (0, 100)
    assert parse_frames(" 3 : 7 ", 100) == (3, 7)


def test_every_and_num_samples_are_exclusive():
    with pytest.raises(ValidationError, match="either every or num_samples"):
        PrepareConfig(every=2, num_samples=10)


@pytest.mark.parametrize(
    "field_value",
    [("image_size", 0), ("radius_mm", -1.0), ("val_fraction", 1.0), ("val_fraction", -0.1),
     ("min_mask_fraction", 2.0), ("workers", 0), ("png_compress_level", 10), ("min_views", 1)],
)
def test_config_validation(field_value):
    key, value = field_value
    with pytest.raises(ValidationError):
        PrepareConfig(**{key: value})


def test_presets_load_and_cover_every_key():
    default = load_config(PrepareConfig, "prepare", "default")
    assert default == PrepareConfig()
    tiny = load_config(PrepareConfig, "prepare", "tiny")
    assert tiny.image_size == 128
    with pytest.raises(ConfigError, match="unknown config key"):
        load_config(PrepareConfig, "prepare", "default", {"normalize_distance_to": 2.7})
    with pytest.raises(ConfigError, match="config key 'size' was renamed 'image_size'"):
        load_config(PrepareConfig, "prepare", "default", {"size": 256})


# ------------------------------------------------------------------------------ split
def _check_split(plan, gap):
    val = plan.frames_with(VAL)
    train = plan.frames_with(TRAIN)
    if len(val) and len(train):
        # distance from every train frame to its nearest val frame (val is sorted)
        i = np.clip(np.searchsorted(val, train), 1, len(val) - 1)
        nearest = np.minimum(np.abs(train - val[i - 1]), np.abs(train - val[i]))
        assert nearest.min() > gap
    return train, val


def test_split_of_a_full_recording():
    cfg = PrepareConfig()
    plan = plan_split(cfg, 18000)
    assert plan.block_frames == 500 and plan.num_blocks == 36 and plan.gap_frames == 50
    assert len(plan.val_blocks) == 4
    train, val = _check_split(plan, 50)
    assert len(val) == 2000
    # Val blocks are whole, contiguous blocks spread over the recording.
    for b in plan.val_blocks:
        block = plan.frames[(plan.frames >= 500 * b) & (plan.frames < 500 * (b + 1))]
        assert np.all(plan.labels[np.isin(plan.frames, block)] == VAL)
    assert min(plan.val_blocks) > 0 and max(plan.val_blocks) < 35
    assert np.all(np.diff(plan.val_blocks) >= 8)
    assert len(plan.frames_with(GAP)) == 4 * 2 * 50
    assert len(train) + len(val) + 400 == 18000
    again = plan_split(cfg, 18000)
    np.testing.assert_array_equal(again.labels, plan.labels)  # deterministic


def test_split_respects_gap_with_sparse_selection():
    cfg = PrepareConfig(every=7, gap_frames=120, val_fraction=0.2)
    plan = plan_split(cfg, 18000)
    _check_split(plan, 120)
    assert 0.15 < len(plan.frames_with(VAL)) / len(plan.frames) < 0.25


def test_split_of_a_short_recording_shrinks_blocks_and_gap():
    plan = plan_split(PrepareConfig(), 60)
    assert plan.block_frames == 6 and plan.num_blocks == 10
    assert plan.gap_frames == 1
    _, val = _check_split(plan, 1)
    assert val.tolist() == [30, 31, 32, 33, 34, 35]
    assert plan.frames_with(GAP).tolist() == [29, 36]


def test_no_val_when_fraction_is_zero():
    plan = plan_split(PrepareConfig(val_fraction=0.0), 1000)
    assert set(plan.labels.tolist()) == {TRAIN}


# ------------------------------------------------------------------------------ shards
def test_parse_shard():
    assert parse_shard("1/2") == (1, 2)
    assert parse_shard((0, 1)) == (0, 1)
    for bad in ("3/2", "2/2", "0/0", "a/b", "1", (-1, 2)):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_shards_partition_frames_contiguously():
    frames = np.arange(3, 103, 2)
    parts = [shard_frames(frames, (i, 3)) for i in range(3)]
    np.testing.assert_array_equal(np.concatenate(parts), frames)
    assert all(len(p) in (16, 17) for p in parts)
    assert [len(c) for c in chunks(np.arange(5), 8)] == [1, 1, 1, 1, 1]
    assert [len(c) for c in chunks(np.arange(10), 2)] == [5, 5]


def test_chunks_move_boundaries_to_key_frames():
    frames = np.arange(0, 80)
    assert [len(c) for c in chunks(frames, 2)] == [40, 40]
    # Key frame at 50 nearest to the even boundary 40: the second worker starts there.
    parts = chunks(frames, 2, keyframes=np.array([0, 50]))
    assert [int(c[0]) for c in parts] == [0, 50] and sum(map(len, parts)) == 80
    # No key frame inside the range: the even split stays.
    assert [len(c) for c in chunks(frames, 2, keyframes=np.array([0]))] == [40, 40]
    # Two boundaries snapping to the same key frame merge into one.
    merged = chunks(np.arange(0, 90), 3, keyframes=np.array([0, 45]))
    assert [int(c[0]) for c in merged] == [0, 45]
    # Sparse selections: boundaries fall on selected frames at or after the key frame.
    sparse = chunks(np.arange(0, 100, 7), 2, keyframes=np.array([0, 50]))
    assert int(sparse[1][0]) == 56 and np.concatenate(sparse).tolist() == list(range(0, 100, 7))
