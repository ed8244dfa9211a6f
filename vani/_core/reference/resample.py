"""Reference resampler: the same filter and contract as ``vani._core.resample``, in numpy.

Each output sample is computed from scratch as a float64 dot product of the float32 phase
coefficients with the input window, then rounded half to even and saturated, exactly the
formula the compiled loop evaluates in float32. The two agree within 1 LSB (almost always
exactly: they differ only where float32 accumulation moves a value across a rounding boundary).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vani._core.resample_filter import PHASES, SUPPORTED_RATES, design_filter
from vani.errors import ConfigurationError


class Resampler:
    def __init__(self, in_rate: int, out_rate: int, phase: str = "minimum") -> None:
        if in_rate not in SUPPORTED_RATES or out_rate not in SUPPORTED_RATES:
            raise ConfigurationError(
                f"expected sample rates among {', '.join(map(str, SUPPORTED_RATES))} Hz, "
                f"got {in_rate} -> {out_rate}"
            )
        if in_rate == out_rate:
            raise ConfigurationError(
                f"expected two different sample rates, got {in_rate} -> {out_rate}"
            )
        if phase not in PHASES:
            raise ConfigurationError(f"expected phase 'minimum' or 'linear', got {phase!r}")
        spec = design_filter(in_rate, out_rate, phase)
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.up = spec.up
        self.down = spec.down
        self.taps = spec.taps
        self.delay = spec.delay
        self._phases = spec.phases.astype(np.float64)
        self.reset()

    def reset(self) -> None:
        # The last taps - 1 inputs (silence before the stream starts) and the count fed so far.
        self._hist: npt.NDArray[np.float64] = np.zeros(self.taps - 1)
        self._n_in = 0
        self._k = 0
        self._carry = b""

    def _push(self, new: npt.NDArray[np.float64], k_end: int) -> bytes:
        # x[taps - 1 + m] is input sample n_in + m; output k reads inputs newest - taps + 1
        # through newest = (k * down + delay) // up.
        x = np.concatenate([self._hist, new])
        k = np.arange(self._k, k_end, dtype=np.int64)
        n = k * self.down + self.delay
        start = n // self.up - self._n_in
        window = start[:, None] + np.arange(self.taps)[None, :]
        y = np.einsum("kt,kt->k", self._phases[n % self.up], x[window])
        self._hist = x[len(x) - (self.taps - 1) :]
        self._n_in += len(new)
        self._k = max(k_end, self._k)
        out: bytes = np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes()
        return out

    def feed(self, pcm: bytes | bytearray | memoryview) -> bytes:
        data = self._carry + bytes(pcm)
        whole = len(data) - len(data) % 2
        self._carry = data[whole:]
        new = np.frombuffer(data[:whole], "<i2").astype(np.float64)
        # Outputs whose newest input (k * down + delay) // up has arrived.
        last = (self._n_in + len(new)) * self.up - 1 - self.delay
        return self._push(new, last // self.down + 1 if last >= 0 else 0)

    def flush(self) -> bytes:
        k_total = -(-self._n_in * self.up // self.down)
        newest = ((k_total - 1) * self.down + self.delay) // self.up if k_total > 0 else -1
        out = self._push(np.zeros(max(0, newest + 1 - self._n_in)), k_total)
        self.reset()
        return out


KERNEL = "reference"
"""The inner loop in use: numpy here (the compiled module reports ``avx``, ``sse`` or ``base``)."""


def _use_kernel(name: str) -> None:
    """Only the numpy loop exists in the reference."""
    if name != KERNEL:
        raise ValueError(f"unknown kernel {name!r}, expected {KERNEL!r}")
