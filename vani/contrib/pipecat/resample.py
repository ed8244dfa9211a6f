"""Pipecat's ``SOXRStreamAudioResampler`` on vani's compiled polyphase resampler.

Same constructor and methods (``resample``, ``flush``, ``reset``) as Pipecat's; streams between
the rates vani supports (8000, 16000, 22050, 24000, 32000, 44100, 48000 Hz) run on vani's
resampler with its linear-phase filter, designed after soxr's default ``VHQ`` response and
aligned as soxr aligns its output (on speech the two differ by 70–90 dB less than the signal);
any other pair runs on Pipecat's own soxr resampler. ``quality`` only applies to that fallback:
vani's filter is fixed. Guide: docs/embedding.md.
"""

from __future__ import annotations

import time

from pipecat.audio.resamplers.base_audio_resampler import BaseAudioResampler

from vani.audio.resample import SUPPORTED_RATES, StreamResampler

__all__ = ["SOXRStreamAudioResampler"]


class SOXRStreamAudioResampler(BaseAudioResampler):  # type: ignore[misc]
    """A Pipecat ``BaseAudioResampler`` for one stream of 16-bit mono PCM.

    As Pipecat's: one pair of rates per resampler (another pair raises ``ValueError``), and the
    filter history is cleared after ``clear_after_secs`` without audio (``None``: never).
    """

    def __init__(
        self, *, quality: str = "VHQ", clear_after_secs: float | None = 0.2, **kwargs: object
    ) -> None:
        self._quality = quality
        self._clear_after_secs = clear_after_secs
        self._rates: tuple[int, int] | None = None
        self._core: StreamResampler | None = None
        self._fallback: BaseAudioResampler | None = None
        self._last = 0.0

    def _start(self, in_rate: int, out_rate: int) -> None:
        self._rates = (in_rate, out_rate)
        if in_rate in SUPPORTED_RATES and out_rate in SUPPORTED_RATES:
            self._core = StreamResampler(in_rate, out_rate, phase="linear")
        else:
            from pipecat.audio.resamplers.soxr_stream_resampler import (
                SOXRStreamAudioResampler as PipecatResampler,
            )

            self._fallback = PipecatResampler(
                quality=self._quality, clear_after_secs=self._clear_after_secs
            )

    async def resample(self, audio: bytes, in_rate: int, out_rate: int) -> bytes:
        """Resample s16le ``audio`` from ``in_rate`` to ``out_rate``; returns what is ready."""
        if in_rate == out_rate:
            return audio
        if self._rates is None:
            self._start(in_rate, out_rate)
        elif self._rates != (in_rate, out_rate):
            raise ValueError(
                f"expected the resampler's rates {self._rates[0]}->{self._rates[1]}, got"
                f" {in_rate}->{out_rate} (use one resampler per pair of rates)"
            )
        if self._fallback is not None:
            out: bytes = await self._fallback.resample(audio, in_rate, out_rate)
            return out
        core = self._core
        assert core is not None
        now = time.monotonic()
        if self._clear_after_secs is not None and now - self._last > self._clear_after_secs:
            core.reset()
        self._last = now
        return core.resample(audio)

    async def flush(self) -> bytes:
        """The audio still in the filter; the next call starts a new stream."""
        if self._fallback is not None:
            tail: bytes = await self._fallback.flush()
            return tail
        self._last = time.monotonic()
        return self._core.flush() if self._core is not None else b""

    async def reset(self) -> None:
        """Discard the audio in the filter; the next call starts a new stream."""
        if self._fallback is not None:
            await self._fallback.reset()
        elif self._core is not None:
            self._core.reset()
            self._last = time.monotonic()
