from collections.abc import Awaitable, Generator
from typing import Any

from vani._core.queue import FrameQueue
from vani.frames import Frame, FrameDirection

BYPASS_LANE: int
SYSTEM_LANE: int
ORDERED_LANE: int

class Done:
    def __await__(self) -> Generator[Any]: ...

DONE: Done

class ProcessorCore:
    _prev: ProcessorCore | None
    _next: ProcessorCore | None
    _router: Any
    _fwd_down: ProcessorCore | None
    _fwd_up: ProcessorCore | None
    _is_router: bool
    _inline: bool
    _inline_types: tuple[type[Frame], ...] | None
    _observer: Any
    _queue: FrameQueue[tuple[Frame, FrameDirection]] | None
    _sys_runner: Any
    _ord_runner: Any
    _sys_busy: bool
    _ord_busy: bool
    _unit_frame: Frame | None
    _unit_interrupted: bool
    _unit_in_runner: bool
    _unit_cancel_requested: bool
    _unit_awaiting: bool

    def process_frame(self, frame: Frame, direction: FrameDirection) -> Awaitable[None]: ...
    def push_frame(self, frame: Frame, direction: FrameDirection = ...) -> Awaitable[None]: ...
    def _deliver(self, frame: Frame, direction: FrameDirection) -> None: ...
    def _interrupt(self) -> None: ...
