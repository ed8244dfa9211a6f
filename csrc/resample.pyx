# cython: language_level=3
"""Streaming polyphase resampler for int16 mono PCM (s16le bytes in, s16le bytes out).

The filter (minimum-phase Kaiser-windowed sinc, float32 coefficients, one row per phase) is
designed once per rate pair by ``vani._core.resample_filter`` and shared read-only by every
stream. A stream owns only its history: the last ``taps - 1`` input samples as float32, followed
by room for one block of new input. ``feed`` converts a block into the history, computes every
output sample whose newest input has arrived (a dot product of ``taps`` floats each) straight
into the returned bytes object, and slides the history; the loop runs without the GIL and
allocates nothing but the result.

Output sample ``k`` is the filtered signal at time ``k / out_rate`` (the filter's 0 Hz group
delay is removed), so a stream of ``n`` input samples yields ``ceil(n × out / in)`` output
samples in total: ``feed`` returns those it can compute already, ``flush`` the rest, computed
with silence after the end. Each output sample is a deterministic function of the input samples
before it, so any chunking of the input (odd byte counts included: the split sample's low byte is
carried) gives the same bytes as one call.

Not thread-safe: one stream, one thread at a time. The GIL is released only inside the loop.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdint cimport int16_t, int64_t
from libc.string cimport memmove, memset

import numpy as np

from vani._core.resample_filter import SUPPORTED_RATES, design_filter
from vani.errors import ConfigurationError


cdef extern from "resample_kernel.h" nogil:
    float vani_rs_dot(const float* c, const float* x, Py_ssize_t n)
    int16_t vani_rs_to_int16(float y)
    float vani_rs_load_s16le(const unsigned char* p)
    void vani_rs_store_s16le(unsigned char* p, int16_t v)


# Input samples converted per pass. 4096 covers 20 ms at every supported rate in one pass and
# bounds the history buffer (16 KiB plus the taps) whatever size a caller feeds.
DEF BLOCK = 4096


cdef class Resampler:
    """One int16 mono stream from ``in_rate`` to ``out_rate`` (both in ``SUPPORTED_RATES``).

    ``feed(pcm)`` returns the output samples that the input so far determines, as s16le bytes;
    ``flush()`` returns the rest of the stream and starts a new one; ``reset()`` discards the
    stream. ``delay`` is the removed group delay in samples at ``up × in_rate``.
    """

    def __cinit__(self, int in_rate, int out_rate):
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
        self._filter = spec
        self._phases = spec.phases
        self._coef = &self._phases[0, 0]
        self._hist = np.zeros(self.taps - 1 + BLOCK, dtype=np.float32)
        self._h = &self._hist[0]
        self._dq = self.down // self.up
        self._dr = self.down % self.up
        self._rewind()

    cdef void _rewind(self) noexcept nogil:
        memset(self._h, 0, (self.taps - 1) * sizeof(float))
        self._n_in = 0
        self._k = 0
        self._i = self.delay // self.up
        self._p = self.delay % self.up
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
        cdef int64_t last, k = self._k, i = self._i
        cdef int p = self._p, up = self.up, dq = self._dq, dr = self._dr
        cdef const float* coef = self._coef
        cdef float* hist = self._h
        cdef float* fresh = hist + taps - 1
        while n > 0:
            b = n if n < BLOCK else BLOCK
            if src != NULL:
                for j in range(b):
                    fresh[j] = vani_rs_load_s16le(src + 2 * j)
                src += 2 * b
            else:
                memset(fresh, 0, b * sizeof(float))
            last = base + b - 1
            while k < k_end and i <= last:
                # hist[i - base] holds x[i - taps + 1], the oldest input of this output.
                vani_rs_store_s16le(
                    dst + 2 * written,
                    vani_rs_to_int16(vani_rs_dot(coef + p * taps, hist + (i - base), taps)),
                )
                written += 1
                k += 1
                i += dq
                p += dr
                if p >= up:
                    p -= up
                    i += 1
            memmove(hist, hist + b, (taps - 1) * sizeof(float))
            base += b
            n -= b
        self._n_in = base
        self._k = k
        self._i = i
        self._p = p
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
        out = PyBytes_FromStringAndSize(NULL, 2 * (k_end - self._k))
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
        cdef Py_ssize_t count = k_total - self._k
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
