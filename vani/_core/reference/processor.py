"""Pure-Python reference of ``vani._core.processor``: the push/deliver/drive path of processors.

The same lanes and the same rules as the compiled module; a coroutine is driven with
``send(None)`` instead of ``PyIter_Send``. Used when the compiled core cannot be loaded (see
``docs/installation.md``) and by the tests that hold the two to one contract.
"""

from __future__ import annotations

import types
from collections.abc import Generator
from typing import Any

from vani.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FrameDirection,
    FrameKind,
    InterruptionFrame,
    StartFrame,
)

BYPASS_LANE = 0
SYSTEM_LANE = 1
ORDERED_LANE = 2

_SYSTEM = FrameKind.SYSTEM
_DATA = FrameKind.DATA
_DOWNSTREAM = FrameDirection.DOWNSTREAM


class Done:
    """An awaitable that is already complete."""

    def __await__(self) -> Generator[Any]:
        return self

    def __iter__(self) -> Done:
        return self

    def __next__(self) -> None:
        raise StopIteration

    def send(self, value: object) -> None:
        raise StopIteration

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> None:
        if val is None:
            raise typ
        raise val

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "<vani DONE>"


DONE = Done()


class ProcessorCore:
    """Lane state and the push/deliver path. Subclassed by ``FrameProcessor``."""

    # The subclass (FrameProcessor) provides these; declared for the type checker.
    _on_start: Any
    _on_end: Any
    _on_cancel: Any
    _is_unit_caller: Any
    _dropped_at_edge: Any
    _abort: Any
    _new_queue: Any
    _kick_ordered: Any
    _kick_system: Any
    _report: Any
    _move_to_task: Any
    _after: Any

    # Lane state, as class-level defaults: the compiled class sets them in ``__cinit__``, which
    # runs whatever the subclass's ``__init__`` does; plain attributes give the same guarantee.
    _prev: Any = None
    _next: Any = None
    _router: Any = None
    _fwd_down: Any = None
    _fwd_up: Any = None
    _is_router: bool = False
    _inline: bool = True
    _inline_types: Any = None
    _observer: Any = None
    _queue: Any = None
    _sys_runner: Any = None
    _ord_runner: Any = None
    _sys_busy: bool = False
    _ord_busy: bool = False
    _unit_frame: Frame | None = None
    _unit_interrupted: bool = False
    _unit_in_runner: bool = False
    _unit_cancel_requested: bool = False
    _unit_awaiting: bool = False

    def process_frame(self, frame: Frame, direction: FrameDirection) -> Any:
        """Run the lifecycle hooks on Start/End/Cancel frames; otherwise nothing."""
        t = type(frame)
        if t is StartFrame:
            return self._on_start(frame)
        if t is EndFrame:
            return self._on_end(frame)
        if t is CancelFrame:
            return self._on_cancel(frame)
        return DONE

    def push_frame(self, frame: Frame, direction: FrameDirection = _DOWNSTREAM) -> Done:
        """Send ``frame`` to the neighbour in ``direction``; see the compiled module."""
        if self._unit_interrupted and frame.interruptible and self._is_unit_caller():
            return DONE
        if self._observer is not None:
            self._observer.frame_pushed(self, frame, direction)
        target = self._next if direction is _DOWNSTREAM else self._prev
        if target is not None:
            target._deliver(frame, direction)
        else:
            self._dropped_at_edge(frame, direction)
        return DONE

    def _deliver(self, frame: Frame, direction: FrameDirection) -> None:
        if self._is_router:
            fwd = self._fwd_down if direction is _DOWNSTREAM else self._fwd_up
            if fwd is not None:
                fwd._deliver(frame, direction)
            elif self._router is not None:
                self._router(frame, direction)
            return
        if frame.kind is _SYSTEM:
            if isinstance(frame, InterruptionFrame):
                self._interrupt()
                self._run_inline(frame, direction, BYPASS_LANE)
            elif isinstance(frame, CancelFrame):
                self._abort()
                self._run_inline(frame, direction, BYPASS_LANE)
            elif self._sys_busy:
                self._ensure_queue().put_system((frame, direction))
            else:
                self._run_inline(frame, direction, SYSTEM_LANE)
        elif self._ord_busy or self._sys_busy:
            self._ensure_queue().put_ordered((frame, direction), frame.interruptible)
        elif not self._inline:
            if (
                self._inline_types is not None
                and isinstance(frame, self._inline_types)
                and (self._queue is None or not self._queue.ordered_len)
            ):
                self._run_inline(frame, direction, ORDERED_LANE)
                return
            self._ensure_queue().put_ordered((frame, direction), frame.interruptible)
            self._kick_ordered()
        else:
            self._run_inline(frame, direction, ORDERED_LANE)

    def _ensure_queue(self) -> Any:
        if self._queue is None:
            self._queue = self._new_queue()
        return self._queue

    def _interrupt(self) -> None:
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
                if self._unit_awaiting:
                    self._ord_runner.cancel()

    def _run_inline(self, frame: Frame, direction: FrameDirection, lane: int) -> None:
        try:
            aw = self.process_frame(frame, direction)
        except Exception as exc:
            self._report(exc, frame)
            return
        if aw is DONE:
            if frame.kind is not _DATA and isinstance(frame, EndFrame | CancelFrame):
                self._after(frame)
            return
        it = aw if type(aw) is types.CoroutineType else aw.__await__()
        if lane == SYSTEM_LANE:
            self._sys_busy = True
        elif lane == ORDERED_LANE:
            self._ord_busy = True
            self._unit_frame = frame
            self._unit_interrupted = False
        suspended = False
        yielded: object = None
        try:
            yielded = it.send(None)
            suspended = True
        except StopIteration:
            pass
        except Exception as exc:
            self._report(exc, frame)
        if suspended:
            self._move_to_task(frame, it, yielded, lane)
            return
        if lane == SYSTEM_LANE:
            self._sys_busy = False
            if self._queue is not None:
                if self._queue.system_len:
                    # System frames that arrived while this one ran go next, in order.
                    self._kick_system()
                elif self._queue.ordered_len and not self._ord_busy:
                    self._kick_ordered()
        elif lane == ORDERED_LANE:
            self._ord_busy = False
            self._unit_interrupted = False
            self._unit_frame = None
        if frame.kind is not _DATA and isinstance(frame, EndFrame | CancelFrame):
            self._after(frame)
