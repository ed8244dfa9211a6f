"""Reference PCM functions: the same contract as ``vani._core.pcm`` in plain Python."""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from vani.errors import AudioFormatError, ConfigurationError

if TYPE_CHECKING:
    from typing_extensions import Buffer


def _bytes_of(src: Buffer, frame_bytes: int, what: str) -> memoryview:
    view = memoryview(src).cast("B")
    if len(view) % frame_bytes:
        raise AudioFormatError(
            f"expected whole {what} (a multiple of {frame_bytes} bytes), got {len(view)} bytes"
        )
    return view


def _s16(src: Buffer) -> memoryview:
    return _bytes_of(src, 2, "int16 samples").cast("h")


def _clip(v: float) -> int:
    return int(min(max(v, -32768.0), 32767.0))


def int16_to_float32(src: Buffer) -> bytes:
    return array("f", [s / 32768.0 for s in _s16(src)]).tobytes()


def int16_to_float32_into(src: Buffer, dst: Buffer) -> int:
    samples = _s16(src)
    out = memoryview(dst)
    if out.readonly:
        raise BufferError("dst is not writable")
    if out.itemsize != 4 or out.format.lstrip("<=@") != "f":
        raise TypeError(f"expected a float32 buffer for dst, got format {out.format!r}")
    if not out.c_contiguous:
        raise BufferError("dst is not C-contiguous")
    if out.nbytes < len(samples) * 4:
        raise AudioFormatError(
            f"expected room for {len(samples)} float32 samples in dst, got {out.nbytes // 4}"
        )
    out.cast("B")[: len(samples) * 4] = int16_to_float32(samples)
    return len(samples)


def float32_to_int16(src: Buffer) -> bytes:
    out = array("h")
    for x in _bytes_of(src, 4, "float32 samples").cast("f"):
        v = x * 32768.0
        if v != v:
            out.append(0)
        else:
            # Clipping first keeps round() away from infinities; round() is half to even.
            out.append(round(min(max(v, -32768.0), 32767.0)))
    return out.tobytes()


def apply_gain(src: Buffer, gain: float) -> bytes:
    if not math.isfinite(gain):
        raise ConfigurationError(f"expected a finite gain, got {gain!r}")
    return array("h", [_clip(round(s * gain)) for s in _s16(src)]).tobytes()


def mix(a: Buffer, b: Buffer) -> bytes:
    sa, sb = _s16(a), _s16(b)
    n = max(len(sa), len(sb))
    out = array("h", bytes(2 * n))
    for i in range(n):
        total = (sa[i] if i < len(sa) else 0) + (sb[i] if i < len(sb) else 0)
        out[i] = _clip(total)
    return out.tobytes()


def rms(src: Buffer) -> float:
    samples = _s16(src)
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def dbfs(src: Buffer) -> float:
    r = rms(src)
    return -math.inf if r == 0.0 else 20.0 * math.log10(r / 32768.0)


def mono_to_stereo(src: Buffer) -> bytes:
    out = array("h")
    for s in _s16(src):
        out.extend((s, s))
    return out.tobytes()


def stereo_to_mono(src: Buffer) -> bytes:
    samples = _bytes_of(src, 4, "stereo int16 frames").cast("h")
    means = [(samples[i] + samples[i + 1]) >> 1 for i in range(0, len(samples), 2)]
    return array("h", means).tobytes()


# G.711, written from the segment rules (see csrc/pcm.pyx for the same rules in Cython).


def _ulaw_code(sample: int) -> int:
    v = sample >> 2  # 14-bit
    mag, mask = (-v, 0x7F) if v < 0 else (v, 0xFF)
    biased = min(mag, 8159) + 33
    seg = biased.bit_length() - 6
    if seg > 7:
        return 0x7F ^ mask
    return ((seg << 4) | ((biased >> (seg + 1)) & 0xF)) ^ mask


def _alaw_code(sample: int) -> int:
    v = sample >> 3  # 13-bit
    mag, mask = (v, 0xD5) if v >= 0 else (-v - 1, 0x55)
    if mag < 32:
        return ((mag >> 1) & 0xF) ^ mask
    seg = mag.bit_length() - 5
    return ((seg << 4) | ((mag >> seg) & 0xF)) ^ mask


def _ulaw_value(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0xF) << 3) + 132) << ((u >> 4) & 7)
    return 132 - t if u & 0x80 else t - 132


def _alaw_value(code: int) -> int:
    a = code ^ 0x55
    seg = (a >> 4) & 7
    t = ((a & 0xF) << 4) + 8 if seg == 0 else (((a & 0xF) << 4) + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def ulaw_encode(src: Buffer) -> bytes:
    return bytes(_ulaw_code(s) for s in _s16(src))


def alaw_encode(src: Buffer) -> bytes:
    return bytes(_alaw_code(s) for s in _s16(src))


def ulaw_decode(src: Buffer) -> bytes:
    return array("h", [_ulaw_value(c) for c in memoryview(src).cast("B")]).tobytes()


def alaw_decode(src: Buffer) -> bytes:
    return array("h", [_alaw_value(c) for c in memoryview(src).cast("B")]).tobytes()


def _check_width(width: object) -> None:
    if isinstance(width, bool) or width != 2:
        raise AudioFormatError(
            f"expected width 2 (16-bit samples), got {width!r}; only 16-bit PCM is supported"
        )


def lin2ulaw(fragment: Buffer, width: int) -> bytes:
    _check_width(width)
    return ulaw_encode(fragment)


def ulaw2lin(fragment: Buffer, width: int) -> bytes:
    _check_width(width)
    return ulaw_decode(fragment)


def lin2alaw(fragment: Buffer, width: int) -> bytes:
    _check_width(width)
    return alaw_encode(fragment)


def alaw2lin(fragment: Buffer, width: int) -> bytes:
    _check_width(width)
    return alaw_decode(fragment)
