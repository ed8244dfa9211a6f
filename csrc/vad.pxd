from libc.stdint cimport int16_t, int64_t


cdef class VADEvent:
    cdef readonly int previous
    cdef readonly int state
    cdef readonly int64_t edge_sample
    cdef readonly int64_t decided_sample
    cdef readonly int sample_rate


cdef class VADWindower:
    cdef readonly int sample_rate
    cdef readonly int window_size
    cdef readonly int context_size
    cdef readonly int row_size
    cdef readonly int64_t windows_taken
    cdef int16_t* _buf
    cdef Py_ssize_t _cap
    cdef Py_ssize_t _start
    cdef Py_ssize_t _count
    cdef int16_t _context[64]
    cdef unsigned char _half
    cdef bint _has_half

    cdef void _reserve(self, Py_ssize_t extra) except *
    cdef float take_into(self, float* row) noexcept nogil


cdef class VADStateMachine:
    cdef readonly int sample_rate
    cdef readonly int window_size
    cdef readonly float confidence
    cdef readonly float min_volume
    cdef readonly float smoothing
    cdef readonly int start_windows
    cdef readonly int stop_windows
    cdef readonly int state
    cdef readonly int64_t windows
    cdef readonly float smoothed_volume
    cdef int _count
    cdef int64_t _run_start

    cdef void _emit(self, list events, int new_state, int64_t edge)
    cdef void _emit_at(self, list events, int new_state, int64_t edge)
    cdef void step(self, float prob, float volume, list events) except *
