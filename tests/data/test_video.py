"""Tests of mouselift.data.video: probing, exact seeking, wanted frames, gray range, writer."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from mouselift.data.video import VideoReader, VideoWriter, probe_video
from mouselift.errors import RecordingError

NUM_FRAMES = 30
WIDTH, HEIGHT = 64, 48


def level(i: int) -> int:
    """Grey level of frame ``i`` of the test clips (distinct per frame, robust to compression)."""
    return 20 + 7 * i


def frame_of(array: np.ndarray) -> int:
    """Recover the frame number from a decoded uniform frame."""
    return round((float(array.mean()) - 20) / 7)


def _uniform(i: int) -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), level(i), np.uint8)


def _write_av(path, *, fps, gop, bframes) -> None:
    """Encode with short key-frame intervals and B-frames, so seeks land mid-clip."""
    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.options = {"g": str(gop), "bf": str(bframes), "crf": "18", "keyint_min": str(gop)}
    for i in range(NUM_FRAMES):
        for packet in stream.encode(av.VideoFrame.from_ndarray(_uniform(i), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


@pytest.fixture(scope="module", params=["writer-100fps", "gop5-bf2-100fps", "gop7-bf3-29.97fps"])
def clip(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / f"{request.param}.mp4"
    if request.param == "writer-100fps":
        with VideoWriter(path, fps=100, width=WIDTH, height=HEIGHT) as writer:
            for i in range(NUM_FRAMES):
                writer.write(_uniform(i))
    elif request.param == "gop5-bf2-100fps":
        _write_av(path, fps=100, gop=5, bframes=2)
    else:
        _write_av(path, fps=30000 / 1001, gop=7, bframes=3)
    return path


def _key_frames(path) -> list[int]:
    with av.open(str(path)) as container:
        return [i for i, f in enumerate(container.decode(video=0)) if f.key_frame]


def test_clips_have_key_frames_mid_clip(clip):
    keys = _key_frames(clip)
    if "gop" in clip.name:
        assert len(keys) >= 4  # so the seek tests below really seek
    else:
        assert keys == [0]  # libx264's default interval is longer than the clip


def test_probe(clip):
    info = probe_video(clip)
    assert (info.width, info.height, info.num_frames, info.codec) == (WIDTH, HEIGHT, 30, "h264")
    expected_fps = 30000 / 1001 if "29.97" in clip.name else 100.0
    assert info.fps == pytest.approx(expected_fps, rel=1e-6)
    assert info.path == clip


def test_sequential_read_is_every_frame_in_order(clip):
    with VideoReader(clip) as reader:
        got = [(i, frame_of(a), a.shape, a.dtype) for i, a in reader]
    assert got == [(i, i, (HEIGHT, WIDTH, 3), np.uint8) for i in range(NUM_FRAMES)]


def test_seek_to_every_start_is_frame_exact(clip):
    for start in range(NUM_FRAMES + 1):
        with VideoReader(clip, start=start) as reader:
            got = [(i, frame_of(a)) for i, a in reader.frames()]
        assert got == [(i, i) for i in range(start, NUM_FRAMES)], f"start={start}"


def test_start_and_stop(clip):
    with VideoReader(clip, start=11, stop=17) as reader:
        assert [(i, frame_of(a)) for i, a in reader.frames()] == [(i, i) for i in range(11, 17)]
    with VideoReader(clip, start=5, stop=5) as reader:
        assert list(reader.frames()) == []


def test_wanted(clip):
    with VideoReader(clip, start=3, stop=25) as reader:
        got = [(i, frame_of(a)) for i, a in reader.frames(wanted={0, 4, 5, 13, 24, 25, 29})]
    assert got == [(4, 4), (5, 5), (13, 13), (24, 24)]


def _write_levels(path, values, *, full_range: bool) -> None:
    container = av.open(str(path), mode="w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height = WIDTH, HEIGHT
    stream.pix_fmt = "yuvj420p" if full_range else "yuv420p"
    stream.options = {"crf": "0"}
    image = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for j, value in enumerate(values):
        image[:, j * 8 : (j + 1) * 8] = value
    for _ in range(2):
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


@pytest.mark.parametrize("full_range", [False, True], ids=["tv-range", "full-range"])
def test_gray_is_full_range_luma(tmp_path, full_range):
    values = [0, 8, 64, 128, 200, 255]
    path = tmp_path / "levels.mp4"
    _write_levels(path, values, full_range=full_range)
    with VideoReader(path, pixel_format="gray") as reader:
        index, gray = next(iter(reader))
    assert index == 0 and gray.dtype == np.uint8 and gray.shape == (HEIGHT, WIDTH)
    measured = [float(np.median(gray[:, j * 8 + 2 : j * 8 + 6])) for j in range(len(values))]
    np.testing.assert_allclose(measured, values, atol=2)


def test_gray_of_colour_is_luma(tmp_path):
    path = tmp_path / "colour.mp4"
    with VideoWriter(path, fps=25, width=WIDTH, height=HEIGHT, crf=0) as writer:
        writer.write(np.full((HEIGHT, WIDTH, 3), (200, 30, 60), np.uint8))
    with VideoReader(path, pixel_format="gray") as reader:
        _, gray = next(iter(reader))
    # BT.601 luma of (200, 30, 60)
    assert float(gray.mean()) == pytest.approx(0.299 * 200 + 0.587 * 30 + 0.114 * 60, abs=2)


def test_reader_rejects_unknown_pixel_format(clip):
    with pytest.raises(ValueError, match="pixel_format"):
        VideoReader(clip, pixel_format="bgr24")


# ----------------------------------------------------------------------------- writer
def test_writer_round_trip_and_gray_input(tmp_path):
    path = tmp_path / "sub" / "out.mp4"
    with VideoWriter(path, fps=50, width=WIDTH, height=HEIGHT) as writer:
        writer.write(_uniform(3))
        writer.write(np.full((HEIGHT, WIDTH), level(9), np.uint8))
        assert not path.exists()  # only the hidden partial file exists while writing
    assert writer.frames_written == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.mp4"]
    with VideoReader(path) as reader:
        assert [(i, frame_of(a)) for i, a in reader] == [(0, 3), (1, 9)]
    assert probe_video(path).fps == pytest.approx(50.0)


@pytest.mark.parametrize("frames_before_error", [0, 3])
def test_writer_leaves_no_file_when_the_block_raises(tmp_path, frames_before_error):
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(path, fps=25, width=WIDTH, height=HEIGHT) as writer:
            for i in range(frames_before_error):
                writer.write(_uniform(i))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_failure_keeps_the_previous_file(tmp_path):
    path = tmp_path / "out.mp4"
    with VideoWriter(path, fps=25, width=WIDTH, height=HEIGHT) as writer:
        writer.write(_uniform(1))
    before = path.read_bytes()
    with pytest.raises(KeyError):
        with VideoWriter(path, fps=25, width=WIDTH, height=HEIGHT) as writer:
            writer.write(_uniform(2))
            raise KeyError("stop")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_writer_validates_sizes(tmp_path):
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", fps=25, width=63, height=48)
    with pytest.raises(ValueError, match="frame must be uint8"):
        with VideoWriter(tmp_path / "x.mp4", fps=25, width=WIDTH, height=HEIGHT) as writer:
            writer.write(np.zeros((HEIGHT, WIDTH + 2, 3), np.uint8))
    with pytest.raises(ValueError, match="frame must be uint8"):
        with VideoWriter(tmp_path / "y.mp4", fps=25, width=WIDTH, height=HEIGHT) as writer:
            writer.write(np.zeros((HEIGHT, WIDTH, 3), np.float32))
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "content", [b"", b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100], ids=["empty", "junk"]
)
def test_corrupt_file_raises_recording_error_naming_it(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    for call in (probe_video, VideoReader):
        with pytest.raises(RecordingError) as excinfo:
            call(path)
        assert str(path) in str(excinfo.value) and "\n" not in str(excinfo.value)


def test_truncated_file_raises_recording_error(tmp_path):
    path = tmp_path / "cut.mp4"
    with VideoWriter(path, fps=25, width=WIDTH, height=HEIGHT) as writer:
        for i in range(10):
            writer.write(_uniform(i))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(RecordingError, match=r"cut\.mp4"):
        probe_video(path)


def test_missing_file_and_non_video(tmp_path):
    with pytest.raises(RecordingError, match="not found"):
        probe_video(tmp_path / "none.mp4")
    with pytest.raises(RecordingError, match="not found"):
        VideoReader(tmp_path / "none.mp4")
    wav = tmp_path / "sound.wav"
    container = av.open(str(wav), mode="w")
    stream = container.add_stream("pcm_s16le", rate=8000)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
    frame.sample_rate = 8000
    for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    with pytest.raises(RecordingError, match="no video stream"):
        probe_video(wav)


def test_keyframe_indices_follow_the_writer_interval(tmp_path):
    import numpy as np

    from mouselift.data.video import VideoWriter, keyframe_indices

    path = tmp_path / "k.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(path, fps=25, width=32, height=32, keyframe_interval=4) as writer:
        for _ in range(17):
            writer.write(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    keys = keyframe_indices(path)
    assert keys[0] == 0 and keys[-1] >= 16 - 4
    assert np.all(np.diff(keys) <= 4) and np.all(np.diff(keys) > 0)
