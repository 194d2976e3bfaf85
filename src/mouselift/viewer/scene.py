"""What ``mouselift view PATH`` shows, read from disk without any server: :func:`load_scene`.

PATH may be (checked in this order):

* **a PLY file** — one set of Gaussians (graphdeco layout, :func:`mouselift.splat.read_ply`);
* **a prepared sample** (``opencv_cameras.json`` + ``images/``, optional ``eval/``) with
  ``fit=FITDIR``, the output folder of ``mouselift fit`` on it;
* **an output folder** holding ``gaussians.ply`` (``mouselift fit``, ``reconstruct``, ``infer``):
  its numbers from ``metrics.json`` / ``report.json``; the generated views when the folder has an
  ``opencv_cameras.json`` (images at its ``file_path`` or ``views/<camera name>.png``); the sample
  whose real views to show from ``sample=`` or, failing that, the folder recorded in the numbers
  file (``"sample"``, ``"views"`` or ``"input"``, a path relative to the working directory or to
  the output folder); ``input.png``, ``multiview.png`` and ``views.png`` as panel images.
  When the folder's result manifest lists its files (:func:`mouselift.atomic.result_folder`),
  only those are shown: files left there by anything else are named in a note, never taken for
  the result's;
* **a sequence** — a folder of PLY files (``frame_000123.ply`` …) or of sub-folders that each hold
  ``gaussians.ply`` (their own ``metrics.json`` / ``report.json`` numbers become per-frame
  numbers), in natural order (``frame_2`` before ``frame_10``).

Everything except the Gaussians is optional: what exists is shown, and a recorded sample that is
missing only adds a note. The first frame is read here, so a file that is not a Gaussian PLY, or
a folder without one, is a one-line :class:`~mouselift.errors.MouseliftError`; later frames of a
sequence are read when shown (:meth:`ViewerScene.gaussians`, a small cache).

Conventions: the scene's world is the files' (for our outputs: FaceLift's units, Z up); cameras
are :class:`~mouselift.cameras.Camera` (OpenCV axes and pixels); view images are uint8 RGB
``(H, W, 3)``, RGBA composited on white (FaceLift's background).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..atomic import RESULT_MANIFEST, result_manifest
from ..cameras import Camera, read_opencv_cameras
from ..data.layout import CAMERAS_FILE, IMAGES_DIR
from ..data.sample import EVAL_DIR, has_eval_views, load_sample_views
from ..errors import ConfigError, MouseliftError
from ..images import WHITE, composite, to_uint8
from ..splat import Gaussians, read_ply
from ..splat.outputs import (
    GRID_NAME,
    INPUT_NAME,
    METRICS_NAME,
    MULTIVIEW_NAME,
    PLY_NAME,
    REPORT_NAME,
    VIEWS_DIR,
)

#: The numbers files of an output folder, in the order their numbers are shown.
REPORT_NAMES = (METRICS_NAME, REPORT_NAME)
#: Images of an output folder shown in the side panel: (file name, title).
PANEL_IMAGES = ((INPUT_NAME, "input"), (MULTIVIEW_NAME, "generated views"),
                (GRID_NAME, "renders over images"))
#: Sub-trees of a numbers file that are settings, logs or per-view lists, not results.
SKIPPED_KEYS = frozenset({"config", "history", "densify", "per_view", "rig", "filters"})
#: Keys of a numbers file that may name the sample folder an output was made from.
SAMPLE_KEYS = ("sample", "views", "input")
#: The two kinds of views.
REAL, GENERATED = "real", "generated"
#: Frames kept in memory by :meth:`ViewerScene.gaussians`.
CACHE_FRAMES = 8


class ViewerError(MouseliftError):
    """PATH cannot be shown (no Gaussian PLY, an empty folder, a bad option); one line."""


@dataclass(frozen=True)
class Frame:
    """One set of Gaussians: ``name`` (shown in the panel), its ``ply`` and its own numbers."""

    name: str
    ply: Path
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CameraView:
    """A camera to draw as a frustum: ``label``, the camera, its image (uint8 RGB or ``None``),
    and whether it is a held-out (``eval/``) camera."""

    label: str
    camera: Camera
    image: np.ndarray | None = None
    held_out: bool = False


@dataclass
class ViewerScene:
    """Everything the viewer shows; see the module docstring for where each part comes from.

    ``frames`` (at least one); ``views`` maps ``"real"`` / ``"generated"`` to their cameras
    (only kinds that exist); ``metrics`` the flattened numbers of the scene (``"train.psnr"``
    → 25.1); ``images`` the panel images as ``(title, path)``; ``notes`` what was looked for
    and not found (for the user, one line each).
    """

    source: Path
    kind: str
    frames: list[Frame]
    views: dict[str, list[CameraView]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    images: list[tuple[str, Path]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _cache: OrderedDict[int, Gaussians] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __len__(self) -> int:
        return len(self.frames)

    def gaussians(self, index: int) -> Gaussians:
        """The Gaussians of frame ``index`` (float32, CPU), read once and cached (the last
        :data:`CACHE_FRAMES`). A bad PLY raises :class:`~mouselift.errors.SplatFormatError`."""
        if not 0 <= index < len(self.frames):
            raise IndexError(f"frame {index} of {len(self.frames)}")
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
        gaussians = read_ply(self.frames[index].ply)
        with self._lock:
            self._cache[index] = gaussians
            while len(self._cache) > CACHE_FRAMES:
                self._cache.popitem(last=False)
        return gaussians


# ------------------------------------------------------------------------------- small helpers


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders digit runs by value: ``frame_2`` < ``frame_10``."""
    return tuple((0, int(part)) if part.isdigit() else (1, part.lower())
                 for part in re.split(r"(\d+)", name) if part)


def flatten_numbers(doc: Any, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of nested dicts as ``{"a.b": value}``, in document order.

    Booleans, strings, ``null`` and lists are left out, and so are the sub-trees named in
    :data:`SKIPPED_KEYS` (settings, logs, per-view lists).
    """
    out: dict[str, float] = {}
    if not isinstance(doc, dict):
        return out
    for key, value in doc.items():
        if key in SKIPPED_KEYS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_numbers(value, f"{name}."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = value
    return out


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    """A JSON object, or ``None`` with a note when it cannot be read."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        notes.append(f"{path}: not readable as JSON ({exc.__class__.__name__}); numbers skipped")
        return None
    if not isinstance(doc, dict):
        notes.append(f"{path}: not a JSON object; numbers skipped")
        return None
    return doc


def result_files(folder: Path, notes: list[str]) -> frozenset[str] | None:
    """The files (relative POSIX paths) of the result in ``folder`` as its result manifest lists
    them, or ``None`` when it lists none (an older folder: every file is the result's). Files
    beyond the list are named in a note."""
    manifest = result_manifest(folder) or {}
    files = manifest.get("files")
    if not isinstance(files, list):
        return None
    listed = frozenset(f for f in files if isinstance(f, str))
    extra = sorted(rel for p in folder.rglob("*") if p.is_file() and p.name != RESULT_MANIFEST
                   and (rel := p.relative_to(folder).as_posix()) not in listed)
    if extra:
        more = ", …" if len(extra) > 3 else ""
        notes.append(f"{folder}: {len(extra)} file(s) not part of its `mouselift "
                     f"{manifest.get('command')}` result, not shown: {', '.join(extra[:3])}{more}")
    return listed


def _shown(folder: Path, name: str, listed: frozenset[str] | None) -> bool:
    """Whether the file ``folder/name`` exists and belongs to the result (:func:`result_files`)."""
    return (folder / name).is_file() and (listed is None or Path(name).as_posix() in listed)


def _reports(folder: Path, notes: list[str], listed: frozenset[str] | None = None
             ) -> list[dict[str, Any]]:
    """The numbers files of ``folder`` that exist, belong to its result and parse
    (:data:`REPORT_NAMES` order)."""
    docs = []
    for name in REPORT_NAMES:
        if _shown(folder, name, listed) and (doc := _read_json(folder / name, notes)) is not None:
            docs.append(doc)
    return docs


def read_rgb(path: str | os.PathLike, max_size: int | None = None) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)`` of an image file, RGBA composited on white; with ``max_size``
    shrunk (aspect kept) to at most that on its longer side. Raises PIL's
    ``UnidentifiedImageError`` / ``OSError`` for an unreadable file."""
    with Image.open(path) as image:
        image = image.convert("RGBA")
        if max_size is not None:
            image.thumbnail((max_size, max_size))
        rgba = np.asarray(image, dtype=np.float32) / 255.0
    return to_uint8(composite(torch.from_numpy(rgba), WHITE))


def _is_sample(folder: Path) -> bool:
    """A prepared sample: cameras and images, no Gaussians of its own."""
    return ((folder / CAMERAS_FILE).is_file() and (folder / IMAGES_DIR).is_dir()
            and not (folder / PLY_NAME).is_file())


# ------------------------------------------------------------------------------- views


def sample_views(sample: Path) -> list[CameraView]:
    """The real views of a prepared sample: its rig cameras, then its ``eval/`` cameras
    (``held_out``), with their images composited on white. Read by
    :func:`mouselift.data.sample.load_sample_views` (a broken sample is a one-line error)."""
    parts = [(load_sample_views(sample), "", False)]
    if has_eval_views(sample):
        parts.append((load_sample_views(sample / EVAL_DIR), f"{EVAL_DIR}/", True))
    out = []
    for views, prefix, held_out in parts:
        images = to_uint8(composite(views.rgba, WHITE))
        for k, camera in enumerate(views.cameras):
            out.append(CameraView(prefix + camera.name, camera, images[k], held_out))
    return out


def generated_views(folder: Path, notes: list[str], listed: frozenset[str] | None = None
                    ) -> list[CameraView]:
    """Cameras of ``folder/opencv_cameras.json`` with the generated images they list (at their
    ``file_path``, else ``views/<camera name>.png``; a camera without a readable image is drawn
    without one). ``[]`` without the file. ``listed``: the result's files
    (:func:`result_files`); others are not used."""
    path = folder / CAMERAS_FILE
    if not _shown(folder, CAMERAS_FILE, listed):
        return []
    cameras = read_opencv_cameras(path)
    frames = json.loads(path.read_text(encoding="utf-8"))["frames"]
    out = []
    for camera, frame in zip(cameras, frames, strict=True):
        candidates = [f"{VIEWS_DIR}/{camera.name}.png"]
        if isinstance(frame.get("file_path"), str):
            candidates.insert(0, frame["file_path"])
        image = None
        for candidate in candidates:
            if _shown(folder, candidate, listed):
                try:
                    image = read_rgb(folder / candidate)
                except (UnidentifiedImageError, OSError):
                    notes.append(f"{folder / candidate}: not a readable image; camera drawn "
                                 "without it")
                break
        out.append(CameraView(camera.name, camera, image))
    return out


def _recorded_sample(folder: Path, docs: list[dict[str, Any]], notes: list[str]) -> Path | None:
    """The sample folder a numbers file names (module docstring), if it is found; a recorded
    folder that is not found adds a note."""
    for doc in docs:
        for key in SAMPLE_KEYS:
            value = doc.get(key)
            if not isinstance(value, str) or not value:
                continue
            recorded = Path(value)
            candidates = [recorded] if recorded.is_absolute() else [recorded, folder / recorded]
            for candidate in candidates:
                if (candidate / CAMERAS_FILE).is_file():
                    return candidate
            if not any(c.exists() for c in candidates) and not recorded.suffix:
                notes.append(f"{folder}: its sample {value} is not found from here; pass "
                             "--sample SAMPLE to show the real views")
    return None


# ------------------------------------------------------------------------------- frames


def _sequence(folder: Path, notes: list[str]) -> list[Frame]:
    """Frames of a folder of PLYs, else of sub-folders holding ``gaussians.ply`` ([] if none)."""
    plys = sorted((p for p in folder.iterdir() if p.suffix.lower() == ".ply" and p.is_file()),
                  key=lambda p: natural_key(p.name))
    if plys:
        return [Frame(p.stem, p) for p in plys]
    subdirs = sorted((p for p in folder.iterdir() if (p / PLY_NAME).is_file()),
                     key=lambda p: natural_key(p.name))
    frames = []
    for sub in subdirs:
        numbers: dict[str, float] = {}
        for doc in _reports(sub, notes):
            numbers.update(flatten_numbers(doc))
        frames.append(Frame(sub.name, sub / PLY_NAME, numbers))
    return frames


def load_scene(path: str | os.PathLike, *, fit: str | os.PathLike | None = None,
               sample: str | os.PathLike | None = None) -> ViewerScene:
    """Read what to show for ``path`` (the kinds of PATH: module docstring).

    ``fit``: the output folder of ``mouselift fit`` when ``path`` is a prepared sample.
    ``sample``: a prepared sample whose real views (cameras and images) to show with any
    Gaussians. Raises :class:`ViewerError` (or the PLY / camera / sample reader's error) with a
    one-line message for anything that cannot be shown.
    """
    path = Path(path)
    fit_dir = None if fit is None else Path(fit)
    sample_dir = None if sample is None else Path(sample)
    if not path.exists():
        raise ViewerError(f"{path}: no such file or folder")
    if fit_dir is not None and not (path.is_dir() and _is_sample(path)):
        raise ConfigError(f"--fit {fit_dir}: PATH must then be a prepared sample "
                          f"(opencv_cameras.json + images/), and {path} is not")
    if fit_dir is not None and sample_dir is not None:
        raise ConfigError("give --fit (PATH is the sample) or --sample, not both")
    for option, folder in (("--fit", fit_dir), ("--sample", sample_dir)):
        if folder is not None and not folder.is_dir():
            raise ConfigError(f"{option} {folder}: no such folder")
    if sample_dir is not None and not (sample_dir / CAMERAS_FILE).is_file():
        raise ConfigError(f"--sample {sample_dir}: not a prepared sample (no {CAMERAS_FILE})")

    notes: list[str] = []
    if path.is_file():
        scene = ViewerScene(path, "ply", [Frame(path.stem, path)], notes=notes)
    elif _is_sample(path):
        if fit_dir is None:
            raise ViewerError(f"{path}: a prepared sample has no Gaussians; give --fit FITDIR "
                              "(the output folder of `mouselift fit` on it)")
        if not (fit_dir / PLY_NAME).is_file():
            raise ViewerError(f"--fit {fit_dir}: no {PLY_NAME} (not a `mouselift fit` output)")
        scene = _outputs_scene(fit_dir, "sample+fit", notes, sample=path)
        scene.source = path
    elif (path / PLY_NAME).is_file():
        scene = _outputs_scene(path, "outputs", notes, sample=sample_dir)
    else:
        frames = _sequence(path, notes)
        if not frames:
            raise ViewerError(f"{path}: no Gaussian PLY in this folder (expected a .ply file, "
                              f"{PLY_NAME}, PLY files or sub-folders holding {PLY_NAME})")
        scene = ViewerScene(path, "sequence" if len(frames) > 1 else "ply", frames, notes=notes)
        for doc in _reports(path, notes):
            scene.metrics.update(flatten_numbers(doc))
        if generated := generated_views(path, notes):
            scene.views[GENERATED] = generated
    if sample_dir is not None and scene.kind in ("ply", "sequence"):
        scene.views = {REAL: sample_views(sample_dir), **scene.views}
    scene.gaussians(0)  # a file that is not a Gaussian PLY fails here, in one line
    return scene


def _outputs_scene(folder: Path, kind: str, notes: list[str], *,
                   sample: Path | None) -> ViewerScene:
    """An output folder with ``gaussians.ply`` (module docstring)."""
    scene = ViewerScene(folder, kind, [Frame(folder.name, folder / PLY_NAME)], notes=notes)
    listed = result_files(folder, notes)
    docs = _reports(folder, notes, listed)
    for doc in docs:
        scene.metrics.update(flatten_numbers(doc))
    if sample is not None:
        scene.views[REAL] = sample_views(sample)
    elif (recorded := _recorded_sample(folder, docs, notes)) is not None:
        try:
            scene.views[REAL] = sample_views(recorded)
        except MouseliftError as exc:  # the user did not name it: show the rest
            notes.append(f"real views not shown: {exc}")
    generated = generated_views(folder, notes, listed)
    if generated:
        scene.views[GENERATED] = generated
    scene.images = [(title, folder / name) for name, title in PANEL_IMAGES
                    if _shown(folder, name, listed)]
    return scene


__all__ = [
    "GENERATED",
    "REAL",
    "CameraView",
    "Frame",
    "ViewerError",
    "ViewerScene",
    "flatten_numbers",
    "generated_views",
    "load_scene",
    "natural_key",
    "read_rgb",
    "result_files",
    "sample_views",
]
