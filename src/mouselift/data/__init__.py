"""Recordings and datasets: video I/O, the MAMMAL recording layout, synthetic recordings
(:mod:`.synth`), dataset preparation (:mod:`.prepare`) and shipped calibrations."""

from .recording import FrameSet, Recording, recording_summary

__all__ = ["FrameSet", "Recording", "recording_summary"]
