cdef class PCMChunker:
    cdef readonly int sample_rate
    cdef readonly int frame_ms
    cdef readonly int num_channels
    cdef readonly Py_ssize_t frame_bytes
    cdef char* _buf
    cdef Py_ssize_t _fill

    cpdef list feed(self, object data)
    cpdef bytes flush(self, bint pad=*)
    cpdef void reset(self)
