"""Hypothesis: any sequence of frames and interruptions keeps the lane contract.

After every run: ordered frames reached the sink in the order they were sent; every
uninterruptible frame (microphone audio, function-call results) arrived; no interruptible frame
sent before an interruption reached the sink after it; and the run ended cleanly.
"""

from __future__ import annotations

import asyncio
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import Echo, Recorder

from vani.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    TextFrame,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor


class Jitter(FrameProcessor):
    """Suspends on a random subset of ordered frames, as a processor doing I/O would."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.rng = random.Random(seed)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if frame.kind.value != "system" and self.rng.random() < 0.4:
            for _ in range(self.rng.randint(1, 3)):
                await asyncio.sleep(0)
        await self.push_frame(frame, direction)


def make(kind: str) -> Frame:
    if kind == "text":
        return TextFrame(text="t")
    if kind == "out":
        return OutputAudioRawFrame(audio=b"\0\0" * 160, sample_rate=16000)
    if kind == "in":
        return InputAudioRawFrame(audio=b"\0\0" * 160, sample_rate=16000)
    return FunctionCallResultFrame(function_name="f", tool_call_id="c", result=1)


step = st.one_of(
    st.sampled_from(["text", "out", "in", "result", "interrupt"]),
    st.integers(min_value=0, max_value=4),  # let the loop run this many times
)


async def run_schedule(schedule: list[str | int], seed: int) -> None:
    sink = Recorder()
    task = PipelineTask(
        Pipeline([Echo(), Jitter(seed), Echo(), Jitter(seed + 1), sink]), idle_timeout_secs=None
    )
    run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    await asyncio.sleep(0.001)
    sent: list[Frame] = []
    interruptions: list[tuple[InterruptionFrame, list[Frame]]] = []
    for op in schedule:
        if isinstance(op, int):
            for _ in range(op):
                await asyncio.sleep(0)
        elif op == "interrupt":
            frame = InterruptionFrame()
            interruptions.append((frame, list(sent)))
            await task.queue_frame(frame)
        else:
            frame = make(op)
            sent.append(frame)
            await task.queue_frame(frame)
    await task.queue_frame(EndFrame())
    await asyncio.wait_for(run, 10)

    arrived = [f for f, d in sink.seen if d is FrameDirection.DOWNSTREAM]
    position = {id(f): i for i, f in enumerate(arrived)}
    order = [sent.index(f) for f in arrived if f in sent]
    assert order == sorted(order), "ordered frames were reordered"
    for f in sent:
        if not f.interruptible:
            assert id(f) in position, f"uninterruptible {f!r} was lost"
    for interruption, before in interruptions:
        at = position[id(interruption)]
        for f in before:
            if f.interruptible and id(f) in position:
                assert position[id(f)] < at, f"{f!r} arrived after the interruption"
    assert isinstance(arrived[-1], EndFrame)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=60), st.integers(min_value=0, max_value=2**16))
def test_any_schedule_keeps_the_lane_contract(schedule: list[str | int], seed: int) -> None:
    asyncio.run(run_schedule(schedule, seed))
