"""PipelineTask and PipelineRunner: feeding, ending, cancelling, idle timeout, observers."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from support import Echo, Recorder, Slow

from vani.errors import PipelineError
from vani.frames import (
    BotSpeakingFrame,
    CancelFrame,
    EndFrame,
    EndTaskFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    InterruptionTaskFrame,
    TextFrame,
)
from vani.pipeline import BaseObserver, FramePushed, Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor


async def test_a_finished_task_refuses_new_frames() -> None:
    task = PipelineTask(Pipeline([Echo()]))
    await task.queue_frame(EndFrame())
    await PipelineRunner(handle_sigint=False).run(task)
    assert task.finished
    with pytest.raises(PipelineError, match="finished"):
        await task.queue_frame(TextFrame(text="late"))
    with pytest.raises(PipelineError, match="already run"):
        await task.run()


async def test_end_task_frame_from_a_processor_ends_the_run_after_queued_frames() -> None:
    class Hangup(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)
            if isinstance(frame, TextFrame) and frame.text == "bye":
                await self.push_frame(EndTaskFrame(reason="done"), FrameDirection.UPSTREAM)

    sink = Recorder()
    task = PipelineTask(Pipeline([Hangup(), sink]))
    await task.queue_frames([TextFrame(text="hello"), TextFrame(text="bye")])
    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 10)
    assert [f.text for f in sink.down(TextFrame)] == ["hello", "bye"]  # type: ignore[attr-defined]
    ends = sink.down(EndFrame)
    assert len(ends) == 1 and ends[0].reason == "done"  # type: ignore[attr-defined]


async def test_interruption_task_frame_interrupts_the_whole_pipeline() -> None:
    class Barge(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TextFrame):
                await self.push_frame(InterruptionTaskFrame(), FrameDirection.UPSTREAM)
            await self.push_frame(frame, direction)

    first, sink = Recorder(), Recorder()
    task = PipelineTask(Pipeline([first, Barge(), sink]))
    await task.queue_frames([TextFrame(text="x"), EndFrame()])
    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 10)
    # It entered at the head of the pipeline, so the first processor saw it too.
    assert first.down(InterruptionFrame) and sink.down(InterruptionFrame)


async def test_idle_timeout_fires_and_cancels_without_activity() -> None:
    fired: list[str] = []
    sink = Recorder()
    task = PipelineTask(Pipeline([sink]), idle_timeout_secs=0.05)

    @task.event_handler("on_idle_timeout")
    async def on_idle(_task: PipelineTask) -> None:
        fired.append("idle")

    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 10)
    assert fired == ["idle"]
    assert sink.down(CancelFrame)


async def test_conversation_activity_resets_the_idle_timeout() -> None:
    fired: list[float] = []
    task = PipelineTask(Pipeline([Echo()]), idle_timeout_secs=0.15)
    loop = asyncio.get_running_loop()

    @task.event_handler("on_idle_timeout")
    async def on_idle(_task: PipelineTask) -> None:
        fired.append(loop.time())

    run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    begin = loop.time()
    for _ in range(6):
        await asyncio.sleep(0.05)
        await task.queue_frame(BotSpeakingFrame())
    assert not fired
    await asyncio.wait_for(run, 10)
    assert fired and fired[0] - begin >= 0.3


async def test_sigint_cancels_the_running_task_cleanly() -> None:
    slow = Slow(TextFrame, 3600)
    sink = Recorder()
    task = PipelineTask(Pipeline([slow, sink]))
    await task.queue_frame(TextFrame(text="long work"))
    run = asyncio.create_task(PipelineRunner(handle_sigint=True).run(task))
    while not slow.started_work:
        await asyncio.sleep(0.001)
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.wait_for(run, 10)
    assert task.finished and sink.down(CancelFrame)
    assert [f.text for f in slow.cancelled] == ["long work"]  # type: ignore[attr-defined]


async def test_observers_see_every_push_and_never_block_the_pipeline() -> None:
    gate = asyncio.Event()
    seen: list[FramePushed] = []

    class SlowObserver(BaseObserver):
        async def on_push_frame(self, data: FramePushed) -> None:
            seen.append(data)
            await gate.wait()

    sink = Recorder()
    a, b = Echo(name="a"), Echo(name="b")
    task = PipelineTask(Pipeline([a, b, sink]), observers=[SlowObserver()])
    run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    async with asyncio.timeout(5):
        while not seen:  # the observer is stuck on its first record (the StartFrame's)
            await asyncio.sleep(0.001)
    await task.queue_frames([TextFrame(text=str(i)) for i in range(20)])
    await sink.wait_for(TextFrame, 20)
    # All frames went through while the observer is still stuck there.
    assert len(seen) == 1
    gate.set()
    await task.queue_frame(EndFrame())
    await asyncio.wait_for(run, 10)
    texts = [d for d in seen if isinstance(d.frame, TextFrame) and d.source is a]
    assert len(texts) == 20 and all(d.destination is b for d in texts)


async def test_an_observer_added_while_running_sees_later_pushes() -> None:
    seen: list[Frame] = []

    class Collect(BaseObserver):
        async def on_push_frame(self, data: FramePushed) -> None:
            seen.append(data.frame)

    sink = Recorder()
    task = PipelineTask(Pipeline([Echo(), sink]))
    run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    await task.queue_frame(TextFrame(text="before"))
    await sink.wait_for(TextFrame, 1)
    task.add_observer(Collect())
    late = TextFrame(text="after")
    await task.queue_frames([late, EndFrame()])
    await asyncio.wait_for(run, 10)
    assert late in seen
    assert all(getattr(f, "text", None) != "before" for f in seen)


async def test_an_observer_gets_only_the_frame_types_it_wants() -> None:
    asked: list[type[Frame]] = []
    texts: list[Frame] = []
    everything: list[Frame] = []

    class TextsOnly(BaseObserver):
        def wants(self, frame_type: type[Frame]) -> bool:
            asked.append(frame_type)
            return issubclass(frame_type, TextFrame)

        async def on_push_frame(self, data: FramePushed) -> None:
            texts.append(data.frame)

    class All(BaseObserver):
        async def on_push_frame(self, data: FramePushed) -> None:
            everything.append(data.frame)

    sink = Recorder()
    task = PipelineTask(Pipeline([Echo(), Echo(), sink]), observers=[TextsOnly(), All()])
    frames: list[Frame] = [TextFrame(text=str(i)) for i in range(5)]
    await task.queue_frames([*frames, BotSpeakingFrame(), EndFrame()])
    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 10)
    assert texts and all(isinstance(f, TextFrame) for f in texts)
    assert {id(f) for f in texts} == {id(f) for f in frames}
    assert any(isinstance(f, BotSpeakingFrame) for f in everything)
    assert any(isinstance(f, EndFrame) for f in everything)
    # Asked once per frame type, however many pushes of it there were.
    assert len(asked) == len(set(asked))
    assert TextFrame in asked


async def test_no_record_is_made_for_a_push_no_observer_wants() -> None:
    called: list[FramePushed] = []

    class Nothing(BaseObserver):
        def wants(self, frame_type: type[Frame]) -> bool:
            return False

        async def on_push_frame(self, data: FramePushed) -> None:
            called.append(data)

    sink = Recorder()
    task = PipelineTask(Pipeline([Echo(), sink]), observers=[Nothing()])
    run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    await task.queue_frames([TextFrame(text=str(i)) for i in range(50)])
    await sink.wait_for(TextFrame, 50)
    dispatcher = task._dispatcher
    assert dispatcher is not None
    assert not dispatcher._pending
    await task.queue_frame(EndFrame())
    await asyncio.wait_for(run, 10)
    assert called == []
