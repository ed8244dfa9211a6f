"""inline_frame_types: frames a task-bound processor only passes on start in the pusher's task."""

from __future__ import annotations

import asyncio
import itertools
from typing import ClassVar

from support import Recorder

from vani.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InterruptionFrame,
    TextFrame,
)
from vani.processors import FrameProcessor
from vani.services.llm.base import LLMService


def mic(i: int = 0) -> InputAudioRawFrame:
    return InputAudioRawFrame(audio=bytes([i]) * 640, sample_rate=16000, num_channels=1)


class Note(TextFrame):
    """An interruptible frame the test processor also lets start inline."""


class Source(FrameProcessor):
    """The pusher: everything it pushes starts in the test's own task."""


class OwnTask(FrameProcessor):
    """Runs its calls in its own task, except audio; records where each call ran."""

    run_inline = False
    inline_frame_types: ClassVar[tuple[type[Frame], ...]] = (InputAudioRawFrame, Note)

    def __init__(self) -> None:
        super().__init__()
        self.ran_in: list[tuple[str, asyncio.Task[object] | None, asyncio.Task[object] | None]] = []
        self.text_gate = asyncio.Event()
        self.audio_gate: asyncio.Event | None = None
        self.cancelled: list[str] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        label = type(frame).__name__
        if isinstance(frame, InputAudioRawFrame):
            label = f"audio{frame.audio[0]}"
        elif isinstance(frame, Note):
            label = f"note:{frame.text}"
        first = asyncio.current_task()
        try:
            if isinstance(frame, Note | InputAudioRawFrame):
                if self.audio_gate is not None:
                    await self.audio_gate.wait()
            elif isinstance(frame, TextFrame):
                await self.text_gate.wait()
        except asyncio.CancelledError:
            self.cancelled.append(label)
            raise
        self.ran_in.append((label, first, asyncio.current_task()))
        await self.push_frame(frame, direction)


async def stop(proc: FrameProcessor) -> None:
    """What a CancelFrame does to the lanes; waits for the runner to end."""
    runner = proc._ord_runner
    proc._abort()
    if runner is not None:
        await asyncio.wait({runner}, timeout=5)


async def with_own_task() -> tuple[Source, OwnTask, Recorder]:
    """source → OwnTask → sink, after one frame has given the processor its own task."""
    source, proc, sink = Source(), OwnTask(), Recorder()
    wire(source, proc, sink)
    proc.text_gate.set()
    await source.push_frame(TextFrame(text="hi"))
    await settle()
    return source, proc, sink


def wire(*processors: FrameProcessor) -> None:
    for a, b in itertools.pairwise(processors):
        a.link(b)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_audio_runs_in_the_pushers_task_while_other_frames_keep_the_processors_task() -> None:
    source, proc, sink = Source(), OwnTask(), Recorder()
    wire(source, proc, sink)
    proc.text_gate.set()
    me = asyncio.current_task()
    await source.push_frame(TextFrame(text="hi"))
    await settle()
    for i in range(3):
        await source.push_frame(mic(i))
    await settle()
    by_label = {label: (first, last) for label, first, last in proc.ran_in}
    text_first, text_last = by_label["TextFrame"]
    assert text_first is not me and text_first is text_last  # wholly in its own task
    for i in range(3):
        assert by_label[f"audio{i}"] == (me, me)  # no wake-up of the processor's task
    assert [type(f) for f in sink.down()] == [TextFrame, *[InputAudioRawFrame] * 3]
    await stop(proc)


async def test_audio_waits_behind_a_call_in_progress_and_keeps_its_order() -> None:
    source, proc, sink = Source(), OwnTask(), Recorder()
    wire(source, proc, sink)
    await source.push_frame(TextFrame(text="slow"))  # holds the lane until the gate opens
    await settle()
    for i in range(3):
        await source.push_frame(mic(i))
    await settle()
    assert sink.down() == []  # nothing overtook the call in progress
    proc.text_gate.set()
    await settle()
    labels = [label for label, _, _ in proc.ran_in]
    assert labels == ["TextFrame", "audio0", "audio1", "audio2"]
    runner = proc.ran_in[0][1]
    assert all(first is runner for _, first, _ in proc.ran_in)  # queued: run by the runner
    await stop(proc)


async def test_an_audio_call_that_suspends_is_finished_by_the_parked_runner_in_order() -> None:
    source, proc, sink = Source(), OwnTask(), Recorder()
    wire(source, proc, sink)
    proc.text_gate.set()
    await source.push_frame(TextFrame(text="hi"))  # starts the processor's own task
    await settle()
    runner = proc.ran_in[0][1]
    proc.audio_gate = asyncio.Event()
    me = asyncio.current_task()
    await source.push_frame(mic(0))  # suspends: handed to the runner
    await source.push_frame(mic(1))  # must wait for it
    await source.push_frame(TextFrame(text="after"))
    await settle()
    assert [label for label, _, _ in proc.ran_in] == ["TextFrame"]
    assert proc._ord_runner is runner  # no second runner was started
    proc.audio_gate.set()
    await settle()
    labels = [label for label, _, _ in proc.ran_in]
    assert labels == ["TextFrame", "audio0", "audio1", "TextFrame"]
    assert proc.ran_in[1][1:] == (me, runner)  # started inline, finished by the runner
    assert [type(f) for f in sink.down()] == [
        TextFrame,
        InputAudioRawFrame,
        InputAudioRawFrame,
        TextFrame,
    ]
    await stop(proc)


async def test_an_interruption_cancels_a_handed_over_call_and_spares_the_audio() -> None:
    source, proc, sink = await with_own_task()
    proc.audio_gate = asyncio.Event()
    await source.push_frame(Note(text="n0"))  # suspends: handed to the runner
    await source.push_frame(Note(text="n1"))  # queued, interruptible: dropped
    await source.push_frame(mic(5))  # queued, the caller's audio: kept
    await settle()
    await source.push_frame(InterruptionFrame())
    await settle()
    assert proc.cancelled == ["note:n0"]
    proc.audio_gate.set()
    await settle()
    assert [type(f) for f in sink.down()] == [TextFrame, InterruptionFrame, InputAudioRawFrame]
    await stop(proc)


async def test_cancelling_the_runner_with_a_call_handed_over_leaves_nothing_running() -> None:
    source, proc, sink = await with_own_task()
    proc.audio_gate = asyncio.Event()
    await source.push_frame(mic(0))
    runner = proc._ord_runner
    assert runner is not None
    proc._abort()  # what a CancelFrame does
    await asyncio.wait({runner}, timeout=5)
    assert runner.done()
    assert proc._ord_handoff is None
    assert sink.down(InputAudioRawFrame) == []


def test_the_llm_service_lets_the_callers_audio_pass_inline() -> None:
    assert LLMService.run_inline is False
    assert InputAudioRawFrame in LLMService.inline_frame_types
    assert EndFrame not in LLMService.inline_frame_types


async def test_a_call_suspending_while_the_parked_runner_is_being_cancelled_gets_a_new_runner() -> (
    None
):
    source, proc, sink = await with_own_task()
    old = proc._ord_runner
    assert old is not None and proc._ord_waiter is not None
    old.cancel()  # parked, cancelled from outside, not yet unwound
    proc.audio_gate = asyncio.Event()
    await source.push_frame(mic(7))  # suspends: the old runner cannot take it
    new = proc._ord_runner
    assert new is not None and new is not old
    proc.audio_gate.set()
    await settle()
    assert old.cancelled()
    assert [f.audio[0] for f in sink.down(InputAudioRawFrame)] == [7]
    await stop(proc)
