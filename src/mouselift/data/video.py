"""Video reading and writing with PyAV.

Reading decodes sequentially: at most one seek at the start of a range, then frame after frame,
so a long recording costs one pass of the decoder. Frame indices are 0-based and derived from
presentation timestamps, so a seek that lands on an earlier key frame is corrected exactly.
Writing goes to a temporary file that is renamed into place when the writer closes cleanly; a
crash leaves no truncated video under the final name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import RecordingError

#: Output formats understood by :class:`VideoReader`: RGB (H, W, 3) or single-channel (H, W).
PIXEL_FORMATS = ("rgb24", "gray")


@dataclass(frozen=True)
class VideoInfo:
    """Basic facts about a video stream: size in pixels, frame rate, number of frames."""

    path: Path
    width: int
    height: int
    fps: float
    num_frames: int
    codec: str


def _open(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise RecordingError(f"{path}: video file not found")
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise RecordingError(
            f"{path}: cannot open video ({exc.__class__.__name__}: {exc})"
        ) from None
    if not container.streams.video:
        container.close()
        raise RecordingError(f"{path}: file has no video stream")
    return container


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read size, frame rate and frame count of the first video stream of ``path``.

    The frame count comes from the container when it records one, otherwise from counting packets
    (no decoding).
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise RecordingError(f"{path}: video has no frame rate")
        num_frames = int(stream.frames or 0)
        if num_frames <= 0:
            try:
                num_frames = sum(1 for p in container.demux(stream) if p.size > 0)
            except av.error.FFmpegError as exc:
                raise RecordingError(f"{path}: corrupt video ({exc})") from None
        if stream.codec_context.width <= 0 or stream.codec_context.height <= 0:
            raise RecordingError(f"{path}: video has no valid frame size")
        return VideoInfo(
            path=path,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            fps=float(rate),
            num_frames=num_frames,
            codec=stream.codec_context.name,
        )
    finally:
        container.close()


def keyframe_indices(path: str | os.PathLike) -> np.ndarray:
    """Sorted 0-based indices of the key frames of ``path`` (packets are read, nothing decoded).

    A decoder seeks to the key frame at or before a wanted frame, so work split at key frames
    decodes every frame exactly once.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        t0 = stream.start_time or 0
        found = []
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts is not None and rate and stream.time_base:
                found.append(round(float((packet.pts - t0) * stream.time_base * Fraction(rate))))
    except av.error.FFmpegError as exc:
        raise RecordingError(f"{path}: corrupt video ({exc})") from None
    finally:
        container.close()
    return np.unique(np.asarray(found, dtype=np.int64))


class VideoReader:
    """Decode frames ``start, start+1, …, stop−1`` of a video in order.

    Iterating yields ``(frame_index, array)`` where the array is uint8 (H, W, 3) for ``"rgb24"`` or
    (H, W) for ``"gray"`` (full-range luma). ``wanted`` optionally restricts which frames are
    converted to arrays; the others are still decoded (inter-frame coding needs them) but skipped
    cheaply and not yielded. Use as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        start: int = 0,
        stop: int | None = None,
        pixel_format: str = "rgb24",
        threads: int = 0,
    ) -> None:
        if pixel_format not in PIXEL_FORMATS:
            raise ValueError(f"pixel_format must be one of {PIXEL_FORMATS}, got {pixel_format!r}")
        self.path = Path(path)
        self.start = max(0, int(start))
        self.stop = None if stop is None else int(stop)
        self.pixel_format = pixel_format
        self._container = _open(self.path)
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        if threads:
            self._stream.codec_context.thread_count = threads
        rate = self._stream.average_rate or self._stream.guessed_rate or self._stream.base_rate
        self._rate = Fraction(rate) if rate else None
        self._time_base = self._stream.time_base
        self._t0 = self._stream.start_time or 0

    def _index_of(self, frame: av.VideoFrame, fallback: int) -> int:
        if frame.pts is None or self._rate is None or self._time_base is None:
            return fallback
        return round(float((frame.pts - self._t0) * self._time_base * self._rate))

    def _seek_to_start(self) -> None:
        if self.start == 0 or self._rate is None or self._time_base is None:
            return
        target = self._t0 + int(Fraction(self.start) / self._rate / self._time_base)
        try:
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            self._container.seek(0)

    def frames(self, wanted: set[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, array)`` for frames in ``[start, stop)`` (and in ``wanted`` if given)."""
        self._seek_to_start()
        counter = -1
        try:
            for frame in self._container.decode(self._stream):
                counter += 1
                index = self._index_of(frame, counter)
                if index < self.start:
                    continue
                if self.stop is not None and index >= self.stop:
                    return
                if wanted is not None and index not in wanted:
                    continue
                yield index, frame.to_ndarray(format=self.pixel_format)
        except av.error.FFmpegError as exc:
            raise RecordingError(f"{self.path}: corrupt video, decoding failed ({exc})") from None

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return self.frames()

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoWriter:
    """Encode uint8 RGB frames (H, W, 3) to an MP4 (H.264, yuv420p) atomically.

    Frames go to the hidden ``.<name>.partial.mp4`` beside the target (never mistaken for a
    result); :meth:`close` after a clean exit renames it to ``path``. ``crf`` sets quality
    (lower is better, 18 is visually lossless); ``keyframe_interval`` the largest distance
    between key frames (encoder default: 250). Width and height must be even for yuv420p.

    The same frames always give the same file: x264's macroblock-tree rate control is switched off
    (``mbtree=0``). With it on, the x264 build in PyAV's wheels (core 165) reads uninitialised
    memory, so the bitstream and the decoded pixels of identical input frames changed from run to
    run (synthetic recordings were not reproducible; more often on a busy machine). x264's own
    frame threading is deterministic for a given thread count and stays on.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: float,
        width: int,
        height: int,
        crf: int = 18,
        codec: str = "libx264",
        preset: str = "veryfast",
        keyframe_interval: int | None = None,
    ) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"H.264 with yuv420p needs even frame sizes, got {width}×{height}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._container = av.open(str(self._partial), mode="w")
        self._stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self._stream.width = width
        self._stream.height = height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": preset}
        if codec == "libx264":
            self._stream.options["x264-params"] = "mbtree=0"  # see the class docstring
        if keyframe_interval is not None:
            self._stream.options["g"] = str(int(keyframe_interval))
        self._closed = False
        self.frames_written = 0

    def write(self, image: np.ndarray) -> None:
        """Append one frame: uint8 array (H, W, 3) RGB, or (H, W) gray (replicated to RGB)."""
        img = np.asarray(image)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.dtype != np.uint8 or img.shape != (self._stream.height, self._stream.width, 3):
            raise ValueError(
                f"frame must be uint8 ({self._stream.height}, {self._stream.width}, 3), "
                f"got {img.dtype} {img.shape}"
            )
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def close(self, *, commit: bool = True) -> None:
        """Flush and close; rename into place when ``commit``, else delete the partial file."""
        if self._closed:
            return
        self._closed = True
        try:
            if commit:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        finally:
            self._container.close()
        if commit:
            os.replace(self._partial, self.path)
        else:
            self._partial.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(commit=exc_type is None)
