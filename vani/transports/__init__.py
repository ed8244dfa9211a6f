"""Transports: where a call's audio enters and leaves the pipeline.

:class:`Transport` is the interface (``input()`` / ``output()`` processors sharing a clock);
:class:`FileTransport` plays a caller WAV and records the call as a stereo WAV. See
:mod:`vani.transports.base` for the output conventions (pacing, speaking frames, barge-in, and
text released only once its audio has played).
"""

from vani.transports.base import (
    BaseInputTransport,
    BaseOutputTransport,
    Transport,
    TransportParams,
)
from vani.transports.clock import Clock, VirtualClock, WallClock
from vani.transports.file import CallRecording, FileTransport

__all__ = [
    "BaseInputTransport",
    "BaseOutputTransport",
    "CallRecording",
    "Clock",
    "FileTransport",
    "Transport",
    "TransportParams",
    "VirtualClock",
    "WallClock",
]
