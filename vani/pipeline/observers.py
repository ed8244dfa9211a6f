"""Observers see every frame pushed between processors, without ever slowing the pipeline.

Attach them with ``PipelineTask(pipeline, observers=[...])``. A push only appends a small
record to a list; the observers run later in a task of their own, so a slow observer never
blocks a processor. That task goes after the pipeline: on asyncio's default loop it waits while
anything else is runnable, for at most 5 ms after a push, then runs in 0.1 ms slices (on uvloop,
which does not say what is runnable, it just takes those slices). A reply's first audio does
not wait while its tokens are reported. Speaking states, interruptions, errors and the end are
delivered at once (with every record before them), and at a call's end output transports
wait for the observers before they close (``docs/concepts.md``, "Observers wait for a quiet
loop"). With no observer attached, processors pay a single ``None`` check per push.

Most pushes are audio, and most observers ignore audio: an observer says which frame types it
wants (:meth:`BaseObserver.wants`, asked once per type), and a push no observer wants costs one
dictionary lookup, with no record made.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass

from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.processors.frame_processor import FrameProcessor
from vani.processors.idle import others_ready, yield_quietly

logger = logging.getLogger(__name__)


# How long the observer task runs before it lets the loop run the rest (see _deliver), and how
# long after a push its record may wait while the pipeline has work (see _wait_for_quiet).
_SLICE_SECS = 0.0001
_DEFER_NS = 5_000_000
# Pushes that mark a moment the client sees in order with the audio (speaking states, an
# interruption) or that come before a call ends: the records before them, and they, are
# delivered without waiting for a quiet loop. A user's "stopped speaking" must not reach the
# client after the reply's audio, nor an error after the socket closed.
_URGENT = (
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
    InterruptionFrame,
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    EndFrame,
    CancelFrame,
)


@dataclass(slots=True, frozen=True)
class FramePushed:
    """One push: who pushed which frame to whom, and when (monotonic nanoseconds)."""

    source: FrameProcessor
    destination: FrameProcessor | None
    frame: Frame
    direction: FrameDirection
    timestamp: int


class BaseObserver:
    """Subclass and override :meth:`on_push_frame`."""

    def wants(self, frame_type: type[Frame]) -> bool:
        """Whether pushes of frames of exactly this type should reach :meth:`on_push_frame`.

        Asked once per frame type (the answer is kept while the observer is attached), so it
        must not depend on state that changes during the call. The default is every type;
        override it to skip the bulk of the pushes (the audio) cheaply.
        """
        return True

    async def on_push_frame(self, data: FramePushed) -> None:
        """Called for every push, in push order, from the observer task."""


_Record = tuple[
    FrameProcessor, FrameProcessor | None, Frame, FrameDirection, int, tuple[BaseObserver, ...]
]


class ObserverDispatcher:
    """Collects pushes from processors and feeds them to observers from one task."""

    # Past this many undelivered records the oldest are dropped (with a warning): an observer
    # that cannot keep up must not grow memory without bound.
    MAX_PENDING = 100_000

    def __init__(self, observers: list[BaseObserver]) -> None:
        self._observers = list(observers)
        # Per frame type, the observers that want it (an empty tuple: no record is made) and
        # whether its push is urgent (_URGENT).
        self._targets: dict[type[Frame], tuple[tuple[BaseObserver, ...], bool]] = {}
        # A push as it happened; the FramePushed is built when it is delivered, off the path
        # of the processor that pushed.
        self._pending: deque[_Record] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0
        self._closing = False
        # Set by a push of a frame that marks a moment (_URGENT): deliver without waiting for
        # a quiet loop until nothing is pending.
        self._hurry = False
        # Records appended and records delivered so far, and the catch_up callers waiting for
        # the delivered count to reach a mark (futures, not tasks: nothing to leak).
        self._appended = 0
        self._delivered = 0
        self._catching_up: list[tuple[int, asyncio.Future[None]]] = []

    def add(self, observer: BaseObserver) -> None:
        self._observers.append(observer)
        self._targets.clear()

    def remove(self, observer: BaseObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)
            self._targets.clear()

    def _targets_for(self, frame_type: type[Frame]) -> tuple[tuple[BaseObserver, ...], bool]:
        targets = tuple(o for o in self._observers if o.wants(frame_type))
        entry = (targets, issubclass(frame_type, _URGENT))
        self._targets[frame_type] = entry
        return entry

    def frame_pushed(self, source: FrameProcessor, frame: Frame, direction: FrameDirection) -> None:
        entry = self._targets.get(type(frame))
        if entry is None:
            entry = self._targets_for(type(frame))
        targets, urgent = entry
        if not targets:
            return
        dest = source.next if direction is FrameDirection.DOWNSTREAM else source.previous
        if len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft()
            self._dropped += 1
            self._delivered += 1  # counted as done: catch_up must not wait for it
        self._pending.append((source, dest, frame, direction, time.monotonic_ns(), targets))
        self._appended += 1
        if urgent:
            self._hurry = True
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.is_set():
            wakeup.set()

    async def catch_up(self, timeout: float) -> None:  # noqa: ASYNC109
        """Return once every push made so far has been delivered (at most ``timeout`` seconds,
        without waiting for a quiet loop). The output transports call this at a call's end
        before closing, so the client hears about its last moments before the socket goes."""
        mark = self._appended
        if self._task is None or self._task.done() or self._delivered >= mark:
            return
        self._hurry = True
        assert self._wakeup is not None
        self._wakeup.set()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (mark, waiter)
        self._catching_up.append(entry)
        try:
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            if entry in self._catching_up:
                self._catching_up.remove(entry)
            waiter.cancel()

    def start(self) -> None:
        self._wakeup = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="observers")

    async def stop(self) -> None:
        """Deliver what is pending (for at most 2 s), then end the observer task."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        _, pending = await asyncio.wait({task}, timeout=2.0)
        if pending:
            task.cancel()
            await asyncio.wait({task})
        if self._dropped:
            logger.warning("observers fell behind: %d push records were dropped", self._dropped)

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while not self._closing:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._deliver(loop)

    async def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        await self._wait_for_quiet(loop)
        slice_end = loop.time() + _SLICE_SECS
        while self._pending:
            source, dest, frame, direction, timestamp, targets = self._pending.popleft()
            data = FramePushed(source, dest, frame, direction, timestamp)
            for observer in targets:
                try:
                    await observer.on_push_frame(data)
                except Exception:
                    logger.exception("observer %r failed", observer)
            self._delivered += 1
            if self._catching_up:
                self._release_caught_up()
            if self._pending and loop.time() >= slice_end:
                # A plain yield (counted as work, so a virtual clock waits for the records),
                # then the pipeline goes first again if it has anything to run: a burst of
                # records (a reply's tokens, each with its client messages) must not hold the
                # loop while a service's answer or the caller's audio waits to be read.
                await asyncio.sleep(0)
                await self._wait_for_quiet(loop)
                slice_end = loop.time() + _SLICE_SECS
        self._hurry = bool(self._catching_up)

    def _release_caught_up(self) -> None:
        still: list[tuple[int, asyncio.Future[None]]] = []
        for mark, waiter in self._catching_up:
            if self._delivered >= mark:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((mark, waiter))
        self._catching_up = still

    async def _wait_for_quiet(self, loop: asyncio.AbstractEventLoop) -> None:
        """Yield while the loop has other work, for at most ``_DEFER_NS`` after the oldest
        record was pushed (observers come after the pipeline's own steps, never far behind)."""
        if self._closing or self._hurry or not self._pending:
            return
        ready = others_ready(loop)
        if not ready:  # nothing else to run, or a loop that does not say (uvloop)
            return
        deadline = self._pending[0][4] + _DEFER_NS
        while ready and not (self._closing or self._hurry) and time.monotonic_ns() < deadline:
            await yield_quietly(loop)
            ready = others_ready(loop)
