# cython: language_level=3
"""Cuts a stream of int16 PCM bytes into frames of N × 10 ms.

The chunker counts bytes from the start of the stream, so however the input is split — odd
lengths included, half a sample left over — every frame starts on a sample boundary and no
byte is dropped. Frames come out as ``bytes``; when an input is exactly one frame and nothing
is pending, the input object itself is returned (bytes are immutable). Not thread-safe: one
owner feeds it.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memcpy, memset

from vani.errors import ConfigurationError


cdef class PCMChunker:
    """``PCMChunker(sample_rate, frame_ms=20, num_channels=1)``.

    ``feed(data)`` returns the whole frames completed by ``data`` (possibly none) and keeps the
    rest; ``flush(pad=True)`` returns the pending tail padded with silence to a full frame (or
    the raw tail, which may end in half a sample, when ``pad=False``; ``b""`` when nothing is
    pending) and empties the chunker; ``reset()`` drops the pending tail.
    """

    def __cinit__(self, int sample_rate, int frame_ms=20, int num_channels=1):
        self._buf = NULL
        if sample_rate <= 0:
            raise ConfigurationError(f"expected a positive sample_rate, got {sample_rate}")
        if frame_ms <= 0 or frame_ms % 10:
            raise ConfigurationError(
                f"expected frame_ms to be a positive multiple of 10, got {frame_ms}"
            )
        if num_channels <= 0:
            raise ConfigurationError(f"expected a positive num_channels, got {num_channels}")
        if (<long long>sample_rate * frame_ms) % 1000:
            raise ConfigurationError(
                f"expected frame_ms to hold whole samples at {sample_rate} Hz, got {frame_ms} ms"
                f" ({sample_rate * frame_ms / 1000} samples)"
            )
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.num_channels = num_channels
        cdef long long samples = <long long>sample_rate * frame_ms // 1000
        self.frame_bytes = <Py_ssize_t>(samples * 2 * num_channels)
        self._buf = <char*>PyMem_Malloc(self.frame_bytes)
        if self._buf == NULL:
            raise MemoryError()
        self._fill = 0

    def __dealloc__(self):
        PyMem_Free(self._buf)

    @property
    def pending_bytes(self):
        """Bytes held back until the next frame completes (0 to ``frame_bytes - 1``)."""
        return self._fill

    cpdef list feed(self, object data):
        """Append ``data`` (bytes-like) and return the frames it completes, oldest first."""
        cdef Py_buffer v
        cdef list frames = []
        cdef Py_ssize_t fb = self.frame_bytes
        cdef Py_ssize_t take
        cdef const char* p
        cdef Py_ssize_t n
        if type(data) is bytes and self._fill == 0 and len(<bytes>data) == fb:
            frames.append(data)   # the common case: whole frames in, nothing to copy
            return frames
        PyObject_GetBuffer(data, &v, PyBUF_SIMPLE)
        try:
            p = <const char*>v.buf
            n = v.len
            if self._fill:
                take = fb - self._fill
                if take > n:
                    take = n
                memcpy(self._buf + self._fill, p, take)
                self._fill += take
                p += take
                n -= take
                if self._fill < fb:
                    return frames
                frames.append(PyBytes_FromStringAndSize(self._buf, fb))
                self._fill = 0
            while n >= fb:
                frames.append(PyBytes_FromStringAndSize(p, fb))
                p += fb
                n -= fb
            if n:
                memcpy(self._buf, p, n)
                self._fill = n
        finally:
            PyBuffer_Release(&v)
        return frames

    cpdef bytes flush(self, bint pad=True):
        """Return the pending tail (padded with zeros to a frame if ``pad``) and empty."""
        cdef Py_ssize_t fill = self._fill
        if fill == 0:
            return b""
        self._fill = 0
        if pad:
            memset(self._buf + fill, 0, self.frame_bytes - fill)
            return PyBytes_FromStringAndSize(self._buf, self.frame_bytes)
        return PyBytes_FromStringAndSize(self._buf, fill)

    cpdef void reset(self):
        """Drop the pending tail; the next byte fed starts a new frame."""
        self._fill = 0

    def __repr__(self):
        return (
            f"PCMChunker(sample_rate={self.sample_rate}, frame_ms={self.frame_ms}, "
            f"num_channels={self.num_channels})"
        )
