"""GS-LRM weights on disk: FaceLift's released checkpoint, and our checkpoint folders.

**FaceLift's** (``checkpoints/gslrm/ckpt_0000000000021125.pt`` of ``wlyu/OpenFaceLift``): a
``torch.save`` dict whose ``"model"`` entry is the state dict of the ``facelift`` preset plus 32
``loss_calculator.perceptual_loss_module.net.*`` tensors (the VGG19 of its perceptual loss), which
are ignored here. It is read with ``weights_only=True`` (no code from the file runs) and loaded
strictly: any missing, unexpected or mis-shaped tensor is a one-line error.

**Ours**: a folder ::

    model.safetensors   the weights (EMA weights when written by training)
    config.json         the GSLRMConfig: the folder alone rebuilds the model
    rig/rig.json        the rig whose cameras the model reconstructs from (see cameras.rig)
    mouselift.json      format, versions (mouselift, torch)

written atomically; loading can demand a rig and refuses another one, naming both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..atomic import atomic_dir
from ..cameras.rig import RIG_DIR, Rig, RigError, facelift_rig, load_rig, require_same_rig
from ..errors import WeightsError
from ..metrics.weights_io import load_torch_file
from ..train.checkpoints import resolve_payload
from .config import GSLRMConfig, load_gslrm_config
from .model import GSLRM

#: A training checkpoint's payload: our GS-LRM folder (EMA weights, config, rig).
MODEL_DIR = "model"
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
INFO_FILE = "mouselift.json"
FORMAT = "mouselift-gslrm"
#: Extra tensors of FaceLift's checkpoint (its perceptual-loss VGG19), not part of the model.
FACELIFT_EXTRA_PREFIX = "loss_calculator."


def read_facelift_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model tensors of FaceLift's GS-LRM checkpoint (``["model"]``, VGG tensors dropped)."""
    path = Path(path)
    data = load_torch_file(path, "GS-LRM checkpoint")
    state = data.get("model", data) if isinstance(data, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise WeightsError(f"{path}: expected a dict with a 'model' state dict of tensors "
                           "(FaceLift's GS-LRM checkpoint)")
    return {k: v for k, v in state.items() if not k.startswith(FACELIFT_EXTRA_PREFIX)}


def load_state_strictly(model: GSLRM, state: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict(state)`` with one line naming what is missing, unexpected or
    mis-shaped (the first few of each)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    problems = []
    for what, items in (("missing", missing), ("unexpected", unexpected),
                        ("mis-shaped (file vs model)", shapes)):
        if items:
            more = f" (+{len(items) - 3} more)" if len(items) > 3 else ""
            problems.append(f"{len(items)} {what}: {', '.join(items[:3])}{more}")
    if problems:
        raise WeightsError(f"{source}: does not fit GS-LRM {_describe(model.config)}: "
                           + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def load_facelift_checkpoint(path: str | os.PathLike, config: GSLRMConfig | None = None, *,
                             device: str | torch.device = "cpu") -> GSLRM:
    """FaceLift's released GS-LRM (the ``facelift`` preset unless ``config`` is given), weights
    loaded strictly, in eval mode."""
    state = read_facelift_state_dict(path)
    config = config or load_gslrm_config("facelift")
    with torch.device("meta"):
        model = GSLRM(config)
    model = model.to_empty(device=device)
    load_state_strictly(model, {k: v.to(device) for k, v in state.items()}, str(path))
    return model.eval()


def save_gslrm(model: GSLRM, folder: str | os.PathLike, rig: Rig, *,
               state: dict[str, torch.Tensor] | None = None) -> Path:
    """Write our checkpoint folder (layout: module docstring) atomically; ``state`` overrides
    the model's own weights (e.g. EMA weights)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous()
               for k, v in (state or model.state_dict()).items()}
    with atomic_dir(folder, replace=True) as tmp:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        (tmp / CONFIG_FILE).write_text(model.config.model_dump_json(indent=1) + "\n")
        rig.save(tmp / RIG_DIR)
        info = {"format": FORMAT, "mouselift": __version__, "torch": torch.__version__,
                "rig_fingerprint": rig.fingerprint()}
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n")
    return folder


def load_gslrm(source: str | os.PathLike, *, rig: Rig | None = None,
               device: str | torch.device = "cpu",
               facelift_config: GSLRMConfig | None = None) -> tuple[GSLRM, Rig]:
    """``(model, its rig)`` from our checkpoint folder, or from FaceLift's ``.pt`` (the
    ``facelift`` preset unless ``facelift_config``; its rig is :func:`facelift_rig`). ``source``
    may also name a training run (its newest complete checkpoint) or a training checkpoint
    (its ``model/``): :func:`~mouselift.train.checkpoints.resolve_payload`. With ``rig``, a
    checkpoint made for another rig is refused, naming both."""
    path, _ = resolve_payload(source, MODEL_DIR)
    if path.is_file():
        model = load_facelift_checkpoint(path, facelift_config, device=device)
        own = facelift_rig(model.config.image_size)
    else:
        model, own = _load_folder(path, device)
    if rig is not None:
        require_same_rig(rig, "the requested rig", own, str(path))
    return model, own


def _load_folder(folder: Path, device: str | torch.device) -> tuple[GSLRM, Rig]:
    from safetensors.torch import load_file

    if not (folder / WEIGHTS_FILE).is_file() or not (folder / CONFIG_FILE).is_file():
        raise WeightsError(f"{folder}: not a GS-LRM checkpoint (needs {WEIGHTS_FILE} and "
                           f"{CONFIG_FILE}, or give FaceLift's .pt file)")
    config = load_gslrm_config(folder / CONFIG_FILE)
    try:
        own = load_rig(folder / RIG_DIR)
    except RigError as exc:
        raise WeightsError(f"{folder}: {exc}") from None
    try:
        state = load_file(str(folder / WEIGHTS_FILE), device=str(device))
    except Exception as exc:
        raise WeightsError(f"{folder / WEIGHTS_FILE}: unreadable ({type(exc).__name__})") from None
    with torch.device("meta"):
        model = GSLRM(config)
    model = model.to_empty(device=device)
    load_state_strictly(model, state, str(folder / WEIGHTS_FILE))
    return model.eval(), own


def _describe(config: GSLRMConfig) -> str:
    return (f"(width {config.width}, depth {config.depth}, patch {config.patch_size}, "
            f"SH degree {config.sh_degree})")


def read_info(folder: str | os.PathLike) -> dict[str, Any]:
    """``mouselift.json`` of a checkpoint folder (empty when absent)."""
    path = Path(folder) / INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


__all__ = [
    "MODEL_DIR",
    "load_facelift_checkpoint",
    "load_gslrm",
    "load_state_strictly",
    "read_facelift_state_dict",
    "save_gslrm",
]
