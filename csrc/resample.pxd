from libc.stdint cimport int64_t


cdef extern from "resample_kernel.h" nogil:
    ctypedef struct vani_rs_pos:
        const float* coef
        const float* hist
        Py_ssize_t taps
        int64_t k
        int64_t i
        int p
        int up
        int dq
        int dr
    ctypedef Py_ssize_t (*vani_rs_emit_fn)(vani_rs_pos*, int64_t, int64_t, int64_t,
                                           unsigned char*) noexcept nogil


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
    cdef float* _h                    # &_hist[0]
    cdef vani_rs_pos _pos             # next output: index, newest input, phase
    cdef vani_rs_emit_fn _emit        # the output loop for this CPU
    cdef int64_t _n_in                # input samples consumed since the stream began
    cdef int _carry                   # the low byte of a split sample, or -1

    cdef void _rewind(self) noexcept nogil
    cdef int64_t _available(self, int64_t n_in) noexcept nogil
    cdef Py_ssize_t _run(self, const unsigned char* src, Py_ssize_t n,
                         unsigned char* dst, int64_t k_end) noexcept nogil
