"""FrameProcessor: the unit every pipeline is built from, with Pipecat's spelling.

How frames run
--------------
A push calls the next processor at once, in the pusher's own task: ``process_frame`` is driven
synchronously until it either finishes or *suspends* (awaits real I/O or a sleep). A processor
that only transforms frames therefore costs one coroutine step per frame, with no queue hop and
no task switch. When ``process_frame`` suspends, the rest of that call moves to the processor's
own task (created on demand, ended when the processor is idle again), and the pusher carries on;
while the processor is busy, later frames queue for it in a two-lane ``FrameQueue``.

The lane contract holds for every processor, inline or not:

* System frames are handled at once, even while an ordered frame is in flight, and never wait
  in the ordered lane. A processor handles its system frames one at a time, except
  ``InterruptionFrame`` and ``CancelFrame``, which never wait at all.
* Control and data frames are handled one at a time, in arrival order, and not before a system
  frame that arrived earlier has been handled.
* On ``InterruptionFrame``, before ``process_frame`` sees it, the processor drops its queued
  interruptible frames and cancels its in-flight interruptible call (``CancelledError`` at the
  call's await); whatever an interrupted call still pushes (interruptible) is discarded.
  Uninterruptible frames (``EndFrame``, function-call results, the user's
  ``InputAudioRawFrame``) are neither dropped nor cancelled.

Differences from Pipecat: ``await push_frame(...)`` returns once the next processor has taken
the frame (handled it, or queued it while busy), never after waiting on I/O; and input audio is
ordered data that never delays a system frame (Pipecat makes it a system frame).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Coroutine, Generator
from typing import ClassVar, Protocol, cast

from vani._core.processor import (
    BYPASS_LANE,
    ORDERED_LANE,
    SYSTEM_LANE,
    ProcessorCore,
)
from vani._core.queue import FrameQueue
from vani.events import EventEmitter
from vani.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    StartFrame,
)

logger = logging.getLogger(__name__)

_DOWNSTREAM = FrameDirection.DOWNSTREAM
_processor_ids = itertools.count(1)

_QueueItem = tuple[Frame, FrameDirection]

# How a frame is run: system frames that never wait (interruption, cancel), the system lane,
# and the ordered lane.
_BYPASS, _SYS, _ORD = BYPASS_LANE, SYSTEM_LANE, ORDERED_LANE


class PushObserver(Protocol):
    """What a processor notifies on every push when observers are attached to its task."""

    def frame_pushed(
        self, source: FrameProcessor, frame: Frame, direction: FrameDirection
    ) -> None: ...

    async def catch_up(self, timeout: float) -> None: ...  # noqa: ASYNC109


class _Resume:
    """Continues a coroutine that already ran up to its first suspension in another task.

    Awaiting it inside a new task hands the future the coroutine is waiting on to that task,
    then forwards every value and exception, so the coroutine cannot tell it has moved.
    """

    __slots__ = ("_it", "_yielded")

    def __init__(self, it: Coroutine[object, None, object], yielded: object) -> None:
        self._it = it
        self._yielded = yielded

    def __await__(self) -> Generator[object, None, None]:
        it, value = self._it, self._yielded
        self._yielded = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                it.close()
                raise
            except BaseException as exc:  # forwarded, CancelledError included
                try:
                    value = it.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = it.send(sent)
                except StopIteration:
                    return


def _cancel_unstarted(aw: Awaitable[None]) -> Awaitable[None] | None:
    """Throw CancelledError into a call that is not being awaited by any task.

    Returns None once the call ended, or an awaitable for the rest of it if the call caught
    the cancellation and went on awaiting.
    """
    it = aw._it if isinstance(aw, _Resume) else aw
    if not isinstance(it, Coroutine):
        return None
    try:
        value = it.throw(asyncio.CancelledError())
    except (asyncio.CancelledError, StopIteration):
        return None
    except Exception:
        logger.exception("a call raised while being cancelled by an interruption")
        return None
    return _Resume(it, value)


class FrameProcessor(ProcessorCore, EventEmitter):
    """Base class of every processor. Subclasses override :meth:`process_frame`.

    A subclass calls ``await super().process_frame(frame, direction)`` first (it runs the
    :meth:`start`, :meth:`stop` and :meth:`cancel` hooks on Start/End/Cancel frames), then
    handles the frame and pushes on whatever it does not consume with :meth:`push_frame`.
    Not thread-safe: everything runs on the event loop's thread.

    ``run_inline`` (class attribute, default True): ordered frames start in the pusher's task
    and move to this processor's task only if ``process_frame`` suspends; after the first such
    move the processor keeps using its own task. Set it to False in a class whose
    ``process_frame`` holds task-bound state across an await — anyio locks or cancel scopes,
    as inside httpx and the openai SDK — so that every call runs wholly in one task.

    ``inline_frame_types`` (class attribute, default empty): ordered frames of these types start
    in the pusher's task even once the processor runs its calls in its own task, whenever
    nothing is queued ahead of them; only a call that suspends then moves to the processor's
    task. It spares a frame the processor merely passes on (the caller's audio going past an
    LLM service) a wake-up of that task. List only types whose handling holds no task-bound
    state across an await. See docs/concepts.md.
    """

    run_inline: ClassVar[bool] = True
    inline_frame_types: ClassVar[tuple[type[Frame], ...]] = ()

    def __init__(self, *, name: str | None = None, **kwargs: object) -> None:
        if kwargs:
            unknown = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {unknown}")
        self._id = next(_processor_ids)
        self._inline = type(self).run_inline
        self._inline_types = type(self).inline_frame_types or None
        self._ord_waiter: asyncio.Future[None] | None = None
        # A call of an inline_frame_types frame that suspended, for the parked runner to finish.
        self._ord_handoff: tuple[Coroutine[object, None, object], object, Frame] | None = None
        self._name = name or f"{type(self).__name__}#{self._id}"
        # Links and lane state (busy flags, runners, the in-flight ordered call) live in the
        # compiled ProcessorCore.
        self._tasks: set[asyncio.Task[object]] | None = None
        # Set from the StartFrame.
        self._started = False
        self._audio_in_sample_rate = 16000
        self._audio_out_sample_rate = 24000
        self._allow_interruptions = True
        self._enable_metrics = False
        self._enable_usage_metrics = False

    # -- identity and links -------------------------------------------------------------------

    @property
    def id(self) -> int:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    def __str__(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name}>"

    @property
    def next(self) -> FrameProcessor | None:
        """The processor downstream of this one."""
        return cast("FrameProcessor | None", self._next)

    @property
    def previous(self) -> FrameProcessor | None:
        """The processor upstream of this one."""
        return cast("FrameProcessor | None", self._prev)

    def link(self, processor: FrameProcessor) -> None:
        """Make ``processor`` the next one downstream (and this one its previous)."""
        self._next = processor
        processor._prev = self
        self._linked()
        processor._linked()

    def _linked(self) -> None:
        """Called after this processor's neighbours changed (pipelines rewire their edges)."""

    def processors_tree(self) -> list[FrameProcessor]:
        """This processor and every processor nested inside it (pipelines override this)."""
        return [self]

    # -- settings from the StartFrame ---------------------------------------------------------

    @property
    def audio_in_sample_rate(self) -> int:
        return self._audio_in_sample_rate

    @property
    def audio_out_sample_rate(self) -> int:
        return self._audio_out_sample_rate

    @property
    def interruptions_allowed(self) -> bool:
        return self._allow_interruptions

    @property
    def metrics_enabled(self) -> bool:
        return self._enable_metrics

    @property
    def usage_metrics_enabled(self) -> bool:
        return self._enable_usage_metrics

    @property
    def started(self) -> bool:
        return self._started

    # -- what subclasses override -------------------------------------------------------------

    async def start(self, frame: StartFrame) -> None:
        """Called on the StartFrame, before a subclass pushes it on. Open connections here."""

    async def stop(self, frame: EndFrame) -> None:
        """Called on the EndFrame, after every frame queued before it. Close gracefully."""

    async def cancel(self, frame: CancelFrame) -> None:
        """Called on the CancelFrame. Stop at once."""

    # -- pushing ------------------------------------------------------------------------------

    def _is_unit_caller(self) -> bool:
        # An interrupted call runs either inline (the caller is on the stack) or in the ordered
        # runner; pushes from the processor's other tasks are not part of it.
        runner = self._ord_runner
        return runner is None or asyncio.current_task() is runner

    async def push_error(
        self,
        error: str | ErrorFrame,
        exception: BaseException | None = None,
        fatal: bool = False,
    ) -> None:
        """Push an :class:`ErrorFrame` upstream; a ``fatal`` one ends the pipeline task."""
        if isinstance(error, ErrorFrame):
            frame = error
            if frame.processor is None:
                frame.processor = self._name
        else:
            frame = ErrorFrame(error=error, fatal=fatal, exception=exception, processor=self._name)
        await self.push_frame(frame, FrameDirection.UPSTREAM)

    async def broadcast_interruption(self) -> None:
        """Interrupt the whole pipeline: an InterruptionFrame goes both ways from here.

        This processor drops its own queued interruptible frames but keeps the call that is
        broadcasting (it is the new work, not the interrupted one).
        """
        if self._queue is not None:
            self._queue.drop_interruptible()
        await self.push_frame(InterruptionFrame(), FrameDirection.UPSTREAM)
        await self.push_frame(InterruptionFrame(), _DOWNSTREAM)

    # -- tasks owned by the processor ---------------------------------------------------------

    def create_task(
        self, coroutine: Coroutine[object, None, object], name: str | None = None
    ) -> asyncio.Task[object]:
        """Start a task this processor owns; it is cancelled on End/Cancel if still running.

        An exception that escapes the task is logged and pushed upstream as an ErrorFrame.
        """
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(
            coroutine, name=f"{self._name}:{name or 'task'}"
        )
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[object]) -> None:
        if self._tasks is not None:
            self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("%s: task %s failed", self, task.get_name(), exc_info=exc)
            self._push_error_now(f"{self._name}: task {task.get_name()} failed: {exc}", exc)

    async def wait_for_observers(self, timeout: float) -> None:  # noqa: ASYNC109
        """Let the task's observers deliver every push made so far, for at most ``timeout``
        seconds (they otherwise wait for a quiet loop; ``docs/concepts.md``). An output
        transport calls this before it closes, so the client's last messages go out first."""
        observer = self._observer
        if observer is not None:
            await observer.catch_up(timeout)

    # The parameter keeps Pipecat's name so migrated code runs unchanged.
    async def cancel_task(
        self,
        task: asyncio.Task[object],
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> None:
        """Cancel ``task`` and wait for it to finish (at most ``timeout`` seconds)."""
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=timeout)

    def _push_error_now(
        self, message: str, exc: BaseException | None, *, fatal: bool = False
    ) -> None:
        frame = ErrorFrame(error=message, fatal=fatal, exception=exc, processor=self._name)
        self.push_frame(frame, FrameDirection.UPSTREAM)

    def _owned_tasks(self) -> list[asyncio.Task[object]]:
        tasks: list[asyncio.Task[object]] = list(self._tasks or ())
        for runner in (self._sys_runner, self._ord_runner):
            if runner is not None:
                tasks.append(cast("asyncio.Task[object]", runner))
        return tasks

    def _cancel_owned_tasks(self, include_runners: bool) -> None:
        current = asyncio.current_task()
        for task in list(self._tasks or ()):
            if task is not current and not task.done():
                task.cancel()
        if include_runners:
            for runner in (self._sys_runner, self._ord_runner):
                if runner is not None and runner is not current and not runner.done():
                    runner.cancel()

    # -- delivery: the lanes ------------------------------------------------------------------

    def _new_queue(self) -> FrameQueue[_QueueItem]:
        return FrameQueue()

    def _dropped_at_edge(self, frame: Frame, direction: FrameDirection) -> None:
        logger.debug("%s: no processor %s, dropping %s", self, direction.name, frame.name)

    def _abort(self) -> None:
        # CancelFrame: nothing queued or in flight survives, and the lanes start over.
        if self._queue is not None:
            self._queue.clear()
        self._cancel_owned_tasks(include_runners=True)
        self._sys_runner = self._ord_runner = None
        self._ord_waiter = None
        self._drop_handoff()
        self._sys_busy = self._ord_busy = False
        self._unit_in_runner = self._unit_cancel_requested = False
        self._unit_interrupted = False
        self._unit_frame = None

    def _drop_handoff(self) -> None:
        # The runner given a suspended call is gone before it could finish it: close the call.
        handoff, self._ord_handoff = self._ord_handoff, None
        if handoff is not None:
            handoff[0].close()

    def _move_to_task(
        self, frame: Frame, it: Coroutine[object, None, object], yielded: object, lane: int
    ) -> None:
        # The call suspended: the rest of it continues in a task of this processor.
        if lane == _BYPASS:
            # Interruption and cancel handling never waits for, nor holds up, the system lane.
            self.create_task(self._finish_bypass(frame, it, yielded), "system")
            return
        if lane == _ORD:
            waiter = self._ord_waiter
            if not self._inline and waiter is not None and not waiter.done():
                # A frame of inline_frame_types that suspended: the parked runner finishes it.
                # (A done waiter belongs to a runner being cancelled: a new runner takes over.)
                self._ord_waiter = None
                self._ord_handoff = (it, yielded, frame)
                self._unit_in_runner = True
                if self._unit_interrupted:
                    self._unit_cancel_requested = True
                waiter.set_result(None)
                return
            # It waits on I/O: later calls start in its own task, so none of them ever moves
            # between tasks midway again.
            self._inline = False
        runner = asyncio.get_running_loop().create_task(
            self._run_lane(lane == _SYS, it, yielded, frame),
            name=f"{self._name}:{'system' if lane == _SYS else 'ordered'}",
        )
        if lane == _SYS:
            self._sys_runner = runner
            return
        self._ord_runner = runner
        self._unit_in_runner = True
        if self._unit_interrupted:
            # Interrupted before it even suspended: the runner cancels it when it starts.
            self._unit_cancel_requested = True

    async def _finish_bypass(
        self, frame: Frame, it: Coroutine[object, None, object], yielded: object
    ) -> None:
        try:
            await _Resume(it, yielded)
        except Exception as exc:
            self._report(exc, frame)
        if isinstance(frame, CancelFrame):
            self._after(frame)

    def _after(self, frame: Frame) -> None:
        # Called after an End or Cancel frame was handled: tasks the processor still owns
        # would outlive the pipeline.
        self._cancel_owned_tasks(include_runners=False)

    def _kick_system(self) -> None:
        """System frames were queued behind a system call that finished inline: run them."""
        self._sys_busy = True
        self._sys_runner = asyncio.get_running_loop().create_task(
            self._run_lane(True, None, None, None), name=f"{self._name}:system"
        )

    def _kick_ordered(self) -> None:
        """Ordered frames wait and the lane is idle: wake the parked runner or start one."""
        if self._sys_busy:
            return  # the system lane kicks the ordered lane when it is done
        waiter = self._ord_waiter
        if waiter is not None:
            self._ord_waiter = None
            self._ord_busy = True
            if not waiter.done():
                waiter.set_result(None)
        elif self._ord_runner is None:
            self._start_ordered_runner()

    def _start_ordered_runner(self) -> None:
        self._ord_busy = True
        self._ord_runner = asyncio.get_running_loop().create_task(
            self._run_lane(False, None, None, None), name=f"{self._name}:ordered"
        )

    async def _run_lane(
        self,
        system: bool,
        it: Coroutine[object, None, object] | None,
        yielded: object,
        frame: Frame | None,
    ) -> None:
        me = asyncio.current_task()
        try:
            if it is not None and frame is not None:
                await self._run_unit(system, frame, _Resume(it, yielded))
            queue = self._queue
            if queue is None:
                queue = self._queue = self._new_queue()
            while True:
                if system:
                    if not queue.system_len:
                        break
                    frame, direction = queue.get_system_nowait()
                else:
                    if not queue.ordered_len or self._sys_busy:
                        if self._inline or isinstance(frame, EndFrame):
                            break  # ordered frames wait for the system lane; it restarts us
                        # A processor with its own task keeps it, parked until the next frame,
                        # rather than creating a task per frame.
                        await self._park()
                        handoff = self._ord_handoff
                        if handoff is not None:
                            self._ord_handoff = None
                            it, yielded, frame = handoff
                            await self._run_unit(False, frame, _Resume(it, yielded))
                        continue
                    frame, direction = queue.get_ordered_nowait()
                    self._unit_frame = frame
                    self._unit_interrupted = False
                    self._unit_in_runner = True
                try:
                    aw = self.process_frame(frame, direction)
                except Exception as exc:
                    self._report(exc, frame)
                    continue
                await self._run_unit(system, frame, aw)
        finally:
            if system:
                if self._sys_runner is me:
                    self._sys_runner = None
                    self._sys_busy = False
                    if self._queue is not None and self._queue.ordered_len and not self._ord_busy:
                        self._kick_ordered()
            elif self._ord_runner is me:
                self._drop_handoff()
                self._ord_runner = None
                self._ord_waiter = None
                self._ord_busy = False
                self._unit_in_runner = False
                self._unit_interrupted = False

    async def _park(self) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ord_waiter = waiter
        self._ord_busy = False
        try:
            await waiter
        finally:
            if self._ord_waiter is waiter:
                self._ord_waiter = None

    async def _run_unit(self, system: bool, frame: Frame, aw: Awaitable[None]) -> None:
        if not system and self._unit_cancel_requested:
            # Interrupted before this runner got to run it: cancel it now, cleanup included.
            self._unit_cancel_requested = False
            resumed = _cancel_unstarted(aw)
            if resumed is None:
                self._unit_interrupted = False
                self._unit_in_runner = False
                return
            aw = resumed
        self._unit_awaiting = True
        try:
            await aw
        except asyncio.CancelledError:
            if system or not self._unit_cancel_requested:
                raise
            self._unit_cancel_requested = False
            task = asyncio.current_task()
            if task is not None and task.uncancel() > 0:
                raise  # cancelled from outside as well: the runner itself must stop
        except Exception as exc:
            self._report(exc, frame)
        finally:
            self._unit_awaiting = False
            if not system:
                if self._unit_cancel_requested:
                    # The call finished before the cancellation reached it.
                    self._unit_cancel_requested = False
                    task = asyncio.current_task()
                    if task is not None:
                        task.uncancel()
                self._unit_interrupted = False
                self._unit_in_runner = False
                self._unit_frame = None
        if isinstance(frame, EndFrame | CancelFrame):
            self._after(frame)

    def _report(self, exc: BaseException, frame: Frame) -> None:
        if isinstance(frame, StartFrame | EndFrame):
            # The frame that starts or ends the call did not get through: nothing downstream
            # will start or end, so the task must not wait for it. A fatal error cancels it.
            what = "start" if isinstance(frame, StartFrame) else "end"
            logger.error("%s: failed to %s", self, what, exc_info=exc)
            self._push_error_now(f"{self._name}: failed to {what}: {exc}", exc, fatal=True)
            return
        logger.error("%s: error processing %s", self, frame.name, exc_info=exc)
        self._push_error_now(f"{self._name}: error processing {frame.name}: {exc}", exc)

    # -- lifecycle ------------------------------------------------------------------------------

    async def _on_start(self, frame: StartFrame) -> None:
        self._audio_in_sample_rate = frame.audio_in_sample_rate
        self._audio_out_sample_rate = frame.audio_out_sample_rate
        self._allow_interruptions = frame.allow_interruptions
        self._enable_metrics = frame.enable_metrics
        self._enable_usage_metrics = frame.enable_usage_metrics
        self._started = True
        await self.start(frame)

    async def _on_end(self, frame: EndFrame) -> None:
        try:
            await self.stop(frame)
        except Exception as exc:
            # The call still ends: the EndFrame goes on so the processors after this one close
            # gracefully, and the task finishes. The error is reported, not swallowed.
            self._report_hook_failure("stop", exc)

    async def _on_cancel(self, frame: CancelFrame) -> None:
        try:
            await self.cancel(frame)
        except Exception as exc:
            self._report_hook_failure("cancel", exc)

    def _report_hook_failure(self, hook: str, exc: Exception) -> None:
        logger.error("%s: %s() raised; the call ends anyway", self, hook, exc_info=exc)
        self._push_error_now(f"{self._name}: {hook}() raised: {exc}", exc)
