"""Reference resampler: the same filter and contract as ``vani._core.resample``, in numpy.

Each output sample is computed from scratch as a float64 dot product of the float32 phase
coefficients with the input window, then rounded half to even and saturated, exactly the
formula the compiled loop evaluates in float32. The two agree within 1 LSB (almost always
exactly: they differ only where float32 accumulation moves a value across a rounding boundary).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vani._core.resample_filter import SUPPORTED_RATES, design_filter
from vani.errors import ConfigurationError


class Resampler:
    def __init__(self, in_rate: int, out_rate: int) -> None:
        if in_rate not in SUPPORTED_RATES or out_rate not in SUPPORTED_RATES:
            raise ConfigurationError(
                f"expected sample rates among {', '.join(map(str, SUPPORTED_RATES))} Hz, "
                f"got {in_rate} -> {out_rate}"
            )
        if in_rate == out_rate:
            raise ConfigurationError(
                f"expected two different sample rates, got {in_rate} -> {out_rate}"
            )
        spec = design_filter(in_rate, out_rate)
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.up = spec.up
        self.down = spec.down
        self.taps = spec.taps
        self.delay = spec.delay
        self._phases = spec.phases.astype(np.float64)
        self.reset()

    def reset(self) -> None:
        # Everything fed so far, preceded by taps - 1 zeros (the silence before the stream).
        self._x: npt.NDArray[np.float64] = np.zeros(self.taps - 1)
        self._k = 0
        self._carry = b""

    def _outputs(self, k_end: int) -> bytes:
        k = np.arange(self._k, k_end, dtype=np.int64)
        n = k * self.down + self.delay
        newest = n // self.up  # index into the input, which sits at offset taps - 1 in _x
        window = newest[:, None] + np.arange(self.taps)[None, :]
        y = np.einsum("kt,kt->k", self._phases[n % self.up], self._x[window])
        self._k = k_end
        out: bytes = np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes()
        return out

    def _n_in(self) -> int:
        return len(self._x) - (self.taps - 1)

    def feed(self, pcm: bytes | bytearray | memoryview) -> bytes:
        data = self._carry + bytes(pcm)
        whole = len(data) - len(data) % 2
        self._carry = data[whole:]
        self._x = np.concatenate([self._x, np.frombuffer(data[:whole], "<i2").astype(np.float64)])
        # Outputs whose newest input (k × down + delay) // up has arrived.
        last = self._n_in() * self.up - 1 - self.delay
        k_end = last // self.down + 1 if last >= 0 else 0
        return self._outputs(max(k_end, self._k))

    def flush(self) -> bytes:
        k_total = -(-self._n_in() * self.up // self.down)
        newest = ((k_total - 1) * self.down + self.delay) // self.up if k_total > 0 else 0
        pad = max(0, newest + 1 - self._n_in())
        self._x = np.concatenate([self._x, np.zeros(pad)])
        out = self._outputs(max(k_total, self._k))
        self.reset()
        return out
