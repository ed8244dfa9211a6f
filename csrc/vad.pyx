# cython: language_level=3
"""VAD windowing and the speech state machine, sans-I/O (no clock, no asyncio, no model).

:class:`VADWindower` accumulates 16-bit little-endian PCM (any split, even half a sample) and
writes each complete window, preceded by the context samples Silero expects, straight into a row
of a caller-provided float32 batch buffer: 512 + 64 samples at 16 kHz, 256 + 32 at 8 kHz.

:class:`VADStateMachine` takes one speech probability and one volume per window and walks
QUIET → STARTING → SPEAKING → STOPPING → QUIET, returning every transition it makes as a
:class:`VADEvent` (a start and a stop inside one buffer are two events, never zero). Time is the
count of samples seen; an event carries the sample of its edge and of the window that decided it.

Neither object is thread-safe; each belongs to one stream.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.math cimport log10f
from libc.stdint cimport int16_t, int64_t, uint16_t
from libc.string cimport memcpy, memmove, memset

import enum

QUIET = 0
STARTING = 1
SPEAKING = 2
STOPPING = 3


class VADState(enum.IntEnum):
    """States of :class:`VADStateMachine`."""

    QUIET = 0
    STARTING = 1
    SPEAKING = 2
    STOPPING = 3


cdef float _SCALE = 1.0 / 32768.0
cdef Py_ssize_t _NOGIL_BYTES = 1 << 16


cdef inline float _volume(const int16_t* samples, Py_ssize_t n) noexcept nogil:
    # RMS in dBFS mapped linearly onto 0..1 so that -110 dBFS is 0 and -10 dBFS is 1; this is
    # the scale of Pipecat's ``min_volume`` (its loudness of int16 values, normalised from
    # -20..80), so a Pipecat threshold keeps its meaning here (within the K-weighting it uses).
    cdef double acc = 0.0
    cdef Py_ssize_t i
    cdef double v
    for i in range(n):
        v = samples[i]
        acc += v * v
    if acc <= 0.0:
        return 0.0
    cdef float dbfs = 10.0 * log10f(<float>(acc / n)) - 90.30899869919435
    cdef float vol = (dbfs + 110.0) / 100.0
    if vol < 0.0:
        return 0.0
    if vol > 1.0:
        return 1.0
    return vol


cdef class VADEvent:
    """One transition of the state machine.

    ``previous`` and ``state`` are :class:`VADState` values; ``edge_sample`` is where the
    transition really happened in the stream (for a start, the first sample of the first speech
    window; for a stop, the first sample of the first silent window), ``decided_sample`` the end
    of the window that decided it. ``timestamp`` and ``decided_secs`` are the same in seconds.
    """

    def __init__(self, int previous, int state, int64_t edge_sample, int64_t decided_sample,
                 int sample_rate):
        self.previous = previous
        self.state = state
        self.edge_sample = edge_sample
        self.decided_sample = decided_sample
        self.sample_rate = sample_rate

    @property
    def timestamp(self):
        return self.edge_sample / <double>self.sample_rate

    @property
    def decided_secs(self):
        return self.decided_sample / <double>self.sample_rate

    @property
    def started(self):
        """True for the transition into SPEAKING that ends a start (not a resumed STOPPING)."""
        return self.state == SPEAKING and self.previous == STARTING

    @property
    def stopped(self):
        """True for the transition back to QUIET that ends speech."""
        return self.state == QUIET and self.previous == STOPPING

    def astuple(self):
        return (self.previous, self.state, self.edge_sample, self.decided_sample)

    def __eq__(self, other):
        if not isinstance(other, VADEvent):
            return NotImplemented
        return self.astuple() == (<VADEvent>other).astuple()

    def __hash__(self):
        return hash(self.astuple())

    def __repr__(self):
        return (f"VADEvent({VADState(self.previous).name}->{VADState(self.state).name},"
                f" edge={self.timestamp:.3f}s, decided={self.decided_secs:.3f}s)")


cdef void _assemble(const unsigned char* pcm, Py_ssize_t n, int16_t* dst, bint has_half,
                    unsigned char half) noexcept nogil:
    # Explicit little-endian assembly keeps the byte order right on any host.
    cdef Py_ssize_t i = 0, k
    if has_half:
        dst[0] = <int16_t>(<uint16_t>half | (<uint16_t>pcm[0] << 8))
        dst += 1
        i = 1
    for k in range((n - i) // 2):
        dst[k] = <int16_t>(<uint16_t>pcm[i + 2 * k] | (<uint16_t>pcm[i + 2 * k + 1] << 8))


cdef int _window_size(int sample_rate) except -1:
    if sample_rate == 16000:
        return 512
    if sample_rate == 8000:
        return 256
    raise ValueError(f"expected a sample rate of 8000 or 16000 Hz, got {sample_rate}")


cdef class VADWindower:
    """Cuts a PCM byte stream into Silero windows, written straight into batch rows.

    ``feed(pcm)`` takes bytes of 16-bit little-endian mono PCM, any length (an odd byte waits for
    its partner), and returns how many complete windows are ready. ``take(batch, row)`` writes the
    oldest ready window into ``batch[row]`` as ``context + window`` float32 samples in [-1, 1)
    and returns its volume (0..1). Windows never overlap: the context is the tail of the previous
    window (zeros before the first). ``flush()`` pads a partial tail with zeros to one more window.
    """

    def __cinit__(self, int sample_rate):
        self.window_size = _window_size(sample_rate)
        self.sample_rate = sample_rate
        self.context_size = self.window_size // 8
        self.row_size = self.window_size + self.context_size
        self._cap = 2 * self.window_size
        self._buf = <int16_t*>PyMem_Malloc(self._cap * sizeof(int16_t))
        if self._buf == NULL:
            raise MemoryError()
        self._start = 0
        self._count = 0
        self._has_half = False
        self.windows_taken = 0
        memset(self._context, 0, sizeof(self._context))

    def __dealloc__(self):
        PyMem_Free(self._buf)

    cdef void _reserve(self, Py_ssize_t extra) except *:
        if self._start + self._count + extra <= self._cap:
            return
        if self._start:
            memmove(self._buf, self._buf + self._start, self._count * sizeof(int16_t))
            self._start = 0
        if self._count + extra <= self._cap:
            return
        cdef Py_ssize_t cap = self._cap
        while cap < self._count + extra:
            cap *= 2
        cdef int16_t* buf = <int16_t*>PyMem_Realloc(self._buf, cap * sizeof(int16_t))
        if buf == NULL:
            raise MemoryError()
        self._buf = buf
        self._cap = cap

    def feed(self, const unsigned char[::1] pcm):
        cdef Py_ssize_t n = pcm.shape[0]
        cdef Py_ssize_t i, whole
        cdef int16_t* dst
        if n == 0:
            return self._count // self.window_size
        whole = (n + self._has_half) // 2
        self._reserve(whole)
        dst = self._buf + self._start + self._count
        # Releasing the GIL costs more than copying a frame, and hands the GIL to any waiting
        # thread (e.g. the inference worker) for a whole switch interval: only for big inputs.
        if n >= _NOGIL_BYTES:
            with nogil:
                _assemble(&pcm[0], n, dst, self._has_half, self._half)
        else:
            _assemble(&pcm[0], n, dst, self._has_half, self._half)
        i = n - (n - self._has_half) % 2
        self._count += whole
        if i < n:
            self._half = pcm[i]
            self._has_half = True
        else:
            self._has_half = False
        return self._count // self.window_size

    @property
    def pending(self):
        """Complete windows waiting for ``take``."""
        return self._count // self.window_size

    @property
    def buffered_samples(self):
        """Samples received but not yet taken (a complete odd byte not counted)."""
        return self._count

    cdef float take_into(self, float* row) noexcept nogil:
        cdef int c = self.context_size
        cdef int w = self.window_size
        cdef const int16_t* win = self._buf + self._start
        cdef int j
        for j in range(c):
            row[j] = self._context[j] * _SCALE
        for j in range(w):
            row[c + j] = win[j] * _SCALE
        memcpy(self._context, win + w - c, c * sizeof(int16_t))
        cdef float vol = _volume(win, w)
        self._start += w
        self._count -= w
        if self._count == 0:
            self._start = 0
        self.windows_taken += 1
        return vol

    def take(self, float[:, ::1] batch, Py_ssize_t row):
        """Write the oldest ready window into ``batch[row]``; return its volume (0..1)."""
        if self._count < self.window_size:
            raise ValueError("no complete window is ready")
        if batch.shape[1] != self.row_size:
            raise ValueError(
                f"expected batch rows of {self.row_size} samples, got {batch.shape[1]}")
        if row < 0 or row >= batch.shape[0]:
            raise IndexError(f"row {row} outside a batch of {batch.shape[0]} rows")
        # One window is microseconds of work: not worth releasing the GIL for.
        return self.take_into(&batch[row, 0])

    def flush(self):
        """Pad a partial tail with zeros to a whole window; return the windows now ready.

        A lone odd byte is dropped (it is not a sample)."""
        cdef Py_ssize_t rem = self._count % self.window_size
        self._has_half = False
        if rem:
            self._reserve(self.window_size - rem)
            memset(self._buf + self._start + self._count, 0,
                   (self.window_size - rem) * sizeof(int16_t))
            self._count += self.window_size - rem
        return self._count // self.window_size

    def reset(self):
        """Forget buffered samples, the context and the window count."""
        self._start = 0
        self._count = 0
        self._has_half = False
        self.windows_taken = 0
        memset(self._context, 0, sizeof(self._context))


cdef class VADStateMachine:
    """QUIET → STARTING → SPEAKING → STOPPING → QUIET, one step per window.

    A window is speech when its probability is at least ``confidence`` and the smoothed volume is
    at least ``min_volume``. The volume rises at once and falls by ``smoothing`` of the gap per
    window (fast attack, slow release): a slow rise would delay every start by several windows,
    while the slow fall bridges the quiet gaps between words. ``start_secs`` of consecutive speech
    leads to SPEAKING; ``stop_secs`` of consecutive non-speech back to QUIET. Both are rounded to
    whole windows (at least one).
    """

    def __init__(self, int sample_rate, float confidence, float start_secs, float stop_secs,
                 float min_volume, float smoothing=0.2):
        self.window_size = _window_size(sample_rate)
        self.sample_rate = sample_rate
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"expected confidence in [0, 1], got {confidence}")
        if not 0.0 <= min_volume <= 1.0:
            raise ValueError(f"expected min_volume in [0, 1], got {min_volume}")
        if start_secs < 0 or stop_secs < 0:
            raise ValueError(
                f"expected start_secs and stop_secs >= 0, got {start_secs} and {stop_secs}")
        if not 0.0 < smoothing <= 1.0:
            raise ValueError(f"expected smoothing in (0, 1], got {smoothing}")
        cdef double window_secs = self.window_size / <double>sample_rate
        self.confidence = confidence
        self.min_volume = min_volume
        self.smoothing = smoothing
        self.start_windows = max(1, <int>round(start_secs / window_secs))
        self.stop_windows = max(1, <int>round(stop_secs / window_secs))
        self.reset()

    def reset(self):
        """Back to QUIET at sample 0 with a silent volume history."""
        self.state = QUIET
        self.windows = 0
        self.smoothed_volume = 0.0
        self._count = 0
        self._run_start = 0

    cdef void _emit(self, list events, int new_state, int64_t edge):
        events.append(VADEvent(self.state, new_state, edge,
                               (self.windows + 1) * self.window_size, self.sample_rate))
        self.state = new_state

    cdef void step(self, float prob, float volume, list events) except *:
        cdef int64_t here = self.windows * self.window_size
        cdef bint speech
        if volume >= self.smoothed_volume:
            self.smoothed_volume = volume
        else:
            self.smoothed_volume += self.smoothing * (volume - self.smoothed_volume)
        speech = prob >= self.confidence and self.smoothed_volume >= self.min_volume
        if self.state == QUIET:
            if speech:
                self._run_start = here
                self._count = 1
                self._emit(events, STARTING, here)
                if self._count >= self.start_windows:
                    self._emit(events, SPEAKING, self._run_start)
        elif self.state == STARTING:
            if speech:
                self._count += 1
                if self._count >= self.start_windows:
                    self._emit(events, SPEAKING, self._run_start)
            else:
                self._emit(events, QUIET, here)
        elif self.state == SPEAKING:
            if not speech:
                self._run_start = here
                self._count = 1
                self._emit(events, STOPPING, here)
                if self._count >= self.stop_windows:
                    self._emit(events, QUIET, self._run_start)
        else:
            if speech:
                self._emit(events, SPEAKING, here)
            else:
                self._count += 1
                if self._count >= self.stop_windows:
                    self._emit(events, QUIET, self._run_start)
        self.windows += 1

    def push(self, float prob, float volume):
        """Advance one window; return the transitions it caused (zero, one or two)."""
        cdef list events = []
        self.step(prob, volume, events)
        return events

    def feed(self, const float[:] probs, const float[:] volumes):
        """Advance one window per probability; return every transition, in order."""
        if probs.shape[0] != volumes.shape[0]:
            raise ValueError(
                f"expected one volume per probability, got {volumes.shape[0]} for {probs.shape[0]}")
        cdef list events = []
        cdef Py_ssize_t i
        for i in range(probs.shape[0]):
            self.step(probs[i], volumes[i], events)
        return events

    def flush(self):
        """End of stream: close an open start or speech turn; return the transitions."""
        cdef list events = []
        cdef int64_t here = self.windows * self.window_size
        if self.state == STARTING:
            self._emit_at(events, QUIET, here)
        elif self.state == SPEAKING:
            self._emit_at(events, STOPPING, here)
            self._emit_at(events, QUIET, here)
        elif self.state == STOPPING:
            self._emit_at(events, QUIET, self._run_start)
        return events

    cdef void _emit_at(self, list events, int new_state, int64_t edge):
        # Flush decides at the end of the audio seen so far, not at the end of a further window.
        events.append(VADEvent(self.state, new_state, edge, self.windows * self.window_size,
                               self.sample_rate))
        self.state = new_state
