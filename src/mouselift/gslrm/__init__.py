"""Stage 2: GS-LRM — posed views → one 3D Gaussian per pixel (FaceLift's second stage).

:mod:`.config` (architecture presets), :mod:`.model` (the network, FaceLift-compatible),
:mod:`.checkpoints` (FaceLift's checkpoint and ours), :mod:`.dataset` (training samples),
:mod:`.losses` (training losses), :mod:`.inference` (views + cameras → filtered Gaussians:
FaceLift's inference filters, a checkpoint loaded with its rig).
"""
