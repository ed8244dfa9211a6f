cdef extern from "spsc_ring.h" nogil:
    ctypedef struct vani_spsc_ring:
        pass
    vani_spsc_ring* vani_ring_new(size_t capacity)
    void vani_ring_free(vani_spsc_ring* r)
    size_t vani_ring_write(vani_spsc_ring* r, const unsigned char* src, size_t n)
    size_t vani_ring_read(vani_spsc_ring* r, unsigned char* dst, size_t n)
    size_t vani_ring_readable(vani_spsc_ring* r)
    size_t vani_ring_writable(vani_spsc_ring* r)
    void vani_ring_reset(vani_spsc_ring* r)


cdef class SPSCRing:
    cdef vani_spsc_ring* _ring
    cdef readonly Py_ssize_t capacity
