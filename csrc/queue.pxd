cdef class _Lane:
    cdef list _items
    cdef bytearray _flags
    cdef Py_ssize_t _head
    cdef Py_ssize_t _count
    cdef Py_ssize_t _mask

    cdef void push(self, object item, bint interruptible)
    cdef object pop(self)
    cdef Py_ssize_t drop_interruptible(self)
    cdef void clear(self)
    cdef void _grow(self)


cdef class FrameQueue:
    cdef _Lane _system
    cdef _Lane _ordered
    cdef object _waiter
    cdef bint _closed

    cpdef put_system(self, object item)
    cpdef put_ordered(self, object item, bint interruptible=*)
    cpdef object get_nowait(self)
    cpdef object get_system_nowait(self)
    cpdef object get_ordered_nowait(self)
    cpdef Py_ssize_t drop_interruptible(self)
    cdef void _wake(self)
