"""PipelineTask: runs one pipeline — one call — from StartFrame to EndFrame or cancel.

The task owns a two-lane queue in front of the pipeline. ``queue_frame`` puts control and data
frames on its ordered lane, which one driver task feeds into the pipeline in order; a system
frame (``InterruptionFrame``, ...) given to a running task enters the pipeline at once, ahead of
everything queued. Frames that leave the pipeline upstream end at the task: errors fire
``on_error`` (a fatal one cancels the task), ``EndTaskFrame``/``CancelTaskFrame``/
``InterruptionTaskFrame`` are carried out. The run finishes when an EndFrame, StopFrame or
CancelFrame comes out of the pipeline, and leaves no task of its own or of its processors behind.

Events: ``on_pipeline_started(task, frame)``, ``on_pipeline_finished(task, frame)``,
``on_error(task, frame)``, ``on_idle_timeout(task)``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Final, assert_never, cast

from vani._core.queue import FrameQueue
from vani.errors import PipelineError
from vani.events import EventEmitter
from vani.frames import (
    BotSpeakingFrame,
    BotStartedSpeakingFrame,
    CancelFrame,
    CancelTaskFrame,
    EndFrame,
    EndTaskFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    FrameKind,
    HeartbeatFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    InterruptionTaskFrame,
    StartFrame,
    StopFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from vani.pipeline.observers import BaseObserver, ObserverDispatcher
from vani.processors.frame_processor import FrameProcessor

logger = logging.getLogger(__name__)

_DOWNSTREAM = FrameDirection.DOWNSTREAM
_UPSTREAM = FrameDirection.UPSTREAM
_FINAL_FRAMES = (EndFrame, StopFrame, CancelFrame)
_DATA: Final = FrameKind.DATA


def _all_subclasses(types: tuple[type[Frame], ...]) -> set[type[Frame]]:
    out: set[type[Frame]] = set()
    stack = list(types)
    while stack:
        t = stack.pop()
        if t not in out:
            out.add(t)
            stack.extend(t.__subclasses__())
    return out


# Frames that count as conversation activity for the idle timeout.
DEFAULT_IDLE_FRAMES: tuple[type[Frame], ...] = (
    BotSpeakingFrame,
    BotStartedSpeakingFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    TranscriptionFrame,
    InterimTranscriptionFrame,
)

# The driver hands the loop back after this many frames in a row, so other tasks (a transport,
# a system frame from elsewhere) are never starved by a long backlog.
_FAIRNESS_BATCH = 64


@dataclass(slots=True)
class PipelineParams:
    """Settings every processor receives in the StartFrame."""

    allow_interruptions: bool = True
    audio_in_sample_rate: int = 16000
    audio_out_sample_rate: int = 24000
    enable_metrics: bool = False
    enable_usage_metrics: bool = False
    enable_heartbeats: bool = False
    heartbeats_period_secs: float = 1.0


class _TaskEdge(FrameProcessor):
    """Where frames leave the pipeline: upstream at the source, downstream at the sink."""

    def __init__(self, task: PipelineTask, name: str) -> None:
        super().__init__(name=name)
        self._is_router = True
        self._router = task._frame_out


class PipelineTask(EventEmitter):
    """Runs ``pipeline``. Give it frames with :meth:`queue_frame(s)`; run it with a
    :class:`~vani.pipeline.runner.PipelineRunner` (or ``await task.run()``)."""

    def __init__(
        self,
        pipeline: FrameProcessor,
        *,
        params: PipelineParams | None = None,
        observers: Sequence[BaseObserver] | None = None,
        idle_timeout_secs: float | None = 300.0,
        idle_timeout_frames: tuple[type[Frame], ...] = DEFAULT_IDLE_FRAMES,
        cancel_on_idle_timeout: bool = True,
        cancel_timeout_secs: float = 5.0,
        name: str | None = None,
    ) -> None:
        self._name = name or f"PipelineTask#{id(self):x}"
        self._pipeline = pipeline
        self._params = params or PipelineParams()
        self._observers = list(observers or ())
        self._idle_timeout_secs = idle_timeout_secs
        self._idle_frames = idle_timeout_frames
        self._idle_data_types = frozenset(
            t
            for t in _all_subclasses(idle_timeout_frames)
            if getattr(t, "kind", None) is FrameKind.DATA
        )
        self._cancel_on_idle_timeout = cancel_on_idle_timeout
        self._cancel_timeout_secs = cancel_timeout_secs
        self._source = _TaskEdge(self, f"{self._name}::source")
        self._sink = _TaskEdge(self, f"{self._name}::sink")
        self._source.link(pipeline)
        pipeline.link(self._sink)
        self._queue: FrameQueue[tuple[Frame, FrameDirection]] = FrameQueue()
        self._state = "new"  # new -> starting -> running -> finished
        self._started: asyncio.Future[object] | None = None
        self._finished: asyncio.Future[Frame] | None = None
        self._driver: asyncio.Task[object] | None = None
        self._side_tasks: set[asyncio.Task[object]] = set()
        self._last_activity = 0.0
        self._idle_handle: asyncio.TimerHandle | None = None
        self._dispatcher: ObserverDispatcher | None = None
        self._heartbeat_latency_ns: int | None = None
        for event in ("on_pipeline_started", "on_pipeline_finished", "on_error", "on_idle_timeout"):
            self._register_event_handler(event)

    def __str__(self) -> str:
        return self._name

    @property
    def name(self) -> str:
        return self._name

    @property
    def params(self) -> PipelineParams:
        return self._params

    @property
    def pipeline(self) -> FrameProcessor:
        return self._pipeline

    @property
    def finished(self) -> bool:
        """True once the run has ended (EndFrame, StopFrame or cancel)."""
        return self._state == "finished"

    @property
    def heartbeat_latency_secs(self) -> float | None:
        """Round trip of the last heartbeat through the pipeline, when heartbeats are on."""
        ns = self._heartbeat_latency_ns
        return None if ns is None else ns / 1e9

    # -- feeding ------------------------------------------------------------------------------

    async def queue_frame(self, frame: Frame, direction: FrameDirection = _DOWNSTREAM) -> None:
        """Give the pipeline a frame.

        Control and data frames are queued in order. A system frame given to a running task is
        delivered at once, ahead of everything queued (``InterruptionFrame`` enters at the head
        and the interruption contract applies); before the run starts, it waits for the start.
        """
        if self._state == "finished":
            raise PipelineError(f"{self._name} has finished; it takes no more frames")
        kind = frame.kind
        match kind:
            case FrameKind.SYSTEM:
                if self._state == "running":
                    self._inject(frame, direction)
                else:
                    self._queue.put_system((frame, direction))
            case FrameKind.CONTROL | FrameKind.DATA:
                self._queue.put_ordered((frame, direction), frame.interruptible)
            case _:
                assert_never(kind)

    async def queue_frames(self, frames: Iterable[Frame]) -> None:
        """Queue each frame in turn (see :meth:`queue_frame`)."""
        for frame in frames:
            await self.queue_frame(frame)

    def _inject(self, frame: Frame, direction: FrameDirection) -> None:
        if isinstance(frame, InterruptionFrame):
            # The task's queue is the head of the pipeline: it obeys the interruption too.
            self._queue.drop_interruptible()
        if direction is _DOWNSTREAM:
            self._pipeline._deliver(frame, _DOWNSTREAM)
        else:
            self._pipeline._deliver(frame, _UPSTREAM)

    async def cancel(self, reason: str | None = None) -> None:
        """Stop at once: a CancelFrame goes through the pipeline and the run finishes."""
        if self._state == "finished":
            return
        if self._state == "new":
            self._state = "finished"
            return
        frame = CancelFrame(reason=reason)
        self._inject(frame, _DOWNSTREAM)
        # A processor that swallows the CancelFrame must not keep the call alive.
        self._finish(frame)

    def add_observer(self, observer: BaseObserver) -> None:
        """Attach ``observer``; it sees every push from now on (also while the task runs)."""
        self._observers.append(observer)
        if self._dispatcher is not None:
            self._dispatcher.add(observer)
        elif self._state in ("starting", "running"):
            self._attach_observers()

    def remove_observer(self, observer: BaseObserver) -> None:
        """Detach ``observer`` (pushes already recorded may still reach it)."""
        if observer in self._observers:
            self._observers.remove(observer)
        if self._dispatcher is not None:
            self._dispatcher.remove(observer)

    def _attach_observers(self) -> None:
        self._dispatcher = ObserverDispatcher(self._observers)
        for proc in self._processors():
            proc._observer = self._dispatcher
        self._dispatcher.start()

    def pending_frames(self) -> int:
        """Frames queued in the task that the pipeline has not taken yet."""
        return len(self._queue)

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run the pipeline until it ends. Normally called by ``PipelineRunner.run``."""
        if self._state != "new":
            raise PipelineError(f"{self._name} was already run; build a new task for a new run")
        loop = asyncio.get_running_loop()
        self._state = "starting"
        self._started = loop.create_future()
        self._finished = loop.create_future()
        if self._observers:
            self._attach_observers()
        try:
            params = self._params
            start = StartFrame(
                audio_in_sample_rate=params.audio_in_sample_rate,
                audio_out_sample_rate=params.audio_out_sample_rate,
                allow_interruptions=params.allow_interruptions,
                enable_metrics=params.enable_metrics,
                enable_usage_metrics=params.enable_usage_metrics,
            )
            self._pipeline._deliver(start, _DOWNSTREAM)
            await asyncio.wait(
                [self._started, cast("asyncio.Future[object]", self._finished)],
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not self._finished.done():
                self._state = "running"
                self._touch()
                await self._call_event_handler("on_pipeline_started", start)
                driver: asyncio.Task[object] = loop.create_task(
                    self._drive(), name=f"{self._name}:driver"
                )
                self._driver = driver
                if params.enable_heartbeats:
                    self._spawn(self._heartbeats(params.heartbeats_period_secs))
            last = await asyncio.shield(self._finished)
        except asyncio.CancelledError:
            # The run itself was cancelled (e.g. by its caller): cancel the pipeline first.
            if self._finished is not None and not self._finished.done():
                frame = CancelFrame(reason="run cancelled")
                if self._state in ("starting", "running"):
                    self._inject(frame, _DOWNSTREAM)
                self._finish(frame)
            await self._cleanup()
            raise
        await self._cleanup()
        await self._call_event_handler("on_pipeline_finished", last)

    async def _drive(self) -> None:
        queue = self._queue
        pipeline = self._pipeline
        n = 0
        while True:
            # get_nowait while there is a backlog: no coroutine per frame.
            frame, direction = queue.get_nowait() if queue else await queue.get()
            pipeline._deliver(frame, direction)
            n += 1
            if n >= _FAIRNESS_BATCH or not queue:
                n = 0
                await asyncio.sleep(0)

    def _processors(self) -> list[FrameProcessor]:
        return [self._source, *self._pipeline.processors_tree(), self._sink]

    async def _cleanup(self) -> None:
        self._state = "finished"
        if self._idle_handle is not None:
            self._idle_handle.cancel()
            self._idle_handle = None
        driver, self._driver = self._driver, None
        tasks: list[asyncio.Future[object]] = []
        if driver is not None:
            driver.cancel()
            tasks.append(driver)
        for side in self._side_tasks:
            side.cancel()
            tasks.append(side)
        # Give processors a moment to finish what the End/Cancel started (closing sockets),
        # then cancel whatever is left: nothing of this run may outlive it.
        owned = [t for p in self._processors() for t in p._owned_tasks() if not t.done()]
        if owned:
            _, pending = await asyncio.wait(owned, timeout=self._cancel_timeout_secs)
            for t in pending:
                logger.warning("%s: cancelling %s, still running after the end", self, t.get_name())
                t.cancel()
            tasks.extend(pending)
        if tasks:
            await asyncio.wait(tasks)
        for t in owned:
            if t.done() and not t.cancelled():
                t.exception()  # already reported by the processor; mark it observed
        if self._dispatcher is not None:
            await self._dispatcher.stop()

    def _finish(self, frame: Frame) -> None:
        if self._finished is not None and not self._finished.done():
            self._finished.set_result(frame)
        if self._state in ("starting", "running"):
            self._state = "stopping"

    def _spawn(self, coro: Coroutine[object, None, object]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    # -- frames leaving the pipeline ----------------------------------------------------------

    def _frame_out(self, frame: Frame, direction: FrameDirection) -> None:
        kind = frame.kind
        if kind is _DATA:
            # The hot path (audio, text): nothing to do but note conversation activity.
            if type(frame) in self._idle_data_types:
                self._touch()
            return
        match kind:
            case FrameKind.SYSTEM | FrameKind.CONTROL:
                pass
            case _:
                assert_never(kind)
        if isinstance(frame, self._idle_frames):
            self._touch()
        if direction is _DOWNSTREAM:
            if isinstance(frame, StartFrame):
                if self._started is not None and not self._started.done():
                    self._started.set_result(None)
            elif isinstance(frame, _FINAL_FRAMES):
                self._finish(frame)
            elif isinstance(frame, HeartbeatFrame):
                self._heartbeat_latency_ns = time.monotonic_ns() - frame.timestamp
            elif isinstance(frame, ErrorFrame):
                self._on_error(frame)
            return
        if isinstance(frame, ErrorFrame):
            self._on_error(frame)
        elif isinstance(frame, InterruptionFrame):
            # Broadcast from inside the pipeline: nothing queued here may follow it.
            self._queue.drop_interruptible()
        elif isinstance(frame, EndTaskFrame):
            self._queue.put_ordered((EndFrame(reason=frame.reason), _DOWNSTREAM), False)
        elif isinstance(frame, CancelTaskFrame):
            self._spawn(self.cancel(frame.reason))
        elif isinstance(frame, InterruptionTaskFrame) and self._state == "running":
            self._inject(InterruptionFrame(), _DOWNSTREAM)

    def _on_error(self, frame: ErrorFrame) -> None:
        if frame.fatal:
            logger.error("%s: fatal error: %s", self, frame.error)
        else:
            logger.warning("%s: error: %s", self, frame.error)
        if self.has_event_handlers("on_error"):
            self._spawn(self._call_event_handler("on_error", frame))
        if frame.fatal:
            self._spawn(self.cancel(f"fatal error: {frame.error}"))

    # -- idle timeout and heartbeats ----------------------------------------------------------

    def _touch(self) -> None:
        timeout = self._idle_timeout_secs
        if timeout is None:
            return
        loop = asyncio.get_running_loop()
        self._last_activity = loop.time()
        if self._idle_handle is None:
            self._idle_handle = loop.call_later(timeout, self._idle_check)

    def _idle_check(self) -> None:
        # Rescheduled lazily: activity only records a time, so a busy call costs no timer churn.
        self._idle_handle = None
        timeout = self._idle_timeout_secs
        if timeout is None or self._state != "running":
            return
        loop = asyncio.get_running_loop()
        remaining = self._last_activity + timeout - loop.time()
        if remaining > 0:
            self._idle_handle = loop.call_later(remaining, self._idle_check)
            return
        logger.info("%s: idle for %.1f s", self, timeout)
        self._spawn(self._idle_timeout())

    async def _idle_timeout(self) -> None:
        await self._call_event_handler("on_idle_timeout")
        if self._cancel_on_idle_timeout:
            await self.cancel("idle timeout")
        else:
            self._touch()

    async def _heartbeats(self, period: float) -> None:
        while self._state == "running":
            self._inject(HeartbeatFrame(timestamp=time.monotonic_ns()), _DOWNSTREAM)
            await asyncio.sleep(period)
