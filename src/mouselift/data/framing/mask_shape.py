"""The shape of one view's mouse mask: what a single calibrated view says about where the mouse is.

:func:`mask_shape` measures ``mask > threshold`` (uint8 ``(H, W)``) of a full camera frame:

* ``area`` (px) and ``centroid`` ``(u, v)``; OpenCV pixels: the centre of pixel column i is u = i,
  as in :func:`~.triangulate.mask_stats`;
* ``second`` ``(xx, yy, xy)`` and ``third`` ``(xxx, yyy, xxy, xyy)``: central moments about the
  centroid, as means over the mask's pixels (px², px³);
* ``box`` ``(x0, y0, x1, y1)``: the tight box in edge coordinates; ``border`` ``(left, top, right,
  bottom)``: whether the mask reaches that edge of the image (the view cuts the mouse there);
* the **core**, from the Euclidean distance of each mask pixel to the nearest background pixel
  (``d``; a pixel at the outline has d ≈ 1): ``core`` the d-weighted centroid, ``core2`` the
  d²-weighted centroid, ``peak`` the pixel of largest d (the thickest part of the body) and
  ``core_radius`` that largest d (px). The tail, thin, barely weighs in the core; the
  plain centroid it pulls towards itself.

All of it is in the view's full-frame pixels, so a shape is only meaningful with the camera that
saw it. ``to_dict`` / :meth:`MaskShape.from_dict` is the form a sample's record stores
(``views[k].mask_shape``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

#: Border-contact sides, in ``MaskShape.border`` order.
SIDES = ("left", "top", "right", "bottom")


@dataclass(frozen=True)
class MaskShape:
    """Measurements of one view's thresholded mask (module docstring); tuples of floats."""

    area: int
    width: int
    height: int
    centroid: tuple[float, float]
    second: tuple[float, float, float]
    third: tuple[float, float, float, float]
    box: tuple[int, int, int, int]
    border: tuple[bool, bool, bool, bool]
    core: tuple[float, float]
    core2: tuple[float, float]
    peak: tuple[float, float]
    core_radius: float

    @property
    def touches_border(self) -> bool:
        """The mask reaches an edge of the image: the view may cut the mouse."""
        return any(self.border)

    @property
    def border_sides(self) -> list[str]:
        return [side for side, hit in zip(SIDES, self.border, strict=True) if hit]

    def to_dict(self) -> dict[str, Any]:
        def r(values: Any, digits: int = 4) -> list[float]:
            return [round(float(v), digits) for v in values]

        return {"area": self.area, "size": [self.width, self.height],
                "centroid": r(self.centroid), "second": r(self.second, 3),
                "third": r(self.third, 2), "box": list(self.box),
                "border": list(self.border), "core": r(self.core), "core2": r(self.core2),
                "peak": r(self.peak, 1), "core_radius": round(float(self.core_radius), 4)}

    @classmethod
    def from_dict(cls, data: Any) -> MaskShape:
        """The inverse of :meth:`to_dict`; ``ValueError`` when ``data`` is not one."""
        try:
            width, height = (int(v) for v in data["size"])
            return cls(int(data["area"]), width, height,
                       _floats(data["centroid"], 2), _floats(data["second"], 3),
                       _floats(data["third"], 4),
                       tuple(int(v) for v in data["box"]),  # type: ignore[arg-type]
                       tuple(bool(v) for v in data["border"]),  # type: ignore[arg-type]
                       _floats(data["core"], 2), _floats(data["core2"], 2),
                       _floats(data["peak"], 2), float(data["core_radius"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a mask shape ({exc.__class__.__name__}: {exc})") from None


def _floats(values: Any, n: int) -> Any:
    out = tuple(float(v) for v in values)
    if len(out) != n:
        raise ValueError(f"expected {n} numbers, got {len(out)}")
    return out


def mask_shape(mask: np.ndarray, threshold: int = 127) -> MaskShape | None:
    """The shape of ``mask > threshold`` (module docstring), ``None`` when the mask is empty.

    Every sum runs over the mask's box as matrix-vector products with the pixel coordinates
    (no per-pixel arrays): about 1 ms a view at 576×512."""
    binary = np.asarray(mask) > threshold
    height, width = binary.shape
    rows = np.flatnonzero(binary.any(axis=1))
    if not len(rows):
        return None
    cols = np.flatnonzero(binary[rows[0]:rows[-1] + 1].any(axis=0))
    x0, y0, x1, y1 = int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
    crop = binary[y0:y1, x0:x1].view(np.uint8)
    inside = crop.astype(np.float64)
    xs = np.arange(x1 - x0, dtype=np.float64)
    ys = np.arange(y1 - y0, dtype=np.float64)
    area = float(inside.sum())
    u = float(inside.sum(axis=0) @ xs) / area
    v = float(inside.sum(axis=1) @ ys) / area
    dx, dy = xs - u, ys - v
    by_column, by_row = inside.sum(axis=0), inside.sum(axis=1)
    second = (float(by_column @ dx ** 2) / area, float(by_row @ dy ** 2) / area,
              float(dy @ inside @ dx) / area)
    third = (float(by_column @ dx ** 3) / area, float(by_row @ dy ** 3) / area,
             float(dy @ inside @ dx ** 2) / area, float(dy ** 2 @ inside @ dx) / area)
    # pad with background so the mask's outline is where it meets background... except where
    # the image cuts the mask: that edge is no outline of the mouse, so pad with mouse there
    padded = np.pad(crop, 1)
    if x0 == 0:
        padded[1:-1, 0] = padded[1:-1, 1]
    if y0 == 0:
        padded[0, 1:-1] = padded[1, 1:-1]
    if x1 == width:
        padded[1:-1, -1] = padded[1:-1, -2]
    if y1 == height:
        padded[-1, 1:-1] = padded[-2, 1:-1]
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_5)[1:-1, 1:-1]
    d = distance.astype(np.float64) * inside
    d2 = d * d
    peak_row, peak_col = np.unravel_index(int(np.argmax(d)), d.shape)
    return MaskShape(
        area=int(area), width=width, height=height, centroid=(u + x0, v + y0), second=second,
        third=third, box=(x0, y0, x1, y1),
        border=(x0 == 0, y0 == 0, x1 == width, y1 == height),
        core=_weighted_centre(d, xs, ys, x0, y0), core2=_weighted_centre(d2, xs, ys, x0, y0),
        peak=(float(peak_col + x0), float(peak_row + y0)),
        core_radius=float(d[peak_row, peak_col]))


def _weighted_centre(weights: np.ndarray, xs: np.ndarray, ys: np.ndarray, x0: int, y0: int
                     ) -> tuple[float, float]:
    total = float(weights.sum())
    return (float(weights.sum(axis=0) @ xs) / total + x0,
            float(weights.sum(axis=1) @ ys) / total + y0)


__all__ = ["SIDES", "MaskShape", "mask_shape"]
