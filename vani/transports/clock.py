"""Clocks that pace a transport: the wall clock, and a virtual clock for files.

A transport owns one :class:`Clock` and reads every time from it, in seconds since the clock
started. Input frames are pushed and output chunks are sent against it, so what a file transport
records lines up on one timeline whatever clock drives it.

:class:`VirtualClock` makes file runs fast and deterministic: it jumps straight to the next timer
whenever the event loop has nothing else to do, instead of sleeping. "Nothing else to do" means no
ready callback in the loop for a few consecutive iterations (each iteration also polls sockets, so
loopback fakes in the same process get served) and no job running in the loop's default executor
(the clock watches ``loop.run_in_executor``, which ``asyncio.to_thread`` also uses: blocking
inference must go through it to be seen). Two modes:

* ``charge_processing_time=False`` (default): processing is free. Virtual time stands still while
  anything runs, so the same input gives the same timeline on any machine.
* ``charge_processing_time=True``: virtual time flows with the wall clock while anything runs and
  skips only idle waits, so a 400 ms Whisper inference shows up as 400 ms of latency in the call,
  but a 30 s call still takes only as long as its processing.

Timers must be created from the event loop thread. Nothing here is thread-safe except the executor
bookkeeping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TypeVar

from vani.errors import PipelineError
from vani.processors.idle import others_ready, yield_quietly

__all__ = ["Clock", "ClockHandle", "VirtualClock", "WallClock"]

_T = TypeVar("_T")

# Consecutive loop iterations with nothing ready before the virtual clock calls the loop idle.
# One is not enough: a frame pushed over a loopback socket shows up only on the next poll.
_IDLE_ITERATIONS = 3


class ClockHandle:
    """A scheduled callback; :meth:`cancel` stops it from running."""

    __slots__ = ("_callback", "_cancelled", "_loop_handle")

    def __init__(self, callback: Callable[[], object]) -> None:
        self._callback = callback
        self._cancelled = False
        self._loop_handle: asyncio.TimerHandle | None = None

    def cancel(self) -> None:
        self._cancelled = True
        if self._loop_handle is not None:
            self._loop_handle.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def _run(self) -> None:
        if not self._cancelled:
            self._cancelled = True  # runs once
            self._callback()


class Clock(ABC):
    """Time for one transport, in seconds since :meth:`start`."""

    @abstractmethod
    def start(self) -> None:
        """Set time zero to now, unless already started. Call from the running event loop."""

    @abstractmethod
    async def stop(self) -> None:
        """Cancel pending timers and release what the clock holds (tasks, executors)."""

    @abstractmethod
    def now(self) -> float:
        """Seconds since :meth:`start`."""

    @abstractmethod
    def call_at(self, when: float, callback: Callable[[], object]) -> ClockHandle:
        """Run ``callback`` (on the loop) once the clock reaches ``when`` seconds."""

    async def sleep_until(self, when: float) -> None:
        """Return once the clock reads at least ``when``; returns at once if it already does."""
        if when <= self.now():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        handle = self.call_at(when, wake)
        try:
            await future
        finally:
            handle.cancel()

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` on this clock."""
        await self.sleep_until(self.now() + seconds)


class WallClock(Clock):
    """Real time, read from the event loop's monotonic clock."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0

    def start(self) -> None:
        if self._loop is not None:
            return  # input and output of one transport both start it
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()

    async def stop(self) -> None:
        self._loop = None

    def now(self) -> float:
        if self._loop is None:
            return 0.0
        return self._loop.time() - self._t0

    def call_at(self, when: float, callback: Callable[[], object]) -> ClockHandle:
        if self._loop is None:
            raise PipelineError("the clock was used before start()")
        handle = ClockHandle(callback)
        handle._loop_handle = self._loop.call_at(self._t0 + when, handle._run)
        return handle


class _ExecutorWatch:
    """Counts jobs handed to ``loop.run_in_executor`` (any executor) until their result is back.

    It wraps the loop's ``run_in_executor`` on the loop *instance* while the virtual clock runs,
    so inference offloaded by any component (Whisper, Piper, the VAD's own worker thread) keeps
    the clock from skipping ahead. A job counts until its asyncio future is done; the decrement
    runs as that future's first callback, queued together with the awaiting task's wake-up, so
    the loop never looks idle in between.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, on_idle: Callable[[], None]) -> None:
        self._loop = loop
        self._on_idle = on_idle
        self._original = loop.run_in_executor
        self.running = 0

    def install(self) -> None:
        original = self._original

        def run_in_executor(
            executor: concurrent.futures.Executor | None, func: Callable[..., _T], *args: object
        ) -> asyncio.Future[_T]:
            future = original(executor, func, *args)
            self.running += 1
            future.add_done_callback(self._job_done)
            return future

        self._loop.run_in_executor = run_in_executor  # type: ignore[method-assign]

    def uninstall(self) -> None:
        # Drop the instance attribute: the class's method shows through again.
        self._loop.__dict__.pop("run_in_executor", None)

    def _job_done(self, _future: asyncio.Future[_T]) -> None:
        self.running -= 1
        if self.running == 0:
            self._on_idle()


class VirtualClock(Clock):
    """A clock that skips idle waits (see the module docstring for the two modes).

    :meth:`start` starts watching the loop's executor jobs and the task that advances time;
    :meth:`stop` undoes both. One virtual clock per event loop at a time.
    """

    def __init__(self, *, charge_processing_time: bool = False) -> None:
        self.charge_processing_time = charge_processing_time
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: list[tuple[float, int, ClockHandle]] = []
        self._seq = itertools.count()
        self._base = 0.0  # virtual seconds at _wall_base
        self._wall_base = 0.0
        self._driver: asyncio.Task[None] | None = None
        self._executor: _ExecutorWatch | None = None
        self._wake: asyncio.Event | None = None

    def start(self) -> None:
        if self._driver is not None:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._base = 0.0
        self._wall_base = time.perf_counter()
        self._wake = asyncio.Event()
        self._executor = _ExecutorWatch(loop, self._wake.set)
        self._executor.install()
        self._driver = loop.create_task(self._drive(), name="vani-virtual-clock")

    async def stop(self) -> None:
        driver, self._driver = self._driver, None
        if self._executor is not None:
            self._executor.uninstall()
            self._executor = None
        for _, _, handle in self._timers:
            handle.cancel()
        self._timers.clear()
        if driver is not None:
            driver.cancel()
            try:
                await driver
            except asyncio.CancelledError:
                # Our own cancellation of the driver; re-raise only if *we* are being cancelled.
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise

    def now(self) -> float:
        if self.charge_processing_time and self._driver is not None:
            return self._base + (time.perf_counter() - self._wall_base)
        return self._base

    def call_at(self, when: float, callback: Callable[[], object]) -> ClockHandle:
        if self._loop is None:
            raise PipelineError("the clock was used before start()")
        handle = ClockHandle(callback)
        heapq.heappush(self._timers, (when, next(self._seq), handle))
        if self._wake is not None:
            self._wake.set()
        return handle

    @property
    def busy_jobs(self) -> int:
        """Jobs running in executors of the loop (inference, blocking reads)."""
        return 0 if self._executor is None else self._executor.running

    def _advance_to(self, when: float) -> None:
        if when > self.now():
            self._base = when
            self._wall_base = time.perf_counter()
        elif not self.charge_processing_time:
            self._base = max(self._base, when)

    def _fire_due(self) -> bool:
        """Run every timer due now; True if any ran."""
        fired = False
        now = self.now()
        while self._timers and (self._timers[0][0] <= now or self._timers[0][2].cancelled):
            _, _, handle = heapq.heappop(self._timers)
            if not handle.cancelled:
                handle._run()
                fired = True
        return fired

    def _loop_has_ready_work(self) -> bool:
        # asyncio's default loop says what is runnable; other loops (uvloop) do not, and we then
        # rely on the iteration count alone. Tasks that only wait for a quiet loop (the
        # observers, deferring to the pipeline) are not work: counting them, each side would
        # wait for the other.
        assert self._loop is not None
        return bool(others_ready(self._loop))

    async def _settled(self) -> bool:
        """Yield to the loop until nothing else is runnable; False if work appeared meanwhile."""
        assert self._loop is not None
        for _ in range(_IDLE_ITERATIONS):
            await yield_quietly(self._loop)
            if self._loop_has_ready_work() or self.busy_jobs:
                return False
        return True

    async def _drive(self) -> None:
        assert self._wake is not None
        while True:
            self._fire_due()
            if self.busy_jobs:
                await self._wait_wake(self._next_due_in())
                continue
            if not await self._settled():
                continue
            if not self._timers:
                self._wake.clear()
                await self._wake.wait()
                continue
            head = self._timers[0]
            if head[2].cancelled:
                heapq.heappop(self._timers)
                continue
            self._advance_to(head[0])

    def _next_due_in(self) -> float | None:
        """Wall seconds until the next timer is due while time flows; None when frozen."""
        if not self.charge_processing_time or not self._timers:
            return None
        return max(0.0, self._timers[0][0] - self.now())

    async def _wait_wake(self, wait_secs: float | None) -> None:
        assert self._wake is not None
        self._wake.clear()
        if self.busy_jobs == 0:
            return
        if wait_secs is None:
            await self._wake.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_secs):
                await self._wake.wait()
