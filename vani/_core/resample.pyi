from typing import Final

from vani._core.resample_filter import SUPPORTED_RATES as SUPPORTED_RATES

KERNEL: str
"""The output loop new resamplers use: ``"avx"`` where the CPU has it, else ``"base"``."""

def _use_kernel(name: str) -> None: ...

class Resampler:
    """One int16 mono stream (s16le bytes) from ``in_rate`` to ``out_rate``; not thread-safe."""

    in_rate: Final[int]
    out_rate: Final[int]
    up: Final[int]
    down: Final[int]
    taps: Final[int]
    delay: Final[int]
    def __init__(self, in_rate: int, out_rate: int, phase: str = ...) -> None: ...
    def feed(self, pcm: bytes | bytearray | memoryview) -> bytes:
        """Push s16le bytes (any length) and return the output samples they complete."""
    def flush(self) -> bytes:
        """Return the rest of the stream, computed with silence after the end, and start anew."""
    def reset(self) -> None:
        """Forget the stream: history, position and any carried odd byte."""
