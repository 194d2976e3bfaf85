"""Frame selection, the train/val split by contiguous time blocks, and sharding.

All functions are pure and deterministic: every shard of an array job computes the same selection
and split from the same config, so shards need no coordination.

Split rule: the selected range ``[start, stop)`` of source frames is cut into blocks of
``block_frames`` (shorter, so there are at least ``min_blocks``, for short recordings; the gap
then shrinks in proportion, rounded up). ``round(val_fraction · blocks)`` blocks (at least one when
``val_fraction > 0`` and there are ≥ 2 blocks; never all) spread evenly over the recording are
val, the rest train. Train frames closer than ``gap + 1`` frames to a val block are dropped
(``"gap"``), so no train frame is within ``gap`` frames of any val frame.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .config import PrepareConfig, parse_frames

TRAIN, VAL, GAP = "train", "val", "gap"

_SHARD_PATTERN = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def select_frames(config: PrepareConfig, num_frames: int) -> np.ndarray:
    """Sorted source frame indices chosen by ``frames``, ``every`` and ``num_samples`` (int64)."""
    start, stop = parse_frames(config.frames, num_frames)
    if config.num_samples is not None:
        n = min(config.num_samples, stop - start)
        return np.unique(np.round(np.linspace(start, stop - 1, n)).astype(np.int64))
    return np.arange(start, stop, config.every, dtype=np.int64)


@dataclass(frozen=True)
class SplitPlan:
    """Where each selected frame goes. ``labels[i]`` is ``"train"``, ``"val"`` or ``"gap"`` for
    ``frames[i]``; ``block_frames``/``gap_frames`` are the values actually used; ``val_blocks``
    are the indices of the val blocks, block ``b`` covering ``[start + b·block_frames, …)``."""

    frames: np.ndarray
    labels: np.ndarray
    start: int
    stop: int
    block_frames: int
    gap_frames: int
    num_blocks: int
    val_blocks: tuple[int, ...]

    def label_of(self) -> dict[int, str]:
        return {int(f): str(s) for f, s in zip(self.frames, self.labels, strict=True)}

    def frames_with(self, label: str) -> np.ndarray:
        return self.frames[self.labels == label]


def plan_split(config: PrepareConfig, num_frames: int) -> SplitPlan:
    """Select frames and assign each to train, val or gap (see the module docstring)."""
    start, stop = parse_frames(config.frames, num_frames)
    frames = select_frames(config, num_frames)
    length = stop - start
    block = min(config.block_frames, max(1, length // config.min_blocks))
    gap = config.gap_frames
    if block < config.block_frames:
        gap = math.ceil(config.gap_frames * block / config.block_frames)
    num_blocks = math.ceil(length / block)
    if config.val_fraction > 0 and num_blocks >= 2:
        n_val = min(max(1, round(config.val_fraction * num_blocks)), num_blocks - 1)
        val_blocks = tuple(int((i + 0.5) * num_blocks / n_val) for i in range(n_val))
    else:
        val_blocks = ()
    labels = np.full(frames.shape, TRAIN, dtype=object)
    block_of = (frames - start) // block
    for b in val_blocks:
        lo, hi = start + b * block, min(start + (b + 1) * block, stop)
        labels[(frames >= lo - gap) & (frames < hi + gap) & (labels == TRAIN)] = GAP
    for b in val_blocks:
        labels[block_of == b] = VAL
    return SplitPlan(
        frames=frames,
        labels=labels.astype(str),
        start=start,
        stop=stop,
        block_frames=block,
        gap_frames=gap,
        num_blocks=num_blocks,
        val_blocks=val_blocks,
    )


def parse_shard(value: str | tuple[int, int]) -> tuple[int, int]:
    """``"i/n"`` (or a tuple) → ``(i, n)`` with ``0 ≤ i < n``; ``ValueError`` otherwise."""
    if isinstance(value, str):
        match = _SHARD_PATTERN.match(value)
        if not match:
            raise ValueError(f'shard must look like "i/n" (e.g. "0/4"), got {value!r}')
        index, count = int(match.group(1)), int(match.group(2))
    else:
        index, count = (int(v) for v in value)
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {index}/{count} is invalid: need 0 <= i < n")
    return index, count


def shard_frames(frames: np.ndarray, shard: tuple[int, int]) -> np.ndarray:
    """The ``i``-th of ``n`` contiguous, near-equal parts of ``frames`` (order kept)."""
    index, count = shard
    return np.array_split(np.asarray(frames), count)[index]


def chunks(
    frames: np.ndarray, parts: int, keyframes: np.ndarray | None = None
) -> list[np.ndarray]:
    """``frames`` (sorted) in at most ``parts`` contiguous non-empty chunks (one per worker).

    With ``keyframes`` (sorted frame indices), each boundary between chunks moves to the key frame
    nearest to the even split, when one lies inside the range: a worker then seeks straight to
    its first frame instead of decoding from the previous key frame, so no frame is decoded
    twice. Boundaries that would coincide are merged (fewer, larger chunks).
    """
    frames = np.asarray(frames)
    parts = max(1, min(parts, len(frames)))
    even = [c for c in np.array_split(frames, parts) if len(c)]
    if keyframes is None or len(even) < 2:
        return even
    inner = np.asarray(keyframes)
    inner = inner[(inner > frames[0]) & (inner <= frames[-1])]
    if not len(inner):
        return even
    cuts = []
    for chunk in even[1:]:
        nearest = inner[int(np.argmin(np.abs(inner - chunk[0])))]
        cuts.append(int(np.searchsorted(frames, nearest)))
    return [c for c in np.split(frames, sorted(set(cuts))) if len(c)]


__all__ = [
    "GAP",
    "TRAIN",
    "VAL",
    "SplitPlan",
    "chunks",
    "parse_shard",
    "plan_split",
    "select_frames",
    "shard_frames",
]
