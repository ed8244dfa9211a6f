"""Pipelines nest in both directions; parallel pipelines fan out and merge without duplicates."""

from __future__ import annotations

import pytest
from support import Echo, Recorder

from vani.errors import ConfigurationError
from vani.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    StartFrame,
    TextFrame,
)
from vani.pipeline import ParallelPipeline, Pipeline
from vani.processors import FrameProcessor
from vani.testing import run_test


class Upper(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame):
            frame = TextFrame(text=frame.text.upper())
        await self.push_frame(frame, direction)


class Bouncer(FrameProcessor):
    """Turns each downstream text into an upstream error (a request travelling back)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TextFrame) and direction is FrameDirection.DOWNSTREAM:
            await self.push_error(f"bounced {frame.text}")
            return
        await self.push_frame(frame, direction)


async def test_frames_leaving_a_nested_pipeline_continue_downstream() -> None:
    inner = Pipeline([Echo(), Pipeline([Upper(), Echo()]), Echo()])
    down, _ = await run_test(
        Pipeline([Echo(), inner]),
        frames_to_send=[TextFrame(text="a"), TextFrame(text="b")],
        expected_down_frames=[TextFrame, TextFrame],
    )
    assert [f.text for f in down if isinstance(f, TextFrame)] == ["A", "B"]


async def test_frames_leaving_a_nested_pipeline_continue_upstream() -> None:
    recorder = Recorder()
    inner = Pipeline([Echo(), Pipeline([recorder, Bouncer()])])
    _, up = await run_test(
        Pipeline([Echo(), inner, Echo()]),
        frames_to_send=[TextFrame(text="x")],
        expected_down_frames=[],
        expected_up_frames=[ErrorFrame],
    )
    assert isinstance(up[0], ErrorFrame) and up[0].error == "bounced x"
    assert recorder.up(ErrorFrame) == up


async def test_parallel_pipeline_sends_each_frame_to_every_branch_and_merges_once() -> None:
    left, right = Recorder("left"), Recorder("right")
    parallel = ParallelPipeline([left], [Upper(), right])
    down, _ = await run_test(
        parallel, frames_to_send=[TextFrame(text="hi")], expected_down_frames=[TextFrame, TextFrame]
    )
    # The original leaves once; the upper-cased copy made in one branch leaves too.
    assert sorted(f.text for f in down if isinstance(f, TextFrame)) == ["HI", "hi"]
    assert [f.text for f in left.down(TextFrame)] == ["hi"]
    assert [f.text for f in right.down(TextFrame)] == ["HI"]


async def test_parallel_pipeline_lets_lifecycle_frames_out_once_after_all_branches() -> None:
    sink = Recorder()
    branches = [[Echo()], [Echo(), Echo()], [Echo()]]
    await run_test(Pipeline([ParallelPipeline(*branches), sink]), frames_to_send=[])
    kinds = [type(f) for f in sink.down()]
    assert kinds == [StartFrame, EndFrame]


async def test_parallel_pipeline_merges_upstream_frames_without_duplicates() -> None:
    parallel = ParallelPipeline([Bouncer()], [Echo()])
    _, up = await run_test(
        parallel,
        frames_to_send=[TextFrame(text="q")],
        expected_down_frames=[TextFrame],
        expected_up_frames=[ErrorFrame],
    )
    assert up[0].error == "bounced q"  # type: ignore[attr-defined]


async def test_cancel_goes_through_every_branch_once() -> None:
    sink = Recorder()
    await run_test(
        Pipeline([ParallelPipeline([Echo()], [Echo()]), sink]),
        frames_to_send=[TextFrame(text="t")],
        send_end_frame=False,
    )
    assert len(sink.down(CancelFrame)) == 1


def test_pipelines_refuse_what_is_not_a_processor() -> None:
    with pytest.raises(ConfigurationError, match="FrameProcessor"):
        Pipeline([Echo(), "not a processor"])  # type: ignore[list-item]
    echo = Echo()
    with pytest.raises(ConfigurationError, match="twice"):
        Pipeline([echo, echo])
    with pytest.raises(ConfigurationError, match="list of processors"):
        ParallelPipeline(Echo())  # type: ignore[arg-type]
