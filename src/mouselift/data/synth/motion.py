"""A seeded, smooth random walk of the mouse over the arena floor.

The walk steers towards a sequence of goals: with probability ``edge_probability`` a goal lies on
the arena edge (radius 0.9–1.0 × ``arena_radius_mm``, where some views clip the mouse), otherwise
anywhere inside 0.75 × the radius. Each leg has its own cruising speed from ``speed_mm_s``. The
heading follows the goal with a limited, low-pass-filtered turn rate; the speed drops in sharp
turns; the body bends into the turn (bend ∝ tanh of the turn rate, at most ``max_bend_deg``); the
tail wags with the stride. The body origin never leaves the arena disc. Integration step = 1/fps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import SynthConfig
from .mouse import MouseState

_TURN_GAIN = 5.0  # 1/s: commanded turn rate per radian of heading error
_TURN_TAU = 0.08  # s: smoothing of the turn rate
_SPEED_TAU = 0.15  # s: smoothing of the speed
_BEND_TAU = 0.10  # s: smoothing of the bend
_WOBBLE = 1.5  # rad/s: amplitude of the random turn-rate wobble
_WOBBLE_TAU = 0.3  # s: correlation time of the wobble
_GOAL_REACHED_MM = 10.0
_LEG_TIMEOUT_S = 2.5
_STRIDE_HZ_PER_MM_S = 1.0 / 40.0  # tail wag frequency per unit speed
_TAIL_WAG = 0.35  # rad: wag amplitude


@dataclass(frozen=True)
class Trajectory:
    """Per-frame pose arrays (F,), float64: body origin ``x``, ``y`` (mm), ``heading``, ``bend``,
    ``tail_wag`` (rad); see :class:`~mouselift.data.synth.mouse.MouseState`."""

    x: np.ndarray
    y: np.ndarray
    heading: np.ndarray
    bend: np.ndarray
    tail_wag: np.ndarray
    length_mm: float

    def __len__(self) -> int:
        return len(self.x)

    def state(self, frame: int) -> MouseState:
        return MouseState(
            x=float(self.x[frame]),
            y=float(self.y[frame]),
            heading=float(self.heading[frame]),
            bend=float(self.bend[frame]),
            tail_wag=float(self.tail_wag[frame]),
            length_mm=self.length_mm,
        )


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


def simulate(config: SynthConfig) -> Trajectory:
    """The trajectory of ``config.frames`` frames for ``config.seed`` (deterministic)."""
    rng = np.random.default_rng([config.seed, 0])
    dt = 1.0 / config.fps
    cx, cy = config.arena_center_mm
    radius = config.arena_radius_mm
    max_turn = math.radians(config.max_turn_rate_deg_s)
    max_bend = math.radians(config.max_bend_deg)

    def new_goal() -> tuple[np.ndarray, float]:
        angle = rng.uniform(-math.pi, math.pi)
        if rng.random() < config.edge_probability:
            rho = radius * rng.uniform(0.9, 1.0)
        else:
            rho = radius * 0.75 * math.sqrt(rng.random())
        goal = np.array([cx + rho * math.cos(angle), cy + rho * math.sin(angle)])
        return goal, float(rng.uniform(*config.speed_mm_s))

    start_angle = rng.uniform(-math.pi, math.pi)
    start_rho = radius * 0.85 * math.sqrt(rng.random())
    pos = np.array([cx + start_rho * math.cos(start_angle), cy + start_rho * math.sin(start_angle)])
    heading = float(rng.uniform(-math.pi, math.pi))
    goal, cruise = new_goal()
    speed = cruise * float(rng.uniform(0.5, 1.0))
    turn = bend = wobble = stride = leg_time = 0.0

    out = np.zeros((config.frames, 5))
    for f in range(config.frames):
        wag = _TAIL_WAG * math.sin(stride) - 0.5 * bend
        out[f] = pos[0], pos[1], heading, bend, wag
        # Steering.
        to_goal = goal - pos
        error = _wrap(math.atan2(to_goal[1], to_goal[0]) - heading)
        wobble += (
            -wobble * dt / _WOBBLE_TAU + _WOBBLE * math.sqrt(2 * dt / _WOBBLE_TAU) * rng.normal()
        )
        wanted_turn = float(np.clip(_TURN_GAIN * error + wobble, -max_turn, max_turn))
        turn += (wanted_turn - turn) * min(1.0, dt / _TURN_TAU)
        heading = _wrap(heading + turn * dt)
        wanted_speed = cruise * max(0.25, math.cos(error / 2) ** 2)
        speed += (wanted_speed - speed) * min(1.0, dt / _SPEED_TAU)
        pos = pos + speed * dt * np.array([math.cos(heading), math.sin(heading)])
        offset = pos - (cx, cy)
        dist = float(np.hypot(*offset))
        if dist > radius:
            pos = np.array([cx, cy]) + offset * (radius / dist)
        # Body shape.
        wanted_bend = max_bend * math.tanh(turn / (0.5 * max_turn))
        bend += (wanted_bend - bend) * min(1.0, dt / _BEND_TAU)
        stride += 2 * math.pi * _STRIDE_HZ_PER_MM_S * speed * dt
        # Next leg.
        leg_time += dt
        if float(np.hypot(*(goal - pos))) < _GOAL_REACHED_MM or leg_time > _LEG_TIMEOUT_S:
            goal, cruise = new_goal()
            leg_time = 0.0
    return Trajectory(
        x=out[:, 0].copy(),
        y=out[:, 1].copy(),
        heading=out[:, 2].copy(),
        bend=out[:, 3].copy(),
        tail_wag=out[:, 4].copy(),
        length_mm=config.mouse_length_mm,
    )
