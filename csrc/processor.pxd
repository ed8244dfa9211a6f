cdef class Done:
    pass


cdef class ProcessorCore:
    cdef public object _prev
    cdef public object _next
    cdef public object _router
    cdef public object _fwd_down
    cdef public object _fwd_up
    cdef public bint _is_router
    cdef public bint _inline
    cdef public object _inline_types
    cdef public object _observer
    cdef public object _queue
    cdef public object _sys_runner
    cdef public object _ord_runner
    cdef public bint _sys_busy
    cdef public bint _ord_busy
    cdef public object _unit_frame
    cdef public bint _unit_interrupted
    cdef public bint _unit_in_runner
    cdef public bint _unit_cancel_requested
    cdef public bint _unit_awaiting

    cdef void _deliver_c(self, object frame, object direction) except *
    cdef void _run_inline(self, object frame, object direction, int lane) except *
    cdef void _interrupt_c(self) except *
    cdef object _ensure_queue(self)
