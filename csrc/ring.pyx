# cython: language_level=3
"""A lock-free byte ring for exactly one producer thread and one consumer thread.

Audio arriving on a device or I/O thread is written with ``write()``; the event loop (or any
one other thread) takes it with ``read()`` / ``read_into()``. Neither side ever blocks or
takes a lock: positions are C11 atomics (``spsc_ring.h``) and the copies run with the GIL
released. The contract is one writer and one reader at a time: two threads writing (or two
reading) concurrently corrupt the stream. ``readable`` and ``writable`` may be read from
anywhere; they are snapshots.
"""

from cpython.buffer cimport (
    PyBUF_SIMPLE,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

from vani.errors import ConfigurationError


cdef class SPSCRing:
    """``SPSCRing(capacity)``: a ring of ``capacity`` bytes, a power of two.

    ``write(data)`` accepts as many bytes as fit and returns that count (the caller keeps the
    rest); ``read(n)`` returns up to ``n`` bytes, ``b""`` when empty; ``read_into(buf)`` fills
    up to ``len(buf)`` bytes of a writable buffer and returns the count.
    """

    def __cinit__(self, Py_ssize_t capacity):
        self._ring = NULL
        if capacity <= 0 or capacity & (capacity - 1):
            raise ConfigurationError(
                f"expected a capacity that is a power of two, got {capacity}"
            )
        self._ring = vani_ring_new(<size_t>capacity)
        if self._ring == NULL:
            raise MemoryError()
        self.capacity = capacity

    def __dealloc__(self):
        vani_ring_free(self._ring)

    def write(self, data):
        """Producer: copy as much of ``data`` (bytes-like) as fits; return the count."""
        cdef Py_buffer v
        cdef size_t n
        PyObject_GetBuffer(data, &v, PyBUF_SIMPLE)
        try:
            with nogil:
                n = vani_ring_write(self._ring, <const unsigned char*>v.buf, <size_t>v.len)
        finally:
            PyBuffer_Release(&v)
        return n

    def read(self, Py_ssize_t n=-1):
        """Consumer: take up to ``n`` bytes (all that are readable when ``n`` is negative)."""
        cdef size_t avail = vani_ring_readable(self._ring)
        cdef size_t k = avail if n < 0 or <size_t>n > avail else <size_t>n
        if k == 0:
            return b""
        cdef bytes out = PyBytes_FromStringAndSize(NULL, k)
        cdef unsigned char* o = <unsigned char*>PyBytes_AS_STRING(out)
        # Only this consumer removes bytes, so the k seen above are still there.
        with nogil:
            vani_ring_read(self._ring, o, k)
        return out

    def read_into(self, buf):
        """Consumer: fill up to ``len(buf)`` bytes of a writable buffer; return the count."""
        cdef Py_buffer v
        cdef size_t n
        PyObject_GetBuffer(buf, &v, PyBUF_WRITABLE)
        try:
            with nogil:
                n = vani_ring_read(self._ring, <unsigned char*>v.buf, <size_t>v.len)
        finally:
            PyBuffer_Release(&v)
        return n

    @property
    def readable(self):
        """Bytes waiting to be read (a snapshot)."""
        return vani_ring_readable(self._ring)

    @property
    def writable(self):
        """Bytes that can be written now (a snapshot)."""
        return vani_ring_writable(self._ring)

    def reset(self):
        """Empty the ring. Only while neither the producer nor the consumer is running."""
        vani_ring_reset(self._ring)

    def __len__(self):
        return vani_ring_readable(self._ring)

    def __repr__(self):
        return f"SPSCRing(capacity={self.capacity})"
