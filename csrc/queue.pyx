# cython: language_level=3
"""Two-lane frame queue: a system lane served first and an ordered (FIFO) lane.

Each lane is a power-of-two ring over a Python list, with a parallel byte array that records
which items an interruption may drop. ``put_*`` never blocks; ``get()`` parks the single consumer
on one future that the next put resolves, so an idle consumer costs nothing and there is no
polling. Not thread-safe: every call happens on the event loop's thread.
"""

from cpython.list cimport PyList_GET_ITEM, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF, Py_DECREF, PyObject

import asyncio


class QueueClosed(Exception):
    """Raised by ``get()`` on a closed queue once both lanes are empty."""


class QueueEmpty(Exception):
    """Raised by ``get_nowait()`` when both lanes are empty."""


cdef class _Lane:
    def __cinit__(self):
        self._items = [None] * 16
        self._flags = bytearray(16)
        self._head = 0
        self._count = 0
        self._mask = 15

    cdef void _grow(self):
        cdef Py_ssize_t cap = self._mask + 1
        cdef Py_ssize_t i
        cdef list items = [None] * (cap * 2)
        cdef bytearray flags = bytearray(cap * 2)
        for i in range(self._count):
            items[i] = self._items[(self._head + i) & self._mask]
            flags[i] = self._flags[(self._head + i) & self._mask]
        self._items = items
        self._flags = flags
        self._head = 0
        self._mask = cap * 2 - 1

    cdef void push(self, object item, bint interruptible):
        if self._count > self._mask:
            self._grow()
        cdef Py_ssize_t slot = (self._head + self._count) & self._mask
        cdef PyObject* old = PyList_GET_ITEM(self._items, slot)
        Py_INCREF(item)
        PyList_SET_ITEM(self._items, slot, item)
        Py_DECREF(<object>old)
        self._flags[slot] = interruptible
        self._count += 1

    cdef object pop(self):
        cdef Py_ssize_t slot = self._head
        cdef object item = <object>PyList_GET_ITEM(self._items, slot)
        # Release the slot's reference at once, so a consumed frame is not kept alive by the ring.
        Py_INCREF(None)
        PyList_SET_ITEM(self._items, slot, None)
        Py_DECREF(item)
        self._head = (slot + 1) & self._mask
        self._count -= 1
        return item

    cdef Py_ssize_t drop_interruptible(self):
        # One pass: survivors are compacted towards the head in their original order.
        cdef Py_ssize_t i, src, dst = 0, kept = 0
        cdef Py_ssize_t n = self._count
        cdef object item
        for i in range(n):
            src = (self._head + i) & self._mask
            item = self._items[src]
            self._items[src] = None
            if not self._flags[src]:
                dst = (self._head + kept) & self._mask
                self._items[dst] = item
                self._flags[dst] = 0
                kept += 1
        self._count = kept
        return n - kept

    cdef void clear(self):
        cdef Py_ssize_t i
        for i in range(self._count):
            self._items[(self._head + i) & self._mask] = None
        self._head = 0
        self._count = 0


cdef class FrameQueue:
    """Two lanes and one parked consumer. See the module docstring."""

    def __cinit__(self):
        self._system = _Lane()
        self._ordered = _Lane()
        self._waiter = None
        self._closed = False

    cpdef put_system(self, object item):
        """Queue ``item`` on the system lane (served before every ordered item)."""
        if self._closed:
            return
        self._system.push(item, False)
        self._wake()

    cpdef put_ordered(self, object item, bint interruptible=True):
        """Queue ``item`` on the ordered lane; ``interruptible`` items may be dropped later."""
        if self._closed:
            return
        self._ordered.push(item, interruptible)
        self._wake()

    def put(self, object item, bint system=False, bint interruptible=True):
        """Queue ``item`` on the system lane when ``system``, else on the ordered lane."""
        if system:
            self.put_system(item)
        else:
            self.put_ordered(item, interruptible)

    cdef void _wake(self):
        cdef object waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    cpdef object get_nowait(self):
        """Return the next item, system lane first; raise ``QueueEmpty`` when there is none."""
        if self._system._count:
            return self._system.pop()
        if self._ordered._count:
            return self._ordered.pop()
        if self._closed:
            raise QueueClosed("the queue is closed")
        raise QueueEmpty("the queue is empty")

    cpdef object get_system_nowait(self):
        """Return the next system item; raise ``QueueEmpty`` when the system lane is empty."""
        if self._system._count:
            return self._system.pop()
        raise QueueEmpty("the system lane is empty")

    cpdef object get_ordered_nowait(self):
        """Return the next ordered item; raise ``QueueEmpty`` when the ordered lane is empty."""
        if self._ordered._count:
            return self._ordered.pop()
        raise QueueEmpty("the ordered lane is empty")

    async def get(self):
        """Wait for the next item, system lane first.

        Only one consumer may wait at a time. Raises ``QueueClosed`` once the queue is closed
        and empty.
        """
        cdef object fut
        while True:
            if self._system._count:
                return self._system.pop()
            if self._ordered._count:
                return self._ordered.pop()
            if self._closed:
                raise QueueClosed("the queue is closed")
            if self._waiter is not None:
                raise RuntimeError("FrameQueue.get() already has a waiting consumer")
            fut = asyncio.get_running_loop().create_future()
            self._waiter = fut
            try:
                await fut
            finally:
                if self._waiter is fut:
                    self._waiter = None

    cpdef Py_ssize_t drop_interruptible(self):
        """Drop every interruptible item of the ordered lane in one pass; return how many."""
        return self._ordered.drop_interruptible()

    def clear(self):
        """Drop everything, whatever its lane or flag."""
        self._system.clear()
        self._ordered.clear()

    def close(self):
        """Refuse further puts and wake the consumer; queued items can still be read."""
        self._closed = True
        self._wake()

    @property
    def closed(self):
        return self._closed

    @property
    def system_len(self):
        return self._system._count

    @property
    def ordered_len(self):
        return self._ordered._count

    def __len__(self):
        return self._system._count + self._ordered._count

    def __bool__(self):
        return (self._system._count + self._ordered._count) > 0
