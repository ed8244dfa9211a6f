from libc.stdint cimport int64_t


cdef class Resampler:
    cdef readonly int in_rate
    cdef readonly int out_rate
    cdef readonly int up
    cdef readonly int down
    cdef readonly int taps
    cdef readonly int delay
    cdef object _filter               # PolyphaseFilter: keeps the shared table alive
    cdef const float[:, ::1] _phases  # (up, taps), shared by every stream of the rate pair
    cdef float[::1] _hist             # taps - 1 samples of history, then one block of input
    cdef const float* _coef           # &_phases[0, 0]
    cdef float* _h                    # &_hist[0]
    cdef int _dq                      # down // up: whole input samples per output step
    cdef int _dr                      # down % up: phase advance per output step
    cdef int64_t _n_in                # input samples consumed since the stream began
    cdef int64_t _k                   # index of the next output sample
    cdef int64_t _i                   # newest input sample that output _k needs
    cdef int _p                       # phase of output _k
    cdef int _carry                   # the low byte of a split sample, or -1

    cdef void _rewind(self) noexcept nogil
    cdef int64_t _available(self, int64_t n_in) noexcept nogil
    cdef Py_ssize_t _run(self, const unsigned char* src, Py_ssize_t n,
                         unsigned char* dst, int64_t k_end) noexcept nogil
