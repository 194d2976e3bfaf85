"""The procedural mouse: a union of ellipsoids placed along a bending spine.

Body frame (mm): x forward, y to the mouse's left, z up, origin on the floor under the middle of
the spine. The spine is a circular arc in the XY plane through the origin with tangent +x there;
its arc length runs from ``-L/2`` (tail base) to ``+L/2`` (nose tip), ``L = length_mm``. The
*bend* is the heading at the nose minus the heading at the tail base (radians, positive = bent to
the left, i.e. counter-clockwise seen from above), so the curvature is ``bend / L``. For a circular
arc the chord from tail base to nose is parallel to the tangent at the origin, so the mouse's
*heading* (the world yaw of the body x axis) is also the direction from tail base to nose.

Parts: hips, torso, chest, head, snout, nose, two ears, two eyes, four legs, four feet (soles at
z = 0) and a tail of thin ellipsoids that continues the spine backwards and drops to the floor.
Sizes are given for a 95 mm mouse and scale with ``length_mm``.

An ellipsoid is ``{c + Q diag(r) u : |u| = 1}`` with centre ``c`` (3,), rotation ``Q`` (3×3, its
columns are the part's axes in world coordinates) and semi-axes ``r`` (3,).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Material codes of :attr:`Parts.materials`.
FUR, SKIN, EYE = 0, 1, 2

#: Nominal length (nose tip to tail base) the part table below is written for.
NOMINAL_LENGTH_MM = 95.0
#: Tail length relative to ``length_mm``.
TAIL_FRACTION = 0.85
TAIL_SEGMENTS = 16
#: Seed of the fixed candidate points on the part surfaces (the same mouse in every recording).
_SURFACE_SEED = 20_240_917

# name, arc position s, lateral y, height z, semi-axes (x, y, z), pitch down, extra yaw, roll,
# material. Angles in degrees; lengths in mm for a 95 mm mouse.
_PART_TABLE: tuple[
    tuple[str, float, float, float, tuple[float, float, float], float, float, float, int], ...
] = (
    ("hips", -24.0, 0.0, 17.0, (23.0, 15.5, 13.5), -4.0, 0.0, 0.0, FUR),
    ("torso", -6.0, 0.0, 19.0, (27.0, 16.3, 14.3), 0.0, 0.0, 0.0, FUR),
    ("chest", 12.0, 0.0, 19.5, (18.0, 13.2, 12.6), 6.0, 0.0, 0.0, FUR),
    ("head", 27.5, 0.0, 21.5, (13.5, 10.0, 9.5), 10.0, 0.0, 0.0, FUR),
    ("snout", 38.5, 0.0, 19.0, (8.5, 6.0, 5.5), 16.0, 0.0, 0.0, FUR),
    ("nose", 46.0, 0.0, 16.8, (1.8, 1.9, 1.6), 0.0, 0.0, 0.0, SKIN),
    ("ear_left", 24.0, 8.5, 30.5, (1.4, 6.0, 7.0), -10.0, 30.0, -25.0, SKIN),
    ("ear_right", 24.0, -8.5, 30.5, (1.4, 6.0, 7.0), -10.0, -30.0, 25.0, SKIN),
    ("eye_left", 32.0, 8.0, 25.0, (2.2, 2.2, 2.2), 0.0, 0.0, 0.0, EYE),
    ("eye_right", 32.0, -8.0, 25.0, (2.2, 2.2, 2.2), 0.0, 0.0, 0.0, EYE),
    ("leg_hind_left", -25.0, 10.0, 7.5, (6.5, 4.0, 6.5), 0.0, 0.0, 0.0, FUR),
    ("leg_hind_right", -25.0, -10.0, 7.5, (6.5, 4.0, 6.5), 0.0, 0.0, 0.0, FUR),
    ("leg_fore_left", 12.0, 7.5, 6.5, (3.5, 3.0, 6.0), 0.0, 0.0, 0.0, FUR),
    ("leg_fore_right", 12.0, -7.5, 6.5, (3.5, 3.0, 6.0), 0.0, 0.0, 0.0, FUR),
    ("foot_hind_left", -23.0, 10.5, 1.8, (5.0, 2.4, 1.8), 0.0, 8.0, 0.0, SKIN),
    ("foot_hind_right", -23.0, -10.5, 1.8, (5.0, 2.4, 1.8), 0.0, -8.0, 0.0, SKIN),
    ("foot_fore_left", 14.0, 8.0, 1.6, (3.4, 2.0, 1.6), 0.0, 5.0, 0.0, SKIN),
    ("foot_fore_right", 14.0, -8.0, 1.6, (3.4, 2.0, 1.6), 0.0, -5.0, 0.0, SKIN),
)
_TAIL_BASE_Z = 11.0
_TAIL_CLEARANCE = 0.2  # mm between the floor and the lying tail
_TAIL_RADIUS = (3.0, 0.9)
#: Parts whose floor footprint casts the blob shadow.
SHADOW_PARTS = ("hips", "torso", "chest", "head")


@dataclass(frozen=True)
class MouseState:
    """Pose of the mouse at one instant.

    ``x``, ``y``: world position (mm) of the body-frame origin (on the floor, z = 0, under the
    middle of the spine). ``heading``: world yaw of the body x axis (rad, 0 = +x, counter-clockwise
    from above). ``bend``: nose heading minus tail-base heading (rad). ``tail_wag``: extra heading
    change along the tail (rad). ``length_mm``: nose tip to tail base.
    """

    x: float
    y: float
    heading: float
    bend: float = 0.0
    tail_wag: float = 0.0
    length_mm: float = NOMINAL_LENGTH_MM


@dataclass(frozen=True)
class Parts:
    """Ellipsoids of one pose in world coordinates (mm): ``centers`` (M, 3), ``rotations``
    (M, 3, 3, columns = part axes), ``radii`` (M, 3), ``materials`` (M,) int, ``names`` (M)."""

    centers: np.ndarray
    rotations: np.ndarray
    radii: np.ndarray
    materials: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def volumes(self) -> np.ndarray:
        """Volume of each ellipsoid (M,), mm³."""
        return 4.0 / 3.0 * math.pi * np.prod(self.radii, axis=1)

    def center(self) -> np.ndarray:
        """Body centre (3,): the volume-weighted mean of the part centres, i.e. the centroid of the
        parts' volumes summed (overlaps counted once per part). This is the ground-truth centre."""
        v = self.volumes
        return (self.centers * v[:, None]).sum(axis=0) / v.sum()

    def index(self, name: str) -> int:
        return self.names.index(name)

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        """A sphere (centre, radius) containing every part."""
        lo = (self.centers - self.radii.max(axis=1, keepdims=True)).min(axis=0)
        hi = (self.centers + self.radii.max(axis=1, keepdims=True)).max(axis=0)
        centre = (lo + hi) / 2
        reach = np.linalg.norm(self.centers - centre, axis=1) + self.radii.max(axis=1)
        return centre, float(reach.max())

    def contains(self, points: np.ndarray, *, exclude: np.ndarray | None = None) -> np.ndarray:
        """Which points (N, 3) lie strictly inside some part; ``exclude`` (N,) names one part index
        per point to ignore (its own part)."""
        p = np.asarray(points, dtype=np.float64)
        inside = np.zeros(len(p), dtype=bool)
        for j in range(len(self)):
            local = (p - self.centers[j]) @ self.rotations[j] / self.radii[j]
            hit = np.einsum("ij,ij->i", local, local) < 1.0 - 1e-6
            if exclude is not None:
                hit &= exclude != j
            inside |= hit
        return inside


def _rot_z(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_y(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_x(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def spine_point(s: np.ndarray | float, curvature: float) -> np.ndarray:
    """Body-frame XY (…, 2) of arc length ``s`` on the spine of the given curvature (1/mm)."""
    s = np.asarray(s, dtype=np.float64)
    a = curvature * s
    x = s * np.sinc(a / math.pi)
    y = s * np.sin(a / 2) * np.sinc(a / (2 * math.pi))
    return np.stack([x, y], axis=-1)


def _tail(
    curvature: float, tail_wag: float, g: float
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Tail segments in the body frame: (centre, rotation, radii) each."""
    length = TAIL_FRACTION * NOMINAL_LENGTH_MM * g
    half = NOMINAL_LENGTH_MM * g / 2
    base_xy = spine_point(-half, curvature)
    direction0 = -curvature * half + math.pi  # heading of travel from the base backwards
    n_fine = TAIL_SEGMENTS * 8
    u = np.linspace(0.0, length, n_fine + 1)
    # The tail keeps half of the body's curvature and adds the wag, spread along its length.
    phi = direction0 - 0.5 * curvature * u + tail_wag * (u / length) ** 1.5
    du = length / n_fine
    steps = np.stack([np.cos(phi[:-1]), np.sin(phi[:-1])], axis=-1) * du
    xy = base_xy + np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
    drop = np.clip(1.0 - u / (0.3 * length), 0.0, None) ** 2
    thickness = (_TAIL_RADIUS[0] + (_TAIL_RADIUS[1] - _TAIL_RADIUS[0]) * u / length) * g
    floor_z = thickness + _TAIL_CLEARANCE * g
    z = floor_z + (_TAIL_BASE_Z * g - floor_z) * drop
    pts = np.concatenate([xy, z[:, None]], axis=1)
    step = n_fine // TAIL_SEGMENTS
    segments = []
    for i in range(TAIL_SEGMENTS):
        a, b = pts[i * step], pts[(i + 1) * step]
        axis = b - a
        seg_len = float(np.linalg.norm(axis))
        ex = axis / seg_len
        ey = np.cross([0.0, 0.0, 1.0], ex)
        ey /= np.linalg.norm(ey)
        ez = np.cross(ex, ey)
        thick = float(thickness[i * step + step // 2])
        radii = np.array([0.5 * seg_len * 1.6, thick, thick])
        rotation = np.stack([ex, ey, ez], axis=1)
        centre = (a + b) / 2
        # Lift the segment if its lowest point would dip below the floor (z = 0).
        lowest = centre[2] - float(np.linalg.norm(rotation[2] * radii))
        centre[2] += max(0.0, -lowest)
        segments.append((centre, rotation, radii))
    return segments


def build_parts(state: MouseState) -> Parts:
    """The world-space ellipsoids of ``state`` (see the module docstring for the body frame)."""
    g = state.length_mm / NOMINAL_LENGTH_MM
    curvature = state.bend / state.length_mm
    centers, rotations, radii, materials, names = [], [], [], [], []
    for name, s, lateral, z, r, pitch, yaw, roll, material in _PART_TABLE:
        s_mm = s * g
        tangent = curvature * s_mm
        xy = spine_point(s_mm, curvature) + lateral * g * np.array(
            [-math.sin(tangent), math.cos(tangent)]
        )
        centers.append(np.array([xy[0], xy[1], z * g]))
        rotations.append(
            _rot_z(tangent + math.radians(yaw))
            @ _rot_y(math.radians(pitch))
            @ _rot_x(math.radians(roll))
        )
        radii.append(np.asarray(r, dtype=np.float64) * g)
        materials.append(material)
        names.append(name)
    for i, (c, q, r) in enumerate(_tail(curvature, state.tail_wag, g)):
        centers.append(c)
        rotations.append(q)
        radii.append(r)
        materials.append(SKIN)
        names.append(f"tail_{i:02d}")
    to_world = _rot_z(state.heading)
    offset = np.array([state.x, state.y, 0.0])
    return Parts(
        centers=np.stack(centers) @ to_world.T + offset,
        rotations=np.einsum("ij,mjk->mik", to_world, np.stack(rotations)),
        radii=np.stack(radii),
        materials=np.array(materials, dtype=np.int64),
        names=tuple(names),
    )


def _ellipsoid_area(r: np.ndarray) -> float:
    """Surface area of an ellipsoid (Knud Thomsen's formula, within ~1 %)."""
    p = 1.6075
    a, b, c = (float(v) ** p for v in r)
    return 4.0 * math.pi * ((a * b + a * c + b * c) / 3.0) ** (1.0 / p)


def surface_points(parts: Parts, count: int) -> np.ndarray:
    """``count`` points (count, 3) float32, mm, on the outer surface of the mouse.

    Points are drawn area-uniformly on every ellipsoid (about four candidates per kept point, in
    proportion to the part areas, from a fixed seed, so the result depends only on the pose), and
    a point is kept only when it is not strictly inside another part. The first ``count`` kept
    points of a fixed shuffled order are returned (cycled in the unlikely case fewer survive).
    """
    rng = np.random.default_rng(_SURFACE_SEED)
    areas = np.array([_ellipsoid_area(r) for r in parts.radii])
    wanted = np.ceil(4 * count * areas / areas.sum()).astype(int) + 2
    points, owner = [], []
    for j, n in enumerate(wanted):
        r = parts.radii[j]
        accepted: list[np.ndarray] = []
        total = 0
        limit = 1.0 / float(r.min())
        while total < n:
            u = rng.normal(size=(2 * n, 3))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            density = np.linalg.norm(u / r, axis=1)  # area element up to the constant prod(r)
            keep = u[rng.random(2 * n) * limit < density]
            accepted.append(keep)
            total += len(keep)
        u = np.concatenate(accepted)[:n]
        points.append(parts.centers[j] + (u * r) @ parts.rotations[j].T)
        owner.append(np.full(n, j))
    pts = np.concatenate(points)
    own = np.concatenate(owner)
    order = rng.permutation(len(pts))
    pts, own = pts[order], own[order]
    outer = pts[~parts.contains(pts, exclude=own)]
    if len(outer) < count:
        outer = np.resize(outer, (count, 3))
    return outer[:count].astype(np.float32)
