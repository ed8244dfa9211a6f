"""PCM conversions and G.711 codecs over native-endian int16 (see ``csrc/pcm.pyx``).

Every function is pure and thread-safe; inputs are any bytes-like object.
"""

from typing_extensions import Buffer

def int16_to_float32(src: Buffer) -> bytes:
    """int16 PCM to native float32 bytes, ``sample / 32768``; odd length: AudioFormatError."""

def int16_to_float32_into(src: Buffer, dst: Buffer) -> int:
    """int16 PCM into the start of a writable float32 buffer; returns samples written."""

def float32_to_int16(src: Buffer) -> bytes:
    """float32 to int16 PCM: ``round(x * 32768)`` half to even, clipped; NaN becomes 0."""

def apply_gain(src: Buffer, gain: float) -> bytes:
    """int16 PCM times a linear gain, rounded half to even and saturated."""

def mix(a: Buffer, b: Buffer) -> bytes:
    """Saturating sum of two int16 streams; as long as the longer one."""

def rms(src: Buffer) -> float:
    """Root mean square in sample units (0 to 32768); 0.0 when empty."""

def dbfs(src: Buffer) -> float:
    """``20 * log10(rms / 32768)``; ``-inf`` for silence or empty input."""

def mono_to_stereo(src: Buffer) -> bytes:
    """Each sample duplicated into an interleaved left/right pair."""

def stereo_to_mono(src: Buffer) -> bytes:
    """``(left + right) >> 1`` per interleaved frame; length must be a multiple of 4."""

def ulaw_encode(src: Buffer) -> bytes:
    """int16 PCM to G.711 μ-law (as ``audioop.lin2ulaw(src, 2)``)."""

def alaw_encode(src: Buffer) -> bytes:
    """int16 PCM to G.711 A-law (as ``audioop.lin2alaw(src, 2)``)."""

def ulaw_decode(src: Buffer) -> bytes:
    """G.711 μ-law to int16 PCM (as ``audioop.ulaw2lin(src, 2)``)."""

def alaw_decode(src: Buffer) -> bytes:
    """G.711 A-law to int16 PCM (as ``audioop.alaw2lin(src, 2)``)."""

def lin2ulaw(fragment: Buffer, width: int) -> bytes:
    """``audioop.lin2ulaw``; ``width`` must be 2, else AudioFormatError."""

def ulaw2lin(fragment: Buffer, width: int) -> bytes:
    """``audioop.ulaw2lin``; ``width`` must be 2, else AudioFormatError."""

def lin2alaw(fragment: Buffer, width: int) -> bytes:
    """``audioop.lin2alaw``; ``width`` must be 2, else AudioFormatError."""

def alaw2lin(fragment: Buffer, width: int) -> bytes:
    """``audioop.alaw2lin``; ``width`` must be 2, else AudioFormatError."""
