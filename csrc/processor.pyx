# cython: language_level=3
"""The compiled hot path of ``vani.processors.FrameProcessor``: push, deliver, drive.

A push hands the frame to the neighbour's ``_deliver_c``, which either queues it behind busy
work or drives the neighbour's ``process_frame`` coroutine at once with ``PyIter_Send`` (no
StopIteration object per frame). A coroutine that suspends is handed to the Python side
(``_move_to_task``), which continues it in a task of the processor. Everything slow or rare —
tasks, errors, lifecycle — stays in Python in ``vani/processors/frame_processor.py``.

Unlike the rest of ``vani._core`` this module knows frames (it sits just under the processors
layer): it needs their kinds to pick a lane.
"""

from cpython.ref cimport PyObject, Py_XDECREF

import types

from vani.frames import (
    CancelFrame,
    EndFrame,
    FrameDirection,
    FrameKind,
    InterruptionFrame,
    StartFrame,
)

cdef extern from "Python.h":
    int PyIter_Send(object iter, object arg, PyObject** presult) except? -1

cdef object _SYSTEM = FrameKind.SYSTEM
cdef object _DATA = FrameKind.DATA
cdef object _DOWNSTREAM = FrameDirection.DOWNSTREAM
cdef object _UPSTREAM = FrameDirection.UPSTREAM
cdef object _CoroutineType = types.CoroutineType
cdef object _InterruptionFrame = InterruptionFrame
cdef object _CancelFrame = CancelFrame
cdef object _EndFrame = EndFrame
cdef object _StartFrame = StartFrame

# Lanes (mirrored in frame_processor.py).
cdef enum:
    BYPASS = 0
    SYS = 1
    ORD = 2

BYPASS_LANE = BYPASS
SYSTEM_LANE = SYS
ORDERED_LANE = ORD

# PyIter_Send results.
cdef enum:
    GEN_RETURN = 0
    GEN_NEXT = 1


cdef class Done:
    """An awaitable that is already complete; awaiting it allocates nothing."""

    def __await__(self):
        return self

    def __iter__(self):
        return self

    def __next__(self):
        raise StopIteration

    def send(self, value):
        raise StopIteration

    def throw(self, typ, val=None, tb=None):
        if val is None:
            raise typ
        raise val

    def close(self):
        pass

    def __repr__(self):
        return "<vani DONE>"


cdef Done _DONE = Done()
DONE = _DONE


cdef class ProcessorCore:
    """Lane state and the push/deliver path. Subclassed by ``FrameProcessor``."""

    def __cinit__(self, *args, **kwargs):
        self._prev = None
        self._next = None
        self._router = None
        self._fwd_down = None
        self._fwd_up = None
        self._inline = True
        self._inline_types = None
        self._unit_frame = None
        self._observer = None
        self._queue = None
        self._sys_runner = None
        self._ord_runner = None

    def process_frame(self, frame, direction):
        """Run the lifecycle hooks on Start/End/Cancel frames; otherwise nothing."""
        cdef object t = type(frame)
        if t is _StartFrame:
            return self._on_start(frame)
        if t is _EndFrame:
            return self._on_end(frame)
        if t is _CancelFrame:
            return self._on_cancel(frame)
        return _DONE

    def push_frame(self, frame, direction=_DOWNSTREAM):
        """Send ``frame`` to the next processor (downstream) or the previous one (upstream).

        Returns an already complete awaitable: by then the neighbour has handled the frame or
        queued it. Always ``await`` it.
        """
        cdef object target
        if self._unit_interrupted and frame.interruptible and self._is_unit_caller():
            # Output of a call that an interruption cancelled: it never reaches anyone.
            return _DONE
        if self._observer is not None:
            self._observer.frame_pushed(self, frame, direction)
        if direction is _DOWNSTREAM:
            target = self._next
        else:
            target = self._prev
        if target is not None:
            (<ProcessorCore>target)._deliver_c(frame, direction)
        else:
            self._dropped_at_edge(frame, direction)
        return _DONE

    def _deliver(self, frame, direction):
        """Take ``frame`` from a neighbour (see ``_deliver_c``)."""
        self._deliver_c(frame, direction)

    cdef void _deliver_c(self, object frame, object direction) except *:
        cdef object fwd
        if self._is_router:
            # Pipelines and their edges add no lane: hand the frame on, in C when the next
            # hop is known (a processor), else through the Python router.
            fwd = self._fwd_down if direction is _DOWNSTREAM else self._fwd_up
            if fwd is not None:
                (<ProcessorCore>fwd)._deliver_c(frame, direction)
            elif self._router is not None:
                self._router(frame, direction)
            return
        if frame.kind is _SYSTEM:
            if isinstance(frame, _InterruptionFrame):
                self._interrupt_c()
                self._run_inline(frame, direction, BYPASS)
            elif isinstance(frame, _CancelFrame):
                self._abort()
                self._run_inline(frame, direction, BYPASS)
            elif self._sys_busy:
                self._ensure_queue().put_system((frame, direction))
            else:
                self._run_inline(frame, direction, SYS)
        elif self._ord_busy or self._sys_busy:
            self._ensure_queue().put_ordered((frame, direction), frame.interruptible)
        elif not self._inline:
            # A processor that runs its ordered frames in its own task (see run_inline), except
            # the kinds it declares safe to start inline while nothing waits ahead of them.
            if (
                self._inline_types is not None
                and isinstance(frame, self._inline_types)
                and (self._queue is None or not self._queue.ordered_len)
            ):
                self._run_inline(frame, direction, ORD)
                return
            self._ensure_queue().put_ordered((frame, direction), frame.interruptible)
            self._kick_ordered()
        else:
            self._run_inline(frame, direction, ORD)

    cdef object _ensure_queue(self):
        if self._queue is None:
            self._queue = self._new_queue()
        return self._queue

    def _interrupt(self):
        self._interrupt_c()

    cdef void _interrupt_c(self) except *:
        if self._queue is not None:
            self._queue.drop_interruptible()
        if (
            self._ord_busy
            and not self._unit_interrupted
            and self._unit_frame is not None
            and self._unit_frame.interruptible
        ):
            self._unit_interrupted = True
            if self._unit_in_runner and self._ord_runner is not None:
                self._unit_cancel_requested = True
                # A runner that has not started yet must not be cancelled: its coroutine would
                # end before its cleanup could run. It cancels the call itself when it starts.
                if self._unit_awaiting:
                    self._ord_runner.cancel()

    cdef void _run_inline(self, object frame, object direction, int lane) except *:
        cdef object aw
        cdef object it
        cdef PyObject* result = NULL
        cdef int status
        try:
            aw = self.process_frame(frame, direction)
        except Exception as exc:  # a process_frame that is not async raised at once
            self._report(exc, frame)
            return
        if aw is _DONE:
            if frame.kind is not _DATA and isinstance(frame, (_EndFrame, _CancelFrame)):
                self._after(frame)
            return
        if type(aw) is _CoroutineType:
            it = aw
        else:
            it = aw.__await__()
        if lane == SYS:
            self._sys_busy = True
        elif lane == ORD:
            self._ord_busy = True
            # Read lazily by an interruption: most calls finish before one could arrive.
            self._unit_frame = frame
            self._unit_interrupted = False
        try:
            status = PyIter_Send(it, None, &result)
        except Exception as exc:
            self._report(exc, frame)
            status = GEN_RETURN
        if status == GEN_NEXT:
            yielded = <object>result
            Py_XDECREF(result)
            # It suspended: the rest of the call moves to a task of this processor.
            self._move_to_task(frame, it, yielded, lane)
            return
        Py_XDECREF(result)
        if lane == SYS:
            self._sys_busy = False
            if self._queue is not None:
                if self._queue.system_len:
                    # System frames arrived while this one ran (an error pushed back up from
                    # downstream): run them now, in order; the runner kicks the ordered lane.
                    self._kick_system()
                elif self._queue.ordered_len and not self._ord_busy:
                    self._kick_ordered()
        elif lane == ORD:
            self._ord_busy = False
            self._unit_interrupted = False
            self._unit_frame = None
        if frame.kind is not _DATA and isinstance(frame, (_EndFrame, _CancelFrame)):
            self._after(frame)
