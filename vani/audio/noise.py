"""Noise suppression for the user's audio: RNNoise (through ``pyrnnoise``, extra ``vani[noise]``)
and a high-pass filter, with state per call. Guide: docs/turn-taking.md.

* :class:`HighPassFilter` — first-order high-pass (default 80 Hz): removes hum, rumble and DC
  that telephone lines and cheap microphones add; numpy, exact across chunk boundaries.
* :class:`RNNoiseFilter` — Pipecat's filter API (``start(sample_rate)``, ``filter(audio)``,
  ``stop()``): the high-pass, then RNNoise at 48 kHz in 480-sample frames, with the audio
  resampled there and back by the compiled core. Output has exactly the input's length; it lags
  the input by one RNNoise frame (10 ms) plus the resamplers' delay.
* :class:`NoiseSuppressor` — the same as a pipeline step, placed right after
  ``transport.input()``: it rewrites every mono ``InputAudioRawFrame`` and passes the rest.

pyrnnoise is imported on first use; without it, a ``ConfigurationError`` names the extra.
"""

from __future__ import annotations

import ctypes
import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vani.audio.resample import SUPPORTED_RATES, StreamResampler
from vani.errors import ConfigurationError
from vani.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    StartFrame,
)
from vani.processors import FrameProcessor

__all__ = ["HighPassFilter", "NoiseSuppressor", "RNNoiseFilter"]

RNNOISE_RATE = 48000
RNNOISE_FRAME = 480
_BLOCK = 480  # high-pass block: keeps the powers of the pole well inside float64


class HighPassFilter:
    """First-order high-pass at ``cutoff_hz`` over int16 mono PCM, state kept between calls."""

    def __init__(self, sample_rate: int, cutoff_hz: float = 80.0) -> None:
        if cutoff_hz <= 0 or cutoff_hz >= sample_rate / 2:
            raise ConfigurationError(
                f"expected a cutoff between 0 and {sample_rate / 2} Hz, got {cutoff_hz}"
            )
        rc = 1.0 / (2 * math.pi * cutoff_hz)
        dt = 1.0 / sample_rate
        self.alpha = rc / (rc + dt)
        self._x = 0.0
        self._y = 0.0
        k = np.arange(_BLOCK, dtype=np.float64)
        self._down = self.alpha**k  # alpha^n
        self._up = self.alpha ** (-k)  # alpha^-n

    def process(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        x = samples.astype(np.float64)
        out = np.empty_like(x)
        a = self.alpha
        for start in range(0, len(x), _BLOCK):
            block = x[start : start + _BLOCK]
            n = len(block)
            # y[n] = a*y[n-1] + a*(x[n] - x[n-1]), solved for the block at once:
            # y[n] = a^n * (a*y[-1] + sum_{k<=n} a^-k * d[k]), d[k] = a*(x[k] - x[k-1]).
            d = np.empty(n)
            d[0] = a * (block[0] - self._x)
            d[1:] = a * np.diff(block)
            y = self._down[:n] * (a * self._y + np.cumsum(d * self._up[:n]))
            out[start : start + n] = y
            self._x = float(block[-1])
            self._y = float(y[-1])
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)

    def reset(self) -> None:
        self._x = self._y = 0.0


class _RNNoiseLib(Protocol):
    def rnnoise_process_frame(self, state: object, out: object, inp: object) -> float: ...


def _rnnoise() -> tuple[_RNNoiseLib, object, object]:
    try:
        from pyrnnoise import rnnoise
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "noise suppression needs pyrnnoise: pip install 'vani[noise]'"
        ) from exc
    return rnnoise.lib, rnnoise.create, rnnoise.destroy


class RNNoiseFilter:
    """RNNoise with a high-pass in front, for one call. ``high_pass_hz=None`` leaves the
    high-pass out; ``rnnoise=False`` keeps only the high-pass."""

    def __init__(self, *, high_pass_hz: float | None = 80.0, rnnoise: bool = True) -> None:
        self._cutoff = high_pass_hz
        self._use_rnnoise = rnnoise
        self._rate = 0
        self._hp: HighPassFilter | None = None
        self._up: StreamResampler | None = None
        self._down: StreamResampler | None = None
        self._lib: _RNNoiseLib | None = None
        self._destroy: object = None
        self._state: object = None
        self._in48 = np.zeros(0, dtype=np.float32)
        self._out = bytearray()
        self._frame = np.zeros(RNNOISE_FRAME, dtype=np.float32)
        self.speech_probability = 0.0
        if rnnoise:
            _rnnoise()  # fail at construction, not mid-call

    async def start(self, sample_rate: int) -> None:
        """Begin a call at ``sample_rate`` (8000, 16000, 24000, 48000, ...)."""
        self.setup(sample_rate)

    def setup(self, sample_rate: int) -> None:
        if sample_rate not in SUPPORTED_RATES:
            raise ConfigurationError(
                f"expected a sample rate among {', '.join(map(str, SUPPORTED_RATES))},"
                f" got {sample_rate}"
            )
        self.close()
        self._rate = sample_rate
        self._hp = HighPassFilter(sample_rate, self._cutoff) if self._cutoff else None
        if self._use_rnnoise:
            lib, create, destroy = _rnnoise()
            self._lib, self._destroy = lib, destroy
            self._state = create()  # type: ignore[operator]
            self._up = StreamResampler(sample_rate, RNNOISE_RATE)
            self._down = StreamResampler(RNNOISE_RATE, sample_rate)
            self._in48 = np.zeros(0, dtype=np.float32)
            # One RNNoise frame of silence ahead: every chunk then comes out at its own length.
            self._out = bytearray(2 * (RNNOISE_FRAME * sample_rate // RNNOISE_RATE))

    async def filter(self, audio: bytes) -> bytes:
        """Filtered int16 mono PCM, the same length as ``audio``."""
        return self.process(audio)

    def process(self, audio: bytes) -> bytes:
        if not self._rate:
            raise ConfigurationError("expected start(sample_rate) before filter()")
        samples = np.frombuffer(audio, dtype=np.int16)
        if self._hp is not None:
            samples = self._hp.process(samples)
        if self._lib is None:
            return samples.tobytes()
        assert self._up is not None
        assert self._down is not None
        up = np.frombuffer(self._up.resample(samples.tobytes()), dtype=np.int16)
        pending = np.concatenate([self._in48, up.astype(np.float32)])
        n = len(pending) // RNNOISE_FRAME * RNNOISE_FRAME
        frame = self._frame
        ptr = frame.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        done = np.empty(n, dtype=np.float32)
        for start in range(0, n, RNNOISE_FRAME):
            frame[:] = pending[start : start + RNNOISE_FRAME]
            self.speech_probability = float(self._lib.rnnoise_process_frame(self._state, ptr, ptr))
            done[start : start + RNNOISE_FRAME] = frame
        self._in48 = pending[n:]
        if n:
            clean = np.clip(np.round(done), -32768, 32767).astype(np.int16)
            self._out += self._down.resample(clean.tobytes())
        size = len(audio) - len(audio) % 2
        if len(self._out) < size:  # only at the very start
            self._out[:0] = bytes(size - len(self._out))
        out = bytes(self._out[:size])
        del self._out[:size]
        return out

    async def stop(self) -> None:
        self.close()

    def close(self) -> None:
        """Free the RNNoise state (also done by :meth:`setup` and on garbage collection)."""
        if self._state is not None and self._destroy is not None:
            self._destroy(self._state)  # type: ignore[operator]
        self._state = None

    def __del__(self) -> None:
        self.close()


class NoiseSuppressor(FrameProcessor):
    """:class:`RNNoiseFilter` on every mono ``InputAudioRawFrame`` of one call (module docs).
    Frames at a rate the core cannot resample, or with more than one channel, pass unchanged."""

    def __init__(
        self, *, high_pass_hz: float | None = 80.0, rnnoise: bool = True, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._options = (high_pass_hz, rnnoise)
        self._filters: dict[int, RNNoiseFilter] = {}
        if rnnoise:
            _rnnoise()

    async def start(self, frame: StartFrame) -> None:
        self._close()

    async def stop(self, frame: EndFrame) -> None:
        self._close()

    async def cancel(self, frame: CancelFrame) -> None:
        self._close()

    def _close(self) -> None:
        for f in self._filters.values():
            f.close()
        self._filters.clear()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if (
            isinstance(frame, InputAudioRawFrame)
            and frame.num_channels == 1
            and frame.sample_rate in SUPPORTED_RATES
        ):
            f = self._filters.get(frame.sample_rate)
            if f is None:
                high_pass, rnnoise = self._options
                f = self._filters[frame.sample_rate] = RNNoiseFilter(
                    high_pass_hz=high_pass, rnnoise=rnnoise
                )
                f.setup(frame.sample_rate)
            frame.audio = f.process(frame.audio)
        await self.push_frame(frame, direction)
