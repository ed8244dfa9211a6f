"""A processor whose start(), stop() or cancel() raises ends the call with an ErrorFrame and
leaves nothing behind (no hang, no task left running)."""

from __future__ import annotations

import asyncio

import pytest
from support import Recorder

from vani.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    StartFrame,
    TextFrame,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor


class Worker(FrameProcessor):
    """Owns a background task from start on; records which hooks ran."""

    def __init__(self, *, fail_in: str | None = None, suspend: bool = False) -> None:
        super().__init__(name=f"Worker[{fail_in}]")
        self.fail_in = fail_in
        self.suspend = suspend
        self.hooks: list[str] = []
        self.background: asyncio.Task[object] | None = None

    async def _maybe_fail(self, hook: str) -> None:
        self.hooks.append(hook)
        if self.suspend:
            await asyncio.sleep(0.01)
        if self.fail_in == hook:
            raise RuntimeError(f"{hook} exploded")

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        self.background = self.create_task(asyncio.sleep(3600), name="background")
        await self._maybe_fail("start")

    async def stop(self, frame: EndFrame) -> None:
        await self._maybe_fail("stop")
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        await self._maybe_fail("cancel")
        await super().cancel(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


async def run_task(task: PipelineTask) -> list[ErrorFrame]:
    errors: list[ErrorFrame] = []

    @task.event_handler("on_error")
    async def on_error(_task: PipelineTask, frame: ErrorFrame) -> None:
        errors.append(frame)

    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 10)
    await asyncio.sleep(0)
    return errors


@pytest.mark.parametrize("suspend", [False, True])
@pytest.mark.parametrize("position", [0, 1, 2])
async def test_a_start_that_raises_ends_the_call_with_an_error(
    suspend: bool, position: int
) -> None:
    procs = [Worker(), Worker(), Worker()]
    bad = Worker(fail_in="start", suspend=suspend)
    procs[position] = bad
    sink = Recorder()
    task = PipelineTask(Pipeline([*procs, sink]), idle_timeout_secs=None)
    await task.queue_frame(TextFrame(text="never processed normally"))
    errors = await run_task(task)
    assert task.finished
    assert any(e.fatal and "start exploded" in e.error for e in errors), errors
    assert any("failed to start" in e.error for e in errors), errors
    # Everything that started was stopped or cancelled; no background task survives.
    for p in procs:
        assert p.background is None or p.background.done()
        if "start" in p.hooks:
            assert "cancel" in p.hooks or "stop" in p.hooks, p.hooks


@pytest.mark.parametrize("suspend", [False, True])
@pytest.mark.parametrize("hook", ["stop", "cancel"])
async def test_a_stop_or_cancel_that_raises_still_ends_the_call(suspend: bool, hook: str) -> None:
    first, bad, last = Worker(), Worker(fail_in=hook, suspend=suspend), Worker()
    sink = Recorder()
    task = PipelineTask(Pipeline([first, bad, last, sink]), idle_timeout_secs=None)
    await task.queue_frame(TextFrame(text="hello"))
    if hook == "stop":
        await task.queue_frame(EndFrame())
        errors = await run_task(task)
    else:
        runner = asyncio.create_task(run_task(task))
        while not sink.down(TextFrame):
            await asyncio.sleep(0.01)
        await task.cancel("test")
        errors = await runner
    assert task.finished
    assert any(f"{hook} exploded" in e.error for e in errors), errors
    # The processors after the failing one were still told to end.
    assert hook in last.hooks
    for p in (first, bad, last):
        assert p.background is not None and p.background.done()
    if hook == "stop":
        assert sink.down(EndFrame), "the EndFrame went on past the failing processor"
