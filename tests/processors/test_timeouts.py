"""wait_bounded: a bounded wait that cancels the work, never the task that happens to be
running the caller (processor code starts inline in the pusher's task; docs/concepts.md)."""

from __future__ import annotations

import ast
import asyncio
import contextlib
from pathlib import Path

import pytest
from support import Recorder

import vani
from vani.frames import EndFrame, ErrorFrame, Frame, FrameDirection, TextFrame
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.timeouts import wait_bounded


async def test_finishes_in_time() -> None:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_bounded(event.wait(), 5.0) is True


async def test_runs_over_and_the_work_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    assert await wait_bounded(forever(), 0.01) is False
    assert cancelled.is_set()  # awaited before returning: nothing is left running


async def test_an_error_in_the_work_is_raised() -> None:
    async def boom() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await wait_bounded(boom(), 5.0)


async def test_cancelling_the_caller_cancels_the_work() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    caller = asyncio.ensure_future(wait_bounded(work(), 3600))
    await started.wait()
    caller.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await caller
    await asyncio.sleep(0)
    assert cancelled.is_set()


class Pusher(FrameProcessor):
    """On "go": pushes "wait" on (whose processing suspends, so it moves to a task), then
    keeps running in its own call for a while and records that it survived."""

    def __init__(self) -> None:
        super().__init__(name="Pusher")
        self.survived = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame) and frame.text == "go":
            await self.push_frame(TextFrame(text="wait"), direction)
            await asyncio.sleep(0.2)
            self.survived = True
            return
        await self.push_frame(frame, direction)


class Waiter(FrameProcessor):
    """Waits on an event that never comes, bounded, while handling "wait"."""

    def __init__(self, use_asyncio_timeout: bool) -> None:
        super().__init__(name="Waiter")
        self.use_asyncio_timeout = use_asyncio_timeout
        self.results: list[bool] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame) and frame.text == "wait":
            never = asyncio.Event()
            if self.use_asyncio_timeout:
                try:
                    async with asyncio.timeout(0.05):
                        await never.wait()
                    self.results.append(True)
                except TimeoutError:
                    self.results.append(False)
            else:
                self.results.append(await wait_bounded(never.wait(), 0.05))
        await self.push_frame(frame, direction)


async def run(
    use_asyncio_timeout: bool, limit_secs: float
) -> tuple[bool, Pusher, Waiter, Recorder, list[ErrorFrame]]:
    """Run the call; the first result is whether it ended within ``limit_secs`` (a hang
    check, far above the 0.25 s the call needs)."""
    pusher, waiter, sink = Pusher(), Waiter(use_asyncio_timeout), Recorder()
    task = PipelineTask(Pipeline([pusher, waiter, sink]), idle_timeout_secs=None)
    errors: list[ErrorFrame] = []

    @task.event_handler("on_error")
    async def on_error(_task: PipelineTask, frame: ErrorFrame) -> None:
        errors.append(frame)

    await task.queue_frames([TextFrame(text="go"), TextFrame(text="after"), EndFrame()])
    runner = asyncio.ensure_future(PipelineRunner(handle_sigint=False).run(task))
    done, _ = await asyncio.wait({runner}, timeout=limit_secs)
    if not done:
        await task.cancel()
        await asyncio.wait({runner}, timeout=5)
    for _ in range(5):  # let the cancelled lanes finish unwinding
        await asyncio.sleep(0.01)
    return runner in done, pusher, waiter, sink, errors


async def test_inside_a_processor_the_timeout_cancels_only_the_wait() -> None:
    ended, pusher, waiter, sink, errors = await run(use_asyncio_timeout=False, limit_secs=10)
    assert ended
    assert waiter.results == [False]
    assert pusher.survived
    assert [f.text for f in sink.down(TextFrame)] == ["wait", "after"]  # type: ignore[attr-defined]
    assert not errors


async def test_asyncio_timeout_there_would_cancel_the_pusher_instead() -> None:
    # Why wait_bounded exists: the wait moved to a task of its own when it suspended, and
    # asyncio.timeout, entered in the pusher's task, cancels the wrong task when time runs
    # out: the call never ends by itself (here: the Waiter's lane is left cancelled and the
    # EndFrame never passes).
    before = asyncio.all_tasks()
    ended, pusher, _waiter, sink, _errors = await run(use_asyncio_timeout=True, limit_secs=2)
    stuck = asyncio.all_tasks() - before  # the hazard leaves a lane behind: clean it up here
    for t in stuck:
        t.cancel()
    if stuck:
        await asyncio.wait(stuck, timeout=5)
    texts = [f.text for f in sink.down(TextFrame)]  # type: ignore[attr-defined]
    assert not (ended and pusher.survived and texts == ["wait", "after"])


# Processor-side code where asyncio.timeout / wait_for would be the hazard above. Modules that
# only run in tasks of their own (the server, the virtual clock, function-call tasks, the
# telephony handshake before any pipeline exists) are listed with the reason.
ALLOWED = {
    "server",  # HTTP/WebSocket handlers, never processor code
    "testing",  # fakes and harnesses run as servers or test drivers
    "transports/clock.py",  # the virtual clock's own loop
    "services/llm/functions.py",  # a function call runs in a task of its own
    "transports/telephony.py:read_call_start",  # the handshake, before any pipeline exists
    "transports/websocket/transport.py:run",  # the socket writer's own task
}


def _hazards() -> list[str]:
    root = Path(vani.__file__).parent
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] in ALLOWED or rel in ALLOWED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.AsyncFunctionDef | ast.FunctionDef):
                continue
            if f"{rel}:{func.name}" in ALLOWED:
                continue
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in {"timeout", "wait_for", "timeout_at"}
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "asyncio"
                ):
                    found.append(f"{rel}:{node.lineno} asyncio.{node.func.attr} in {func.name}")
    return found


def test_processor_code_uses_no_asyncio_timeout_or_wait_for() -> None:
    assert _hazards() == []
