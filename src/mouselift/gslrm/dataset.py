"""Training data of Stage 2 (GS-LRM): prepared samples as (posed input views, posed target views).

Every item is one sample (one frame of the recording). Its views are the sample's rig images
(``images/cam_XXX.png``, in the order of its ``opencv_cameras.json``) and, when present and
wanted, its held-out views (``eval/``). Each view keeps **the sample's own camera** as written in
its JSON (not a rig average).

**Which views.** ``num_input_views`` inputs come from the rig views only — held-out views are
never inputs. ``input_selection="random"`` draws them (a random subset in random order, as
FaceLift's training does), ``"fixed"`` takes the first ones in camera order. Targets: with
``target_has_input`` (FaceLift's default) the ``num_target_views`` rig targets are the inputs,
in input order, followed by ``num_target_views − num_input_views`` further rig views; without it
they are ``num_target_views`` rig views that are not inputs. Either way the held-out views follow
as extra targets when ``use_eval_views`` (so ``Vt = num_target_views + number of eval views``).

**Images.** RGBA is composited over the item's background colour at the stored resolution
(``rgb·α + bg·(1 − α)``, straight alpha, :func:`mouselift.images.composite`), then — only when
``image_size`` differs — composite and alpha are resized with antialiased bilinear filtering whose
edges map to edges (the convention of :meth:`Camera.crop_and_resize`), and the intrinsics are
rescaled accordingly. Because the filter weights sum to one, resizing the composite equals
compositing the resized premultiplied colour: there is no fringe of the stored background colour.
``target_alpha`` is the (resized) mask. One background per item: ``white`` (FaceLift's), ``black``,
``grey``, or ``random`` (one uniform RGB colour per object, FaceLift's ``random``).
``target_seen`` is the share of each pixel its camera saw: 0 where the crop ran past its
source image (:attr:`~mouselift.data.sample.SampleViews.unseen`: unknown there, not background),
1 elsewhere — all ones for samples whose record does not say (FaceLift's data).

**Batch convention** (an item; a batch adds a leading ``B`` to every tensor, see
:func:`collate_gslrm`):

=================  ====================  ==========================================================
key                shape / type          meaning
=================  ====================  ==========================================================
``input_images``   ``(Vi, 3, H, W)``     float32 in [0, 1], composited on ``background``
``input_c2w``      ``(Vi, 4, 4)``        float32 camera-to-world, OpenCV axes, the sample's world
``input_K``        ``(Vi, 3, 3)``        float32 intrinsics in **OpenCV pixels**: the centre of
                                         pixel column ``i`` is at ``u = i`` (FaceLift's
                                         ``fxfycxcy`` has ``cx + 0.5, cy + 0.5``)
``input_index``    ``(Vi, 2)`` int64     ``(view_idx, scene_idx)`` of each input
``target_images``  ``(Vt, 3, H, W)``     as ``input_images``
``target_alpha``   ``(Vt, 1, H, W)``     float32 mask (alpha) in [0, 1]
``target_seen``    ``(Vt, 1, H, W)``     float32 share of the pixel its camera saw, in [0, 1]
``target_c2w``     ``(Vt, 4, 4)``        as ``input_c2w``
``target_K``       ``(Vt, 3, 3)``        as ``input_K``
``target_is_eval`` ``(Vt,)`` bool        the view is a held-out (``eval/``) view
``index``          ``(Vt, 2)`` int64     ``(view_idx, scene_idx)`` of each target
``input_depth``    ``(Vi, 1, H, W)``     with ``geometry``: float32 camera-frame z of each
                                         pixel's first surface (``SAMPLE/geometry/``), 0 where
                                         none
``target_depth``   ``(Vt, 1, H, W)``     with ``geometry``: as ``input_depth``
``has_depth``      ``()`` bool           with ``geometry``: the sample has geometry targets
                                         (without them both depths are 0)
``background``     ``(3,)``              float32 RGB the images are composited on
``sample``         ``str``               the sample folder name (for messages)
=================  ====================  ==========================================================

``view_idx`` is the view's position in the sample's camera list, held-out views numbered after the
rig views (rig views ``0 … C−1``, ``eval/`` views ``C, C+1, …``); ``scene_idx`` is the sample's
index in this dataset (its line in the split list). The same pair in ``input_index`` and ``index``
means the same image. Renders compared with the targets must use the item's ``background``.

**Depth.** With ``geometry``, each view's depth map (:func:`mouselift.data.geometry.read_depth`)
is resized as the images are, averaging only valid pixels: ``resize(d·v) / resize(v)`` where at
least half the covered area is valid (``v`` = the map is positive), else 0. Depth is a camera-frame
``z`` and so unchanged by resizing an image.

**Determinism.** Every random choice (input views, further targets, a random background) comes
from one NumPy generator seeded with ``(seed, epoch, index)`` (``SeedSequence``, the default of
:class:`~mouselift.data.split_dataset.SplitDataset`); :meth:`GSLRMDataset.set_epoch` sets the
epoch. An item is therefore a function of these three numbers only — the same whatever
the worker count or order, and a resumed run sees exactly what the uninterrupted run would have.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from ..config import StrictModel
from ..data.geometry import has_geometry, read_depth
from ..data.layout import EVAL_DIR
from ..data.sample import SampleError, SampleViews, has_eval_views, load_sample_views
from ..data.split_dataset import SplitDataset
from ..errors import DatasetError
from ..images import BACKGROUNDS, composite, resize
from .model import cameras_to_tensors

BackgroundChoice = Literal["white", "black", "grey", "random"]


class GSLRMDataConfig(StrictModel):
    """What a Stage-2 training item holds (FaceLift's choices as defaults where it has one)."""

    renamed_keys: ClassVar[dict[str, str]] = {"resolution": "image_size"}

    num_input_views: int = Field(5, ge=1, description="input views per object (rig views only)")
    num_target_views: int = Field(
        6, ge=1, description="rig target views per object (held-out views come on top)")
    target_has_input: bool = Field(
        True, description="the inputs are among the targets (FaceLift's), listed first")
    use_eval_views: bool = Field(
        True, description="add a sample's held-out eval/ views as extra targets when present")
    input_selection: Literal["random", "fixed"] = Field(
        "random", description="random: a seeded draw per item and epoch; fixed: the first "
        "views in camera order")
    background: BackgroundChoice = Field(
        "white", description="colour behind the mouse (FaceLift: white); random: one colour "
        "per object")
    image_size: int | None = Field(
        None, ge=8, description="square side in pixels the views are resized to (train gslrm: "
        "default the model's image_size; another size trains and saves the model at that size. "
        "The dataset alone: default the samples' own)")
    geometry: bool = Field(
        False, description="load the samples' geometry targets (depth maps of `mouselift "
        "geometry`) as input_depth / target_depth (train gslrm: on when losses.depth > 0)")

    @model_validator(mode="after")
    def _views(self) -> GSLRMDataConfig:
        if self.target_has_input and self.num_target_views < self.num_input_views:
            raise ValueError(
                f"num_target_views ({self.num_target_views}) must be at least num_input_views "
                f"({self.num_input_views}) when target_has_input")
        return self

    def rig_views_needed(self) -> int:
        """Rig views a sample must have."""
        if self.target_has_input:
            return self.num_target_views
        return self.num_input_views + self.num_target_views


@dataclass(frozen=True)
class ViewChoice:
    """Rig views of one item: ``inputs`` and the rig ``targets`` (indices into the rig views)."""

    inputs: list[int]
    targets: list[int]


def choose_views(config: GSLRMDataConfig, num_rig_views: int,
                 rng: np.random.Generator) -> ViewChoice:
    """The input and rig target views of one item (see the module docstring).

    ``rng`` is always advanced by one permutation, whatever the selection mode, so later draws
    (the background) do not depend on it."""
    order = rng.permutation(num_rig_views).tolist()
    if config.input_selection == "fixed":
        order = list(range(num_rig_views))
    vi = config.num_input_views
    inputs = order[:vi]
    if config.target_has_input:
        targets = inputs + order[vi:config.num_target_views]
    else:
        targets = order[vi:vi + config.num_target_views]
    return ViewChoice(inputs, targets)


class GSLRMDataset(SplitDataset):
    """Stage-2 items of the samples listed in ``<dataset_dir>/<split>.txt`` (see the module
    docstring for the item layout and the view choice).

    ``seed`` and the epoch (:meth:`set_epoch`) key every random draw. Construction reads the first
    sample to check that it has enough views, so a wrong setting fails at once with a one-line
    :class:`DatasetError`; a later sample that does not fit raises a :class:`SampleError`."""

    def __init__(self, dataset_dir: str | os.PathLike, split: str,
                 config: GSLRMDataConfig | None = None, *, seed: int = 0) -> None:
        if seed < 0:
            raise DatasetError(f"seed must be non-negative, got {seed}")
        super().__init__(dataset_dir, split, seed=seed)
        self.config = config or GSLRMDataConfig()
        first = self.root / self.samples[0]
        try:
            views = load_sample_views(first)
        except SampleError as exc:
            raise DatasetError(str(exc)) from None
        problem = self._problem(len(views))
        if problem:
            raise DatasetError(f"{first}: {problem}")

    def _problem(self, num_rig_views: int) -> str | None:
        cfg = self.config
        if num_rig_views < cfg.num_input_views:
            return (f"has {num_rig_views} rig views, fewer than num_input_views "
                    f"({cfg.num_input_views})")
        needed = cfg.rig_views_needed()
        if num_rig_views < needed:
            if cfg.target_has_input:
                return (f"has {num_rig_views} rig views, fewer than num_target_views "
                        f"({cfg.num_target_views})")
            return (f"has {num_rig_views} rig views, fewer than num_input_views + "
                    f"num_target_views ({needed}) without target_has_input")
        return None

    def _background(self, rng: np.random.Generator) -> torch.Tensor:
        colour = rng.random(3)  # always drawn: the draw order never depends on the setting
        if self.config.background == "random":
            return torch.from_numpy(colour).float()
        return torch.tensor(BACKGROUNDS[self.config.background], dtype=torch.float32)

    def _load(self, folder: Path) -> tuple[SampleViews, SampleViews | None]:
        rig = load_sample_views(folder)
        held_out = None
        if self.config.use_eval_views and has_eval_views(folder):
            held_out = load_sample_views(folder / EVAL_DIR)
        return rig, held_out

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"item {index} out of range for {len(self)} samples")
        cfg = self.config
        name = self.samples[index]
        folder = self.root / name
        rig, held_out = self._load(folder)
        problem = self._problem(len(rig))
        if problem:
            raise SampleError(f"{folder}: {problem}")
        rng = self.generator(index)
        choice = choose_views(cfg, len(rig), rng)
        background = self._background(rng)

        width, height = rig.size
        if cfg.image_size is not None:
            width = height = cfg.image_size

        def views(part: SampleViews, idx: list[int]) -> tuple[torch.Tensor, ...]:
            sub = part.subset(idx)
            rgba = sub.rgba  # (V, h, w, 4)
            rgb = composite(rgba, background).permute(0, 3, 1, 2)
            alpha = rgba[..., 3:4].permute(0, 3, 1, 2)
            rgb = resize(rgb.contiguous(), height, width).clamp(0.0, 1.0)
            alpha = resize(alpha.contiguous(), height, width).clamp(0.0, 1.0)
            seen = sub.seen_share(height, width)
            cams = [c if c.size == (width, height) else c.resize(width, height)
                    for c in sub.cameras]
            k, c2w = cameras_to_tensors(cams)
            return rgb, alpha, seen, c2w, k

        in_rgb, _, _, in_c2w, in_k = views(rig, choice.inputs)
        t_rgb, t_alpha, t_seen, t_c2w, t_k = views(rig, choice.targets)
        view_ids = list(choice.targets)
        is_eval = [False] * len(view_ids)
        if held_out is not None:
            e = views(held_out, list(range(len(held_out))))
            t_rgb, t_alpha, t_seen, t_c2w, t_k = (
                torch.cat([a, b]) for a, b in zip((t_rgb, t_alpha, t_seen, t_c2w, t_k), e,
                                                  strict=True))
            view_ids += [len(rig) + j for j in range(len(held_out))]
            is_eval += [True] * len(held_out)
        depth: dict[str, torch.Tensor] = {}
        if cfg.geometry:
            depth = self._depths(folder, rig, held_out, choice, height, width)

        def pairs(ids: list[int]) -> torch.Tensor:
            return torch.tensor([[v, index] for v in ids], dtype=torch.long)

        return {
            "input_images": in_rgb,
            "input_c2w": in_c2w,
            "input_K": in_k,
            "input_index": pairs(choice.inputs),
            "target_images": t_rgb,
            "target_alpha": t_alpha,
            "target_seen": t_seen,
            "target_c2w": t_c2w,
            "target_K": t_k,
            "target_is_eval": torch.tensor(is_eval, dtype=torch.bool),
            "index": pairs(view_ids),
            **depth,
            "background": background,
            "sample": name,
        }

    def _depths(self, folder: Path, rig: SampleViews, held_out: SampleViews | None,
                choice: ViewChoice, height: int, width: int) -> dict[str, torch.Tensor]:
        """``input_depth``, ``target_depth`` and ``has_depth`` of an item (module docstring)."""
        found = has_geometry(folder)

        def load(names: list[str], eval_views: bool) -> torch.Tensor:
            maps = []
            for name in names:
                d = read_depth(folder, name, held_out=eval_views) if found else None
                if d is None:
                    maps.append(torch.zeros(1, height, width))
                    continue
                depth = torch.from_numpy(d)[None, None].double()
                valid = (depth > 0).double()
                if depth.shape[-2:] != (height, width):
                    area = resize(valid, height, width)
                    depth = torch.where(area >= 0.5,
                                        resize(depth * valid, height, width)
                                        / area.clamp_min(1e-12), torch.zeros_like(area))
                maps.append(depth[0].float())
            return torch.stack(maps) if maps else torch.zeros(0, 1, height, width)

        names = rig.view_names
        target = load([names[i] for i in choice.targets], False)
        if held_out is not None:
            target = torch.cat([target, load(held_out.view_names, True)])
        return {"input_depth": load([names[i] for i in choice.inputs], False),
                "target_depth": target, "has_depth": torch.tensor(found)}


def collate_gslrm(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack items into a batch: tensors get a leading ``B``, strings (``sample``) stay a list.

    Items of one batch must agree in shape; a mismatch (e.g. held-out views in some samples
    only) is a one-line :class:`DatasetError`."""
    if not items:
        raise DatasetError("cannot collate an empty batch")
    batch: dict[str, Any] = {}
    for key, first in items[0].items():
        values = [item[key] for item in items]
        if isinstance(first, torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                names = ", ".join(str(item.get("sample", "?")) for item in items)
                raise DatasetError(
                    f"items of one batch differ in {key!r} shape ({sorted(shapes)}; samples "
                    f"{names}): are held-out eval/ views present in some samples only? "
                    "(set use_eval_views: false)")
            batch[key] = torch.stack(values)
        else:
            batch[key] = list(values)
    return batch


__all__ = [
    "BackgroundChoice",
    "GSLRMDataConfig",
    "GSLRMDataset",
    "ViewChoice",
    "choose_views",
    "collate_gslrm",
]
