"""Streaming sample-rate conversion of int16 mono PCM.

:class:`StreamResampler` converts between any two of 8000, 16000, 22050, 24000, 32000, 44100 and
48000 Hz with the compiled polyphase resampler (``vani._core.resample``): passband flat within
0.1 dB up to 0.85 × the lower Nyquist frequency, ≥ 80 dB of attenuation from the lower Nyquist
frequency up (no aliasing, no images), and at most 2 ms of group delay across the passband
(minimum-phase filter). Streaming output equals one-shot output bit for bit, however the input is
split (odd byte counts included).

``phase="linear"`` swaps in a linear-phase filter whose output matches soxr's default (``VHQ``)
stream on speech to within about −70 dB (what ``vani.contrib.pipecat`` uses in place of
Pipecat's soxr resampler), at the cost of a longer delay (96 samples at the lower rate: 12 ms when
8 kHz is involved, 6 ms at 16 kHz) and 2–3× the work. docs/embedding.md.

For other rates, use soxr (``soxr.ResampleStream``), which vani's tests also use as the
reference implementation.
"""

from __future__ import annotations

from typing import Literal

from vani._core.resample import Resampler
from vani._core.resample_filter import SUPPORTED_RATES, design_filter
from vani.errors import ConfigurationError

__all__ = ["SUPPORTED_RATES", "StreamResampler"]


def _check_rate(name: str, rate: object) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int) or rate not in SUPPORTED_RATES:
        supported = ", ".join(map(str, SUPPORTED_RATES))
        raise ConfigurationError(
            f"unsupported {name} {rate!r}; expected one of {supported} Hz "
            "(for other rates, resample with soxr.ResampleStream)"
        )
    return rate


class StreamResampler:
    """Resample one stream of int16 mono little-endian PCM from ``in_rate`` to ``out_rate``.

    ``resample(pcm)`` returns the output that the input so far determines (possibly empty);
    ``flush()`` returns the rest at the end of the stream and readies the object for a new one.
    Over a whole stream of ``n`` input samples the output has ``ceil(n × out_rate / in_rate)``
    samples, lined up in time with the input. When the rates are equal, audio passes through
    unchanged. Rates are validated here; a bad one raises :class:`~vani.errors.ConfigurationError`.

    Not thread-safe: use one resampler per stream, from one thread (or event loop) at a time.
    The conversion releases the GIL.

    ``phase`` is ``"minimum"`` (the default: short delay) or ``"linear"`` (soxr's response).
    """

    __slots__ = ("_core", "_in_rate", "_out_rate", "_phase")

    def __init__(
        self, in_rate: int, out_rate: int, *, phase: Literal["minimum", "linear"] = "minimum"
    ) -> None:
        self._in_rate = _check_rate("in_rate", in_rate)
        self._out_rate = _check_rate("out_rate", out_rate)
        if phase not in ("minimum", "linear"):
            raise ConfigurationError(f"expected phase 'minimum' or 'linear', got {phase!r}")
        self._phase: str = phase
        self._core = Resampler(in_rate, out_rate, phase) if in_rate != out_rate else None

    @property
    def in_rate(self) -> int:
        """Input sample rate in Hz."""
        return self._in_rate

    @property
    def out_rate(self) -> int:
        """Output sample rate in Hz."""
        return self._out_rate

    @property
    def latency_secs(self) -> float:
        """How long an input sample waits before the output that lines up with it is returned.

        This is the filter's group delay at low frequencies (≈ 0.25 ms at 8 kHz); towards the
        passband edge the minimum-phase filter delays content by up to ~1.5 ms in total. The
        linear-phase filter delays every frequency alike (12 ms when 8 kHz is involved).
        """
        if self._core is None:
            return 0.0
        spec = design_filter(self._in_rate, self._out_rate, self._phase)
        return spec.delay / (spec.up * self._in_rate)

    def resample(self, pcm: bytes | bytearray | memoryview) -> bytes:
        """Push s16le bytes (any length) and return the resampled s16le bytes now available."""
        if self._core is None:
            return bytes(pcm)
        return self._core.feed(pcm)

    def flush(self) -> bytes:
        """Return the remaining output of the stream and start a new stream.

        A dangling odd byte (half a sample) at the end of the stream is discarded.
        """
        if self._core is None:
            return b""
        return self._core.flush()

    def reset(self) -> None:
        """Discard the stream in progress (history, position, carried byte)."""
        if self._core is not None:
            self._core.reset()
