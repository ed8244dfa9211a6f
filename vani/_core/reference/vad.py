"""Reference VAD windower and state machine: the contract of ``vani._core.vad`` in plain Python.

Used only by tests, which run the same contract on both. Slow on purpose: obvious over fast.
"""

from __future__ import annotations

import enum
import math
from array import array
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

QUIET = 0
STARTING = 1
SPEAKING = 2
STOPPING = 3


class VADState(enum.IntEnum):
    QUIET = 0
    STARTING = 1
    SPEAKING = 2
    STOPPING = 3


def _window_size(sample_rate: int) -> int:
    if sample_rate == 16000:
        return 512
    if sample_rate == 8000:
        return 256
    raise ValueError(f"expected a sample rate of 8000 or 16000 Hz, got {sample_rate}")


def _volume(samples: Sequence[int]) -> float:
    mean_square = sum(s * s for s in samples) / len(samples)
    if mean_square <= 0:
        return 0.0
    dbfs = 10 * math.log10(mean_square) - 20 * math.log10(32768)
    return min(1.0, max(0.0, (dbfs + 110) / 100))


class VADEvent:
    def __init__(
        self, previous: int, state: int, edge_sample: int, decided_sample: int, sample_rate: int
    ) -> None:
        self.previous = previous
        self.state = state
        self.edge_sample = edge_sample
        self.decided_sample = decided_sample
        self.sample_rate = sample_rate

    @property
    def timestamp(self) -> float:
        return self.edge_sample / self.sample_rate

    @property
    def decided_secs(self) -> float:
        return self.decided_sample / self.sample_rate

    @property
    def started(self) -> bool:
        return self.state == SPEAKING and self.previous == STARTING

    @property
    def stopped(self) -> bool:
        return self.state == QUIET and self.previous == STOPPING

    def astuple(self) -> tuple[int, int, int, int]:
        return (self.previous, self.state, self.edge_sample, self.decided_sample)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VADEvent):
            return NotImplemented
        return self.astuple() == other.astuple()

    def __hash__(self) -> int:
        return hash(self.astuple())

    def __repr__(self) -> str:
        return f"VADEvent({self.astuple()})"


class VADWindower:
    def __init__(self, sample_rate: int) -> None:
        self.window_size = _window_size(sample_rate)
        self.sample_rate = sample_rate
        self.context_size = self.window_size // 8
        self.row_size = self.window_size + self.context_size
        self.reset()

    def reset(self) -> None:
        self._bytes = bytearray()
        self._context = [0] * self.context_size
        self.windows_taken = 0

    def feed(self, pcm: bytes | bytearray | memoryview) -> int:
        self._bytes += pcm
        return self.pending

    @property
    def pending(self) -> int:
        return len(self._bytes) // 2 // self.window_size

    @property
    def buffered_samples(self) -> int:
        return len(self._bytes) // 2

    def take(self, batch: npt.NDArray[np.float32], row: int) -> float:
        if self.pending == 0:
            raise ValueError("no complete window is ready")
        if batch.shape[1] != self.row_size:
            got = batch.shape[1]
            raise ValueError(f"expected batch rows of {self.row_size} samples, got {got}")
        if not 0 <= row < batch.shape[0]:
            raise IndexError(f"row {row} outside a batch of {batch.shape[0]} rows")
        nbytes = 2 * self.window_size
        window = array("h", bytes(self._bytes[:nbytes]))
        del self._bytes[:nbytes]
        for j, s in enumerate([*self._context, *window]):
            batch[row, j] = s / 32768
        self._context = list(window[-self.context_size :])
        self.windows_taken += 1
        return _volume(window)

    def flush(self) -> int:
        if len(self._bytes) % 2:
            del self._bytes[-1]
        rem = len(self._bytes) // 2 % self.window_size
        if rem:
            self._bytes += bytes(2 * (self.window_size - rem))
        return self.pending


class VADStateMachine:
    def __init__(
        self,
        sample_rate: int,
        confidence: float,
        start_secs: float,
        stop_secs: float,
        min_volume: float,
        smoothing: float = 0.2,
    ) -> None:
        self.window_size = _window_size(sample_rate)
        self.sample_rate = sample_rate
        if not 0 <= confidence <= 1:
            raise ValueError(f"expected confidence in [0, 1], got {confidence}")
        if not 0 <= min_volume <= 1:
            raise ValueError(f"expected min_volume in [0, 1], got {min_volume}")
        if start_secs < 0 or stop_secs < 0:
            raise ValueError(
                f"expected start_secs and stop_secs >= 0, got {start_secs} and {stop_secs}"
            )
        if not 0 < smoothing <= 1:
            raise ValueError(f"expected smoothing in (0, 1], got {smoothing}")
        # Thresholds are compared in float32, as the compiled core does.
        self.confidence = float(np.float32(confidence))
        self.min_volume = float(np.float32(min_volume))
        self.smoothing = float(np.float32(smoothing))
        window_secs = self.window_size / sample_rate
        self.start_windows = max(1, round(start_secs / window_secs))
        self.stop_windows = max(1, round(stop_secs / window_secs))
        self.reset()

    def reset(self) -> None:
        self.state = QUIET
        self.windows = 0
        self.smoothed_volume = 0.0
        self._count = 0
        self._run_start = 0

    def _event(self, new_state: int, edge: int, decided: int) -> VADEvent:
        event = VADEvent(self.state, new_state, edge, decided, self.sample_rate)
        self.state = new_state
        return event

    def push(self, prob: float, volume: float) -> list[VADEvent]:
        here = self.windows * self.window_size
        end = here + self.window_size
        out: list[VADEvent] = []
        vol = np.float32(volume)
        if vol >= self.smoothed_volume:
            self.smoothed_volume = float(vol)
        else:
            s = np.float32(self.smoothed_volume)
            self.smoothed_volume = float(s + np.float32(self.smoothing) * (vol - s))
        speech = np.float32(prob) >= self.confidence and self.smoothed_volume >= self.min_volume
        if self.state == QUIET and speech:
            self._run_start, self._count = here, 1
            out.append(self._event(STARTING, here, end))
            if self._count >= self.start_windows:
                out.append(self._event(SPEAKING, self._run_start, end))
        elif self.state == STARTING:
            if speech:
                self._count += 1
                if self._count >= self.start_windows:
                    out.append(self._event(SPEAKING, self._run_start, end))
            else:
                out.append(self._event(QUIET, here, end))
        elif self.state == SPEAKING and not speech:
            self._run_start, self._count = here, 1
            out.append(self._event(STOPPING, here, end))
            if self._count >= self.stop_windows:
                out.append(self._event(QUIET, self._run_start, end))
        elif self.state == STOPPING:
            if speech:
                out.append(self._event(SPEAKING, here, end))
            else:
                self._count += 1
                if self._count >= self.stop_windows:
                    out.append(self._event(QUIET, self._run_start, end))
        self.windows += 1
        return out

    def feed(self, probs: Sequence[float], volumes: Sequence[float]) -> list[VADEvent]:
        if len(probs) != len(volumes):
            raise ValueError(
                f"expected one volume per probability, got {len(volumes)} for {len(probs)}"
            )
        out: list[VADEvent] = []
        for p, v in zip(probs, volumes, strict=True):
            out += self.push(p, v)
        return out

    def flush(self) -> list[VADEvent]:
        here = self.windows * self.window_size
        out: list[VADEvent] = []
        if self.state == STARTING:
            out.append(self._event(QUIET, here, here))
        elif self.state == SPEAKING:
            out.append(self._event(STOPPING, here, here))
            out.append(self._event(QUIET, here, here))
        elif self.state == STOPPING:
            out.append(self._event(QUIET, self._run_start, here))
        return out
