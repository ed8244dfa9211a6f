"""Cutting a PCM byte stream into fixed frames of N × 10 ms.

:class:`PCMChunker` (compiled, ``vani._core.chunker``) takes int16 PCM in whatever pieces it
arrives — a socket read, a file block, an odd byte count with half a sample left over — and
returns whole frames of ``frame_ms`` milliseconds::

    chunker = PCMChunker(sample_rate=16000, frame_ms=20)   # 640-byte frames
    for frame in chunker.feed(data):
        ...
    tail = chunker.flush()          # the last partial frame, padded with silence

Frames are cut by byte count from the start of the stream, so every frame starts on a sample
(and, for stereo, a channel) boundary, and streaming gives the same frames as one call with all
the data. ``sample_rate × frame_ms`` must be a whole number of samples (``frame_ms=10`` at
22050 Hz is refused; use 20). Bad settings raise :class:`~vani.errors.ConfigurationError` at
construction. Not thread-safe: one owner feeds it.
"""

from __future__ import annotations

from vani._core.chunker import PCMChunker

__all__ = ["PCMChunker"]
