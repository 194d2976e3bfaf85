"""Recordings and datasets: video I/O, the MAMMAL recording layout, synthetic recordings
(:mod:`.synth`), dataset preparation (:mod:`.prepare`), the dataset layout (:mod:`.layout`),
rigs of datasets (:mod:`.dataset_rig`) and shipped calibrations."""

from ..lazy import lazy_exports

_EXPORTS = {
    "FrameSet": ".recording",
    "Recording": ".recording",
    "recording_summary": ".recording",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["FrameSet", "Recording", "recording_summary"]
