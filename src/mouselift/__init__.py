"""mouselift: lift a single image of a laboratory mouse to 3D Gaussians.

Sub-packages by domain: :mod:`mouselift.cameras` (camera maths and calibration files),
:mod:`mouselift.data` (recordings, synthetic rigs, dataset preparation), :mod:`mouselift.config`
(typed presets) and :mod:`mouselift.cli` (the ``mouselift`` command, a thin layer over the rest).
"""

__version__ = "0.1.0"
