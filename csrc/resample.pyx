# cython: language_level=3
"""Streaming polyphase resampler for int16 mono PCM (s16le bytes in, s16le bytes out).

The filter (a Kaiser-windowed sinc, minimum-phase by default or linear-phase to match soxr;
float32 coefficients, one row per phase) is designed once per rate pair and phase by
``vani._core.resample_filter`` and shared read-only by every stream. A stream owns only its
history: the last ``taps - 1`` input samples as float32, followed by room for one block of new
input. ``feed`` converts a block into the history, computes every
output sample whose newest input has arrived (a dot product of ``taps`` floats each) straight
into the returned bytes object, and slides the history; the loop runs without the GIL and
allocates nothing but the result. The dot products live in ``resample_kernel.h``: four outputs
at a time in SSE2 (x86-64 baseline), or in an AVX twin picked at run time when the CPU has it
(same operations in the same order, so the same bytes; no FMA, no build flag).

Why float32 rather than int16 fixed point: 16-bit coefficients leave the stopband at 80.3 dB on
some pairs (no margin), and int32 accumulation of int16 × int16 products can wrap on loud
full-scale input; float32 coefficients keep the designed 85 dB and saturate cleanly.

Output sample ``k`` is the filtered signal at time ``k / out_rate`` (the filter's 0 Hz group
delay is removed), so a stream of ``n`` input samples yields ``ceil(n × out / in)`` output
samples in total: ``feed`` returns those it can compute already, ``flush`` the rest, computed
with silence after the end. Each output sample is a deterministic function of the input samples
before it, so any chunking of the input (odd byte counts included: the split sample's low byte is
carried) gives the same bytes as one call.

Not thread-safe: one stream, one thread at a time. The GIL is released only inside the loop.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int64_t
from libc.string cimport memmove, memset

import numpy as np

from vani._core.resample_filter import PHASES, SUPPORTED_RATES, design_filter
from vani.errors import ConfigurationError


cdef extern from "resample_kernel.h" nogil:
    float vani_rs_load_s16le(const unsigned char* p)
    vani_rs_emit_fn vani_rs_emit_for(const char* name)
    const char* vani_rs_best_kernel()


#: The output loop new resamplers use: "avx" where the CPU has it, else "base" (SSE2 on
#: x86-64, portable C elsewhere). Both give identical bytes.
KERNEL = vani_rs_best_kernel().decode()
cdef vani_rs_emit_fn _default_emit = vani_rs_emit_for(vani_rs_best_kernel())


def _use_kernel(str name):
    """Pick the output loop for resamplers created afterwards (tests compare the two)."""
    global _default_emit, KERNEL
    cdef bytes raw = name.encode()
    cdef vani_rs_emit_fn fn = vani_rs_emit_for(raw)
    if fn == NULL:
        raise ValueError(f"expected kernel 'avx' or 'base' (as this CPU allows), got {name!r}")
    _default_emit = fn
    KERNEL = name


# Input samples converted per pass: 20 ms at every supported rate fits in one (48 kHz is 960),
# and the history buffer stays small (at most 6.4 KiB per stream) whatever size a caller feeds.
DEF BLOCK = 1024


cdef class Resampler:
    """One int16 mono stream from ``in_rate`` to ``out_rate`` (both in ``SUPPORTED_RATES``).

    ``feed(pcm)`` returns the output samples that the input so far determines, as s16le bytes;
    ``flush()`` returns the rest of the stream and starts a new one; ``reset()`` discards the
    stream. ``delay`` is the removed group delay in samples at ``up × in_rate``. ``phase`` picks
    the filter family: ``"minimum"`` (vani's, short delay) or ``"linear"`` (soxr's response).
    """

    def __cinit__(self, int in_rate, int out_rate, str phase="minimum"):
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
        self._filter = spec
        self._phases = spec.phases
        self._hist = np.zeros(self.taps - 1 + BLOCK, dtype=np.float32)
        self._h = &self._hist[0]
        self._pos.coef = &self._phases[0, 0]
        self._pos.hist = self._h
        self._pos.taps = self.taps
        self._pos.up = self.up
        self._pos.dq = self.down // self.up
        self._pos.dr = self.down % self.up
        self._emit = _default_emit
        self._rewind()

    cdef void _rewind(self) noexcept nogil:
        memset(self._h, 0, (self.taps - 1) * sizeof(float))
        self._n_in = 0
        self._pos.k = 0
        self._pos.i = self.delay // self.up
        self._pos.p = self.delay % self.up
        self._carry = -1

    cdef int64_t _available(self, int64_t n_in) noexcept nogil:
        # Outputs k with (k × down + delay) // up <= n_in - 1, i.e. an exclusive end index.
        cdef int64_t last = n_in * self.up - 1 - self.delay
        if last < 0:
            return 0
        return last // self.down + 1

    cdef Py_ssize_t _run(self, const unsigned char* src, Py_ssize_t n,
                         unsigned char* dst, int64_t k_end) noexcept nogil:
        # Push n samples (s16le at src, or silence when src is NULL) and write each output
        # sample with index < k_end that they complete. Returns the number written.
        cdef Py_ssize_t taps = self.taps
        cdef Py_ssize_t b, j
        cdef Py_ssize_t written = 0
        cdef int64_t base = self._n_in
        cdef float* fresh = self._h + taps - 1
        while n > 0:
            b = n if n < BLOCK else BLOCK
            if src != NULL:
                for j in range(b):
                    fresh[j] = vani_rs_load_s16le(src + 2 * j)
                src += 2 * b
            else:
                memset(fresh, 0, b * sizeof(float))
            written += self._emit(&self._pos, base, base + b - 1, k_end, dst + 2 * written)
            memmove(self._h, self._h + b, (taps - 1) * sizeof(float))
            base += b
            n -= b
        self._n_in = base
        return written

    def feed(self, pcm):
        """Push s16le bytes (any length, any bytes-like object) and return the new output."""
        cdef const unsigned char[::1] view
        cdef const unsigned char* data
        cdef Py_ssize_t nbytes
        cdef unsigned char pair[2]
        if type(pcm) is bytes:
            data = <const unsigned char*>PyBytes_AS_STRING(pcm)
            nbytes = PyBytes_GET_SIZE(pcm)
        else:
            view = memoryview(pcm).cast("B")
            nbytes = view.shape[0]
            data = &view[0] if nbytes > 0 else NULL
        cdef int has_carry = self._carry >= 0
        cdef int64_t k_end = self._available(self._n_in + (nbytes + has_carry) // 2)
        out = PyBytes_FromStringAndSize(NULL, 2 * (k_end - self._pos.k))
        cdef unsigned char* dst = <unsigned char*>PyBytes_AS_STRING(out)
        cdef Py_ssize_t written = 0
        with nogil:
            if has_carry and nbytes > 0:
                pair[0] = <unsigned char>self._carry
                pair[1] = data[0]
                self._carry = -1
                written = self._run(pair, 1, dst, k_end)
                data += 1
                nbytes -= 1
            written += self._run(data, nbytes // 2, dst + 2 * written, k_end)
            if nbytes & 1:
                self._carry = data[nbytes - 1]
        return out

    def flush(self):
        """Return the rest of the stream (silence pushed through the filter) and start anew.

        The stream's total output is ``ceil(n_in × out_rate / in_rate)`` samples. A dangling
        odd byte (half a sample) is discarded.
        """
        cdef int64_t k_total = (self._n_in * self.up + self.down - 1) // self.down
        cdef int64_t zeros
        cdef Py_ssize_t count = k_total - self._pos.k
        out = PyBytes_FromStringAndSize(NULL, 2 * count)
        cdef unsigned char* dst = <unsigned char*>PyBytes_AS_STRING(out)
        if count > 0:
            zeros = ((k_total - 1) * self.down + self.delay) // self.up - (self._n_in - 1)
            with nogil:
                self._run(NULL, zeros, dst, k_total)
        self._rewind()
        return out

    def reset(self):
        """Forget the stream (history, position and any carried byte)."""
        self._rewind()
