"""FrameProcessor: lanes, order, interruption, errors and lifecycle."""

from __future__ import annotations

import asyncio

import pytest
from support import Echo, Recorder, Slow

from vani.errors import ConfigurationError
from vani.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    StartFrame,
    TextFrame,
    UserStartedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.testing import run_test

AUDIO = b"\0" * 640


def mic() -> InputAudioRawFrame:
    return InputAudioRawFrame(audio=AUDIO, sample_rate=16000, num_channels=1)


def speaker() -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=AUDIO, sample_rate=16000, num_channels=1)


async def start_task(*processors: FrameProcessor) -> tuple[PipelineTask, asyncio.Task[None]]:
    task = PipelineTask(Pipeline(list(processors)), idle_timeout_secs=None)
    started = asyncio.Event()

    @task.event_handler("on_pipeline_started")
    async def _started(_task: PipelineTask, _frame: Frame) -> None:
        started.set()

    run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    await asyncio.wait_for(started.wait(), 5)
    return task, run


async def finish(task: PipelineTask, run: asyncio.Task[None]) -> None:
    await task.queue_frame(EndFrame())
    await asyncio.wait_for(run, 10)


async def test_the_pipecat_style_example_runs_unchanged() -> None:
    calls: list[str] = []

    class EchoLike(FrameProcessor):
        async def process_frame(self, frame, direction):  # type: ignore[no-untyped-def]
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)

    sink = Recorder()
    task = PipelineTask(Pipeline([EchoLike(), EchoLike(), sink]))

    @task.event_handler("on_pipeline_started")
    async def started(task, frame):  # type: ignore[no-untyped-def]
        calls.append("started")

    await task.queue_frames([mic(), EndFrame()])
    await PipelineRunner(handle_sigint=False).run(task)
    assert calls == ["started"]
    assert [type(f) for f in sink.down()] == [StartFrame, InputAudioRawFrame, EndFrame]


async def test_frames_keep_their_order_through_inline_and_slow_processors() -> None:
    sink = Recorder()
    task, run = await start_task(Echo(), Slow(TextFrame, 0.001), Echo(), sink)
    texts = [TextFrame(text=str(i)) for i in range(50)]
    await task.queue_frames(texts)
    await finish(task, run)
    assert sink.down(TextFrame) == texts


async def test_a_system_frame_overtakes_hundreds_of_queued_frames() -> None:
    sink = Recorder()
    slow = Slow(TextFrame, 0.002)
    task, run = await start_task(Echo(), slow, Echo(), sink)
    await task.queue_frames([TextFrame(text=str(i)) for i in range(300)])
    while task.pending_frames():
        await asyncio.sleep(0.001)
    await task.queue_frame(UserStartedSpeakingFrame())
    # Delivered at once: it is at the sink before the slow processor passed a tenth of the texts.
    assert sink.down(UserStartedSpeakingFrame)
    assert len(sink.down(TextFrame)) < 30
    await finish(task, run)
    assert len(sink.down(TextFrame)) == 300


async def test_interruption_drops_queued_interruptible_frames_and_cancels_the_one_in_flight() -> (
    None
):
    sink = Recorder()
    slow = Slow(OutputAudioRawFrame, 0.005)
    task, run = await start_task(Echo(), slow, Echo(), sink)
    await task.queue_frames([speaker() for _ in range(100)])
    while not slow.started_work:
        await asyncio.sleep(0.001)
    await task.queue_frame(InterruptionFrame())
    passed_before = len(sink.down(OutputAudioRawFrame))
    assert sink.down(InterruptionFrame)
    await asyncio.sleep(0.05)
    await finish(task, run)
    # Nothing that was queued or in flight at the interruption reached the sink after it.
    assert len(sink.down(OutputAudioRawFrame)) == passed_before
    assert len(slow.cancelled) == 1
    assert passed_before < 10


async def test_uninterruptible_frames_survive_an_interruption() -> None:
    sink = Recorder()
    slow = Slow((OutputAudioRawFrame, FunctionCallResultFrame), 0.002)  # type: ignore[arg-type]
    task, run = await start_task(slow, sink)
    result = FunctionCallResultFrame(function_name="f", tool_call_id="c1", result="ok")
    await task.queue_frames([speaker(), speaker(), result, speaker()])
    while not slow.started_work:
        await asyncio.sleep(0.001)
    await task.queue_frame(InterruptionFrame())
    await finish(task, run)
    assert sink.down(FunctionCallResultFrame) == [result]
    assert sink.down(OutputAudioRawFrame) == []
    assert len(sink.down(EndFrame)) == 1


async def test_input_audio_is_never_dropped_and_never_delays_an_interruption() -> None:
    sink = Recorder()
    slow = Slow(InputAudioRawFrame, 0.002)
    task, run = await start_task(
        *(Echo() for _ in range(4)), slow, *(Echo() for _ in range(5)), sink
    )
    frames = [mic() for _ in range(200)]
    await task.queue_frames(frames)
    while task.pending_frames():
        await asyncio.sleep(0.001)
    await task.queue_frame(InterruptionFrame())
    # Handled while an input frame is still in flight in the slow processor.
    assert sink.down(InterruptionFrame)
    assert len(sink.down(InputAudioRawFrame)) < 50
    await finish(task, run)
    assert sink.down(InputAudioRawFrame) == frames
    assert slow.cancelled == []


async def test_an_exception_in_process_frame_goes_upstream_as_an_error() -> None:
    class Broken(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TextFrame) and frame.text == "boom":
                raise ValueError("bad text")
            await self.push_frame(frame, direction)

    down, up = await run_test(
        Broken(),
        frames_to_send=[TextFrame(text="a"), TextFrame(text="boom"), TextFrame(text="b")],
        expected_down_frames=[TextFrame, TextFrame],
        expected_up_frames=[ErrorFrame],
    )
    error = up[0]
    assert isinstance(error, ErrorFrame) and not error.fatal and "bad text" in error.error


async def test_a_fatal_error_cancels_the_task() -> None:
    errors: list[ErrorFrame] = []

    class Fatal(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TextFrame):
                await self.push_error("the key was refused", fatal=True)
            await self.push_frame(frame, direction)

    sink = Recorder()
    task = PipelineTask(Pipeline([Fatal(), sink]))

    @task.event_handler("on_error")
    async def on_error(_task: PipelineTask, frame: ErrorFrame) -> None:
        errors.append(frame)

    await task.queue_frame(TextFrame(text="x"))
    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 10)
    assert task.finished
    assert [e.error for e in errors] == ["the key was refused"]
    assert sink.down(CancelFrame)


async def test_lifecycle_hooks_run_and_owned_tasks_end_with_the_pipeline() -> None:
    events: list[str] = []

    class Service(FrameProcessor):
        async def start(self, frame: StartFrame) -> None:
            await asyncio.sleep(0.01)  # connecting
            events.append(f"start {frame.audio_in_sample_rate}")
            self.background = self.create_task(asyncio.sleep(3600), "forever")

        async def stop(self, frame: EndFrame) -> None:
            events.append("stop")

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            await self.push_frame(frame, direction)

    service = Service()
    await run_test(service, frames_to_send=[TextFrame(text="hi")], expected_down_frames=[TextFrame])
    assert events == ["start 16000", "stop"]
    assert service.background.cancelled()


async def test_cancel_stops_work_in_flight_and_leaves_no_task() -> None:
    slow = Slow(TextFrame, 3600)
    sink = Recorder()
    task, run = await start_task(slow, sink)
    await task.queue_frame(TextFrame(text="never"))
    while not slow.started_work:
        await asyncio.sleep(0.001)
    await task.cancel()
    await asyncio.wait_for(run, 10)
    assert sink.down(CancelFrame) and not sink.down(TextFrame)


async def test_unknown_keyword_arguments_are_refused_clearly() -> None:
    with pytest.raises(TypeError, match="unexpected keyword"):
        FrameProcessor(metrics=True)
    with pytest.raises(ConfigurationError, match="no event"):
        Echo().event_handler("on_nothing")


class TaskBound(FrameProcessor):
    """Records the task a call starts in and the one it ends in (like an anyio lock would)."""

    def __init__(self, *, inline: bool) -> None:
        super().__init__()
        self._inline = inline
        self.tasks: list[tuple[asyncio.Task[object] | None, asyncio.Task[object] | None]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame):
            first = asyncio.current_task()
            await asyncio.sleep(0)
            self.tasks.append((first, asyncio.current_task()))
        await self.push_frame(frame, direction)


async def test_a_processor_that_is_not_inline_runs_each_call_wholly_in_its_own_task() -> None:
    class Held(TaskBound):
        run_inline = False

    held = Held(inline=False)
    assert held._inline is False
    await run_test(held, frames_to_send=[TextFrame(text=str(i)) for i in range(3)])
    assert len(held.tasks) == 3
    assert all(start is end for start, end in held.tasks)


async def test_a_processor_that_waits_once_keeps_its_own_task_afterwards() -> None:
    proc = TaskBound(inline=True)
    await run_test(proc, frames_to_send=[TextFrame(text=str(i)) for i in range(3)])
    # The first call moved to the processor's task midway; the later ones started there.
    first_start, first_end = proc.tasks[0]
    assert first_start is not first_end
    assert all(start is end for start, end in proc.tasks[1:])
    assert proc._inline is False
