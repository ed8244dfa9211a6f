"""Observers see every frame pushed between processors, without ever slowing the pipeline.

Attach them with ``PipelineTask(pipeline, observers=[...])``. A push only appends a small
record to a list; the observers run later in a task of their own, so a slow observer never
blocks a processor. That task goes after the pipeline: on asyncio's default loop it waits while
anything else is runnable, for at most 5 ms after a push, then runs in 0.1 ms slices (on uvloop,
which does not say what is runnable, it just takes those slices). A reply's first audio does
not wait while its tokens are reported (``docs/concepts.md``, "Observers wait for a quiet
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

from vani.frames import Frame, FrameDirection
from vani.processors.frame_processor import FrameProcessor
from vani.processors.idle import others_ready, yield_quietly

logger = logging.getLogger(__name__)


# How long the observer task runs before it lets the loop run the rest (see _deliver), and how
# long after a push its record may wait while the pipeline has work (see _wait_for_quiet).
_SLICE_SECS = 0.0001
_DEFER_NS = 5_000_000


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


class ObserverDispatcher:
    """Collects pushes from processors and feeds them to observers from one task."""

    # Past this many undelivered records the oldest are dropped (with a warning): an observer
    # that cannot keep up must not grow memory without bound.
    MAX_PENDING = 100_000

    def __init__(self, observers: list[BaseObserver]) -> None:
        self._observers = list(observers)
        # Per frame type, the observers that want it (an empty tuple: no record is made).
        self._targets: dict[type[Frame], tuple[BaseObserver, ...]] = {}
        self._pending: deque[tuple[FramePushed, tuple[BaseObserver, ...]]] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0
        self._closing = False

    def add(self, observer: BaseObserver) -> None:
        self._observers.append(observer)
        self._targets.clear()

    def remove(self, observer: BaseObserver) -> None:
        if observer in self._observers:
            self._observers.remove(observer)
            self._targets.clear()

    def _targets_for(self, frame_type: type[Frame]) -> tuple[BaseObserver, ...]:
        targets = tuple(o for o in self._observers if o.wants(frame_type))
        self._targets[frame_type] = targets
        return targets

    def frame_pushed(self, source: FrameProcessor, frame: Frame, direction: FrameDirection) -> None:
        targets = self._targets.get(type(frame))
        if targets is None:
            targets = self._targets_for(type(frame))
        if not targets:
            return
        dest = source.next if direction is FrameDirection.DOWNSTREAM else source.previous
        if len(self._pending) >= self.MAX_PENDING:
            self._pending.popleft()
            self._dropped += 1
        record = FramePushed(source, dest, frame, direction, time.monotonic_ns())
        self._pending.append((record, targets))
        if self._wakeup is not None:
            self._wakeup.set()

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
            data, targets = self._pending.popleft()
            for observer in targets:
                try:
                    await observer.on_push_frame(data)
                except Exception:
                    logger.exception("observer %r failed", observer)
            if self._pending and loop.time() >= slice_end:
                # A plain yield (counted as work, so a virtual clock waits for the records),
                # then the pipeline goes first again if it has anything to run: a burst of
                # records (a reply's tokens, each with its client messages) must not hold the
                # loop while a service's answer or the caller's audio waits to be read.
                await asyncio.sleep(0)
                await self._wait_for_quiet(loop)
                slice_end = loop.time() + _SLICE_SECS

    async def _wait_for_quiet(self, loop: asyncio.AbstractEventLoop) -> None:
        """Yield while the loop has other work, for at most ``_DEFER_NS`` after the oldest
        record was pushed (observers come after the pipeline's own steps, never far behind)."""
        if self._closing or not self._pending:
            return
        ready = others_ready(loop)
        if not ready:  # nothing else to run, or a loop that does not say (uvloop)
            return
        deadline = self._pending[0][0].timestamp + _DEFER_NS
        while ready and not self._closing and time.monotonic_ns() < deadline:
            await yield_quietly(loop)
            ready = others_ready(loop)
