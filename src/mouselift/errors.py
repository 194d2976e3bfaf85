"""User-facing errors.

Every mistake a user can make (a missing file, a malformed calibration, a bad option) raises a
subclass of :class:`MouseliftError` with a one-line message that names the offending file or value.
The CLI prints such errors as a single line and exits with status 2; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


class MouseliftError(Exception):
    """Base class for errors caused by user input, reported in one line."""


class CalibrationError(MouseliftError):
    """A calibration file or camera definition is missing, malformed or physically impossible."""


class RecordingError(MouseliftError):
    """A recording (videos, masks, calibration) is missing, unreadable or inconsistent."""


class ConfigError(MouseliftError):
    """A configuration file or option is invalid (unknown key, wrong type, bad value)."""


class SplatFormatError(MouseliftError):
    """A Gaussian splat file (PLY, ``.splat``) is missing, malformed or not a Gaussian file."""


class DatasetError(MouseliftError):
    """A prepared dataset is missing a file or does not fit what it is used for."""


class WeightsError(MouseliftError):
    """A weights file (VGG, LPIPS, a checkpoint) is missing, unreadable or has wrong keys/shapes."""
