"""A multi-camera mouse recording in MAMMAL's ``markerless_mouse_1_nerf/`` layout.

Layout of a recording folder ``root``::

    root/videos_undist/{k}.mp4       RGB video of camera k (already undistorted), k = 0..C-1
    root/simpleclick_undist/{k}.mp4  mask video of camera k, white = mouse (lossy: soft values)
    root/new_cam.pkl                 calibration: list (or dict keyed 0..C-1) of dicts K, R, T,
                                     optional mapx/mapy; world in mm, Z up (see
                                     :mod:`mouselift.cameras.mammal`)

:meth:`Recording.open` checks everything that can be checked without decoding (files present,
camera count, sizes, frame counts, frame rates, calibration) and raises a one-line
:class:`~mouselift.errors.RecordingError` naming the offending file; calibration contents that are
wrong raise :class:`~mouselift.errors.CalibrationError`. :meth:`Recording.frames` then decodes all
cameras' videos and masks in lockstep, frame after frame, seeking at most once.

Frame indices are 0-based positions in the videos. Images are uint8 RGB ``(H, W, 3)``, masks uint8
``(H, W)`` in 0..255 (the luma of the mask video, full range; threshold at 127 or use as soft).
"""

from __future__ import annotations

import operator
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..cameras import Camera, read_calibration_with_sizes
from ..cameras.distortion import NUM_COEFFS
from ..errors import RecordingError
from .video import VideoInfo, VideoReader, probe_video

VIDEO_DIR = "videos_undist"
MASK_DIR = "simpleclick_undist"
CALIBRATION_FILE = "new_cam.pkl"
#: Held-out cameras of a recording (same layout, not part of the rig), e.g. from ``synth``.
EVAL_DIR = "eval"

#: Camera videos may differ in length by this many frames (encoders sometimes drop a trailing
#: frame); the recording is then truncated to the shortest with a warning. More is an error.
FRAME_COUNT_TOLERANCE = 1

#: Without a calibrated image size (no ``mapx``), the principal point must lie in this central
#: fraction of the video frame on both axes: the middle third. For the real rig (cx 583–640 px of
#: 1152, cy 433–550 of 1024) this accepts the true size and rejects videos at half or double
#: resolution (a "middle half" bound would let double resolution through: 2304/4 = 576 < 583).
PRINCIPAL_POINT_REGION = (1.0 / 3.0, 2.0 / 3.0)


@dataclass(frozen=True)
class FrameSet:
    """All cameras' data for one frame.

    ``index``: 0-based source frame index. ``images``: per camera uint8 (H, W, 3) RGB, or ``None``
    when images were not requested. ``masks``: per camera uint8 (H, W) in 0..255, white = mouse
    (soft values: the mask videos are lossy).
    """

    index: int
    images: list[np.ndarray] | None
    masks: list[np.ndarray]


@dataclass(frozen=True)
class CameraFrame:
    """One camera's data for one frame (:meth:`Recording.camera_frames`).

    ``index``: 0-based source frame; ``image`` uint8 (H, W, 3) RGB and ``mask`` uint8 (H, W) of
    that camera; ``masks``: every camera's mask (rig order) when asked for, else ``None``.
    """

    index: int
    image: np.ndarray
    mask: np.ndarray
    masks: list[np.ndarray] | None = None


@dataclass(frozen=True, eq=False)
class Recording:
    """An opened, validated recording; create with :meth:`open`.

    ``cameras`` are in rig order, named ``"0"``, ``"1"``, …, with width/height equal to their video
    size and zero distortion (the videos are undistorted). ``num_frames`` is the number of frames
    every camera's video and mask provide; ``fps`` the frame rate of the videos.
    """

    root: Path
    cameras: list[Camera]
    num_frames: int
    fps: float
    calibration_path: Path
    videos: tuple[VideoInfo, ...]
    masks: tuple[VideoInfo, ...]

    # ------------------------------------------------------------------------------- opening
    @classmethod
    def open(
        cls, root: str | os.PathLike, *, calibration: str | os.PathLike | None = None
    ) -> Recording:
        """Open and validate the recording in folder ``root``.

        ``calibration`` defaults to ``root/new_cam.pkl``; any format
        :func:`mouselift.cameras.read_calibration` reads is accepted (it must describe the
        undistorted videos: zero distortion).
        """
        root = Path(root)
        if not root.exists():
            raise RecordingError(f"{root}: recording folder not found")
        if not root.is_dir():
            raise RecordingError(f"{root}: recording path is not a directory")
        calib_path = root / CALIBRATION_FILE if calibration is None else Path(calibration)
        if not calib_path.is_file():
            raise RecordingError(f"{calib_path}: calibration file not found")
        cameras, calibrated_sizes = _load_calibration(calib_path)
        num_cameras = len(cameras)

        video_dir, mask_dir = root / VIDEO_DIR, root / MASK_DIR
        for folder, what in ((video_dir, "video"), (mask_dir, "mask video")):
            if not folder.is_dir():
                raise RecordingError(f"{folder}: {what} folder not found")
        found = _camera_video_indices(video_dir)
        counts = (
            f"calibration {calib_path} has {num_cameras} camera(s), "
            f"{len(found)} camera video(s) found in {video_dir}"
        )
        for k in range(num_cameras):
            path = video_dir / f"{k}.mp4"
            if not path.is_file():
                raise RecordingError(f"{path}: video of camera {k} not found ({counts})")
        extra = sorted(i for i in found if i >= num_cameras)
        if extra:
            names = ", ".join(f"{i}.mp4" for i in extra)
            raise RecordingError(
                f"{video_dir}: videos for cameras not in the calibration ({names}); {counts}"
            )
        for k in range(num_cameras):
            path = mask_dir / f"{k}.mp4"
            if not path.is_file():
                raise RecordingError(f"{path}: mask video of camera {k} not found")

        videos = tuple(probe_video(video_dir / f"{k}.mp4") for k in range(num_cameras))
        masks = tuple(probe_video(mask_dir / f"{k}.mp4") for k in range(num_cameras))
        for video, mask in zip(videos, masks, strict=True):
            if (mask.width, mask.height) != (video.width, video.height):
                raise RecordingError(
                    f"{mask.path}: mask video is {mask.width}×{mask.height} but "
                    f"{video.path} is {video.width}×{video.height}"
                )
            if mask.num_frames != video.num_frames:
                raise RecordingError(
                    f"{mask.path}: mask video has {mask.num_frames} frames but "
                    f"{video.path} has {video.num_frames}"
                )

        checked = [
            _fit_camera(cam, size, video, calib_path)
            for cam, size, video in zip(cameras, calibrated_sizes, videos, strict=True)
        ]
        fps = videos[0].fps
        for video in videos[1:]:
            if abs(video.fps - fps) > 1e-3 * fps:
                raise RecordingError(
                    f"{video.path}: frame rate {video.fps:g} fps differs from "
                    f"{videos[0].path} ({fps:g} fps)"
                )
        num_frames = _common_frame_count(videos)
        return cls(
            root=root,
            cameras=checked,
            num_frames=num_frames,
            fps=fps,
            calibration_path=calib_path,
            videos=videos,
            masks=masks,
        )

    # ------------------------------------------------------------------------------- accessors
    @property
    def num_cameras(self) -> int:
        return len(self.cameras)

    @property
    def duration(self) -> float:
        """Length in seconds (``num_frames / fps``)."""
        return self.num_frames / self.fps

    def video_path(self, k: int) -> Path:
        """RGB video of camera ``k``: ``root/videos_undist/{k}.mp4``."""
        self._check_camera(k)
        return self.root / VIDEO_DIR / f"{k}.mp4"

    def mask_path(self, k: int) -> Path:
        """Mask video of camera ``k``: ``root/simpleclick_undist/{k}.mp4``."""
        self._check_camera(k)
        return self.root / MASK_DIR / f"{k}.mp4"

    def _check_camera(self, k: int) -> None:
        if not 0 <= k < self.num_cameras:
            raise IndexError(f"camera index {k} out of range 0..{self.num_cameras - 1}")

    # ------------------------------------------------------------------------------- decoding
    def frames(
        self,
        start: int = 0,
        stop: int | None = None,
        *,
        wanted: Iterable[int] | None = None,
        images: bool = True,
    ) -> Iterator[FrameSet]:
        """Yield a :class:`FrameSet` for each frame in ``[start, stop)`` (and in ``wanted``).

        All cameras' videos and masks are decoded sequentially in lockstep with at most one seek
        (to ``start``, or to the first wanted frame); frames not in ``wanted`` are decoded but not
        converted or yielded, and wanted frames outside ``[start, stop)`` are ignored.
        ``images=False`` decodes the masks only. Arguments are checked when this is called;
        the videos are opened on the first ``next()`` and closed when the iterator is exhausted,
        closed or garbage-collected.
        """
        first, last = self._check_range(start, stop)
        wanted_set: set[int] | None = None
        if wanted is not None:
            wanted_set = {operator.index(i) for i in wanted}
            expected = sorted(i for i in wanted_set if first <= i < last)
            if not expected:
                return iter(())
            first, last = expected[0], expected[-1] + 1
        else:
            expected = list(range(first, last))
            if not expected:
                return iter(())
        return self._lockstep(first, last, wanted_set, expected, images)

    def camera_frames(self, camera: int, wanted: Iterable[int], *, all_masks: bool = False
                      ) -> Iterator[CameraFrame]:
        """Yield a :class:`CameraFrame` of camera ``camera`` for each of the ``wanted`` frames
        (in increasing order), decoding only that camera's video and mask (one seek each), or,
        with ``all_masks``, every camera's mask too (to locate the mouse from all views).
        Arguments are checked here; decoding starts on the first ``next()``."""
        try:
            self._check_camera(camera)
        except IndexError as exc:
            raise RecordingError(f"{self.root}: {exc}") from None
        frames = sorted({operator.index(i) for i in wanted})
        if not frames:
            return iter(())
        self._check_range(frames[0], frames[-1] + 1)
        return self._camera_lockstep(camera, frames, all_masks)

    def _camera_lockstep(self, camera: int, frames: list[int], all_masks: bool
                         ) -> Iterator[CameraFrame]:
        first, last = frames[0], frames[-1] + 1
        wanted = set(frames)
        readers = [VideoReader(self.video_path(camera), start=first, stop=last)]
        if not all_masks:
            readers.append(VideoReader(self.mask_path(camera), start=first, stop=last,
                                       pixel_format="gray"))
        streams = [reader.frames(wanted=wanted) for reader in readers]
        masks = self.frames(wanted=frames, images=False) if all_masks else None
        try:
            for index in frames:
                arrays = []
                for reader, stream in zip(readers, streams, strict=True):
                    got = next(stream, None)
                    if got is None or got[0] != index:
                        raise RecordingError(f"{reader.path}: frame {index} could not be "
                                             "decoded (video shorter than expected?)")
                    arrays.append(got[1])
                if masks is not None:
                    frameset = next(masks)
                    yield CameraFrame(index, arrays[0], frameset.masks[camera], frameset.masks)
                else:
                    yield CameraFrame(index, arrays[0], arrays[1])
        finally:
            for stream in streams:
                stream.close()
            for reader in readers:
                reader.close()
            if masks is not None and hasattr(masks, "close"):
                masks.close()

    def _check_range(self, start: int, stop: int | None) -> tuple[int, int]:
        try:
            first = operator.index(start)
            last = self.num_frames if stop is None else operator.index(stop)
        except TypeError:
            raise RecordingError(
                f"{self.root}: frame range must be integers, got start={start!r}, stop={stop!r}"
            ) from None
        if not 0 <= first <= last <= self.num_frames:
            raise RecordingError(
                f"{self.root}: frame range [{first}, {last}) is outside the recording's "
                f"{self.num_frames} frames (need 0 <= start <= stop <= {self.num_frames})"
            )
        return first, last

    def _lockstep(
        self, first: int, last: int, wanted: set[int] | None, expected: list[int], images: bool
    ) -> Iterator[FrameSet]:
        readers: list[VideoReader] = []
        streams: list[Iterator[tuple[int, np.ndarray]]] = []
        try:
            for k in range(self.num_cameras):
                if images:
                    readers.append(VideoReader(self.video_path(k), start=first, stop=last))
                readers.append(
                    VideoReader(self.mask_path(k), start=first, stop=last, pixel_format="gray")
                )
            streams = [reader.frames(wanted=wanted) for reader in readers]
            for index in expected:
                arrays = []
                for reader, stream in zip(readers, streams, strict=True):
                    got = next(stream, None)
                    if got is None:
                        raise RecordingError(
                            f"{reader.path}: video ended before frame {index} "
                            f"(the recording should have {self.num_frames} frames)"
                        )
                    if got[0] != index:
                        raise RecordingError(
                            f"{reader.path}: decoded frame {got[0]} where frame {index} was "
                            "expected (frames missing or out of order)"
                        )
                    arrays.append(got[1])
                if images:
                    yield FrameSet(index=index, images=arrays[0::2], masks=arrays[1::2])
                else:
                    yield FrameSet(index=index, images=None, masks=arrays)
        finally:
            for stream in streams:
                stream.close()
            for reader in readers:
                reader.close()


# ----------------------------------------------------------------------------------- helpers
def _load_calibration(path: Path) -> tuple[list[Camera], list[tuple[int, int] | None]]:
    """Cameras of ``path`` and, per camera, the calibrated image size if the file measures one
    (:func:`~mouselift.cameras.read_calibration_with_sizes`: MAMMAL's ``mapx`` shape); for the
    others only the principal-point check applies (several formats store no size, or a default).
    The videos of this layout are undistorted, so a calibration with lens distortion is refused.
    """
    cameras, sizes = read_calibration_with_sizes(path)  # CalibrationError naming the file
    for k, cam in enumerate(cameras):
        if cam.has_distortion:
            raise RecordingError(
                f"{path}: camera {k} has lens distortion, but {VIDEO_DIR}/ holds undistorted "
                "videos; use the calibration of the undistorted videos (e.g. new_cam.pkl)"
            )
    return cameras, sizes


def _fit_camera(
    camera: Camera, calibrated: tuple[int, int] | None, video: VideoInfo, calib_path: Path
) -> Camera:
    """Check ``camera`` against its video's size; return it at that size with zero distortion."""
    size = (video.width, video.height)
    if calibrated is not None:
        if calibrated != size:
            raise RecordingError(
                f"{video.path}: video is {size[0]}×{size[1]} but camera {camera.name} of "
                f"{calib_path} was calibrated at {calibrated[0]}×{calibrated[1]} (mapx shape)"
            )
    else:
        lo, hi = PRINCIPAL_POINT_REGION
        inside = (
            lo * size[0] <= camera.cx <= hi * size[0] and lo * size[1] <= camera.cy <= hi * size[1]
        )
        if not inside:
            raise RecordingError(
                f"{video.path}: video is {size[0]}×{size[1]} but camera {camera.name} of "
                f"{calib_path} has its principal point at ({camera.cx:.1f}, {camera.cy:.1f}), "
                "far from the frame centre: the video does not match the calibration "
                "(wrong resolution?)"
            )
    return replace(camera, width=size[0], height=size[1], dist=np.zeros(NUM_COEFFS))


def _camera_video_indices(folder: Path) -> list[int]:
    """Camera indices of the ``{k}.mp4`` files in ``folder`` (other files are ignored)."""
    indices = []
    for path in folder.iterdir():
        if path.suffix == ".mp4" and path.stem.isdigit() and path.is_file():
            indices.append(int(path.stem))
    return sorted(indices)


def _common_frame_count(videos: tuple[VideoInfo, ...]) -> int:
    """The frame count all cameras share; tolerate a difference of FRAME_COUNT_TOLERANCE."""
    shortest = min(videos, key=lambda v: v.num_frames)
    longest = max(videos, key=lambda v: v.num_frames)
    if longest.num_frames - shortest.num_frames > FRAME_COUNT_TOLERANCE:
        raise RecordingError(
            f"{shortest.path}: {shortest.num_frames} frames but {longest.path} has "
            f"{longest.num_frames}; camera videos must have the same length"
        )
    if longest.num_frames != shortest.num_frames:
        warnings.warn(
            f"{shortest.path} has {shortest.num_frames} frames, {longest.path} "
            f"{longest.num_frames}: using the first {shortest.num_frames} frames of every camera",
            stacklevel=3,
        )
    if shortest.num_frames <= 0:
        raise RecordingError(f"{shortest.path}: video has no frames")
    return shortest.num_frames


def recording_summary(rec: Recording) -> str:
    """A few human-readable lines: root, calibration, cameras (size, distance of the camera
    centre from the world origin, in calibration units), frames, fps and duration."""
    lines = [
        f"recording   {rec.root}",
        f"calibration {rec.calibration_path}",
        f"cameras     {rec.num_cameras}",
    ]
    for cam in rec.cameras:
        distance = float(np.linalg.norm(cam.center))
        lines.append(
            f"  {cam.name:>3}: {cam.width}×{cam.height} px, centre {distance:.1f} from origin"
        )
    lines.append(f"frames      {rec.num_frames} at {rec.fps:g} fps ({rec.duration:.2f} s)")
    return "\n".join(lines)


__all__ = [
    "CALIBRATION_FILE",
    "MASK_DIR",
    "VIDEO_DIR",
    "CameraFrame",
    "FrameSet",
    "Recording",
    "recording_summary",
]
