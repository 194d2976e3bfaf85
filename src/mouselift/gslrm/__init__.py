"""Stage 2: GS-LRM — posed views → one 3D Gaussian per pixel (FaceLift's second stage).

:mod:`.config` (architecture presets), :mod:`.model` (the network, FaceLift-compatible),
:mod:`.checkpoints` (FaceLift's checkpoint and ours), :mod:`.data` (training samples),
:mod:`.losses` (training losses).
"""
