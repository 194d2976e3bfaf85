"""mouselift: lift a single image of a laboratory mouse to 3D Gaussians.

Sub-packages by domain, lowest layer first (imports only run downward):

* base modules: :mod:`mouselift.errors`, :mod:`mouselift.atomic` (atomic files and folders),
  :mod:`mouselift.images` (backgrounds, compositing, grids), :mod:`mouselift.config` (typed
  presets shipped in ``mouselift/configs/``);
* :mod:`mouselift.cameras` — camera maths, calibration files, rigs;
* :mod:`mouselift.data` — video I/O, recordings, synthetic recordings, dataset preparation and
  the dataset layout;
* :mod:`mouselift.splat` — Gaussians, PLY, rendering (CPU rasteriser, gsplat), turntables;
* :mod:`mouselift.metrics` — PSNR, SSIM, LPIPS;
* :mod:`mouselift.fit` — per-scene optimisation of Gaussians (baseline, pseudo ground truth);
* :mod:`mouselift.train` — the training engine both stages run on;
* :mod:`mouselift.mvdiff` — Stage 1, multi-view diffusion;
* :mod:`mouselift.flows` — end-to-end flows (the demo);
* :mod:`mouselift.cli` — the ``mouselift`` command, a thin layer over the rest.

Conventions (axes, pixels, poses, quaternions, units): ``docs/conventions.md``.
"""

#: The release; CHANGELOG.md lists what changed in each (pyproject.toml reads it from here).
__version__ = "0.5.0"
