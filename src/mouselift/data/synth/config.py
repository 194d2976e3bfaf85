"""Options of a synthetic recording (``mouselift synth``).

Every key changes the output; the defaults give a small clip (60 frames at half resolution) that
renders in seconds on a laptop CPU. Units: millimetres, seconds, radians unless a name says
``_deg``. The world is the real rig's: mm, Z up, floor at z = 0.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ...config.base import StrictModel

#: Full image size (width, height) of the rig the synthetic recordings use.
BASE_SIZE = (1152, 1024)
#: Name of the built-in calibration used as the recording rig.
RIG_NAME = "markerless_mouse_1"


class SynthConfig(StrictModel):
    """Configuration of :func:`mouselift.data.synth.synthesize`.

    ``scale`` scales the 1152×1024 rig images (intrinsics follow :meth:`Camera.resize`; each side is
    rounded to an even number of pixels, as H.264/yuv420p needs). ``seed`` fixes the trajectory and
    the held-out cameras; the same seed gives byte-identical ground truth and identical frames.
    """

    frames: int = Field(60, ge=1, le=100_000, description="number of frames to render")
    fps: float = Field(100.0, gt=0, le=1000, description="frame rate of the videos (and motion)")
    scale: float = Field(0.5, gt=0, le=2.0, description="resolution scale of the 1152×1024 rig")
    seed: int = Field(0, ge=0, description="random seed (trajectory, held-out cameras)")
    eval_cameras: int = Field(0, ge=0, le=64, description="held-out cameras written under eval/")
    eval_elevation_deg: tuple[float, float] = Field(
        (10.0, 40.0), description="elevation range of held-out cameras above the arena centre"
    )
    crf: int = Field(
        20, ge=0, le=51, description="H.264 quality of the RGB videos (lower = better)"
    )
    mask_crf: int = Field(28, ge=0, le=51, description="H.264 quality of the mask videos")
    keyframe_interval: int = Field(
        100, ge=1, le=10_000, description="largest distance between key frames of the videos"
    )
    supersample: int = Field(2, ge=1, le=4, description="samples per pixel side on the mouse")
    mouse_length_mm: float = Field(95.0, ge=40, le=200, description="nose tip to tail base")
    arena_center_mm: tuple[float, float] = Field((55.0, 60.0), description="arena centre (x, y)")
    arena_radius_mm: float = Field(
        110.0, gt=0, le=1000, description="the mouse's body origin stays within this radius"
    )
    speed_mm_s: tuple[float, float] = Field(
        (60.0, 220.0), description="range of walking speeds, drawn per leg of the walk"
    )
    edge_probability: float = Field(
        0.5, ge=0, le=1, description="chance that the next goal of the walk is on the arena edge"
    )
    max_turn_rate_deg_s: float = Field(
        360.0, gt=0, le=5000, description="largest heading change per second"
    )
    max_bend_deg: float = Field(
        70.0, ge=0, le=150, description="largest bend: heading at the nose minus at the tail base"
    )
    surface_points: int = Field(
        2000, ge=10, le=200_000, description="ground-truth surface points per frame"
    )

    @model_validator(mode="after")
    def _check_ranges(self) -> SynthConfig:
        lo, hi = self.speed_mm_s
        if not 0 < lo <= hi:
            raise ValueError(f"speed_mm_s must satisfy 0 < min <= max, got {self.speed_mm_s}")
        e0, e1 = self.eval_elevation_deg
        if not -89 <= e0 <= e1 <= 89:
            raise ValueError(
                "eval_elevation_deg must satisfy -89 <= min <= max <= 89, "
                f"got {self.eval_elevation_deg}"
            )
        return self

    def image_size(self) -> tuple[int, int]:
        """Rendered (width, height): the rig size times ``scale``, rounded to even numbers."""
        w, h = BASE_SIZE
        return 2 * max(1, round(w * self.scale / 2)), 2 * max(1, round(h * self.scale / 2))
