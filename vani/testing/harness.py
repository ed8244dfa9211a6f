"""``run_test``: drive one processor (or pipeline) with frames and check what comes out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from vani.frames import EndFrame, Frame, FrameDirection, StartFrame, SystemFrame
from vani.pipeline.observers import BaseObserver
from vani.pipeline.pipeline import Pipeline
from vani.pipeline.runner import PipelineRunner
from vani.pipeline.task import PipelineParams, PipelineTask
from vani.processors.frame_processor import FrameProcessor


@dataclass(slots=True, eq=False)
class SleepFrame(SystemFrame):
    """Not sent: tells :func:`run_test` to wait ``sleep`` seconds before the next frame."""

    sleep: float = 0.1


class _Recorder(FrameProcessor):
    def __init__(self, direction: FrameDirection, name: str) -> None:
        super().__init__(name=name)
        self.direction = direction
        self.frames: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is self.direction:
            self.frames.append(frame)
        await self.push_frame(frame, direction)


def _check(label: str, received: list[Frame], expected: Sequence[type[Frame]] | None) -> None:
    if expected is None:
        return
    ok = len(received) == len(expected) and all(
        isinstance(frame, kind) for frame, kind in zip(received, expected, strict=True)
    )
    if not ok:
        want = ", ".join(k.__name__ for k in expected)
        got = ", ".join(type(f).__name__ for f in received)
        raise AssertionError(f"{label} frames differ:\n  expected [{want}]\n  received [{got}]")


async def run_test(
    processor: FrameProcessor,
    *,
    frames_to_send: Sequence[Frame],
    expected_down_frames: Sequence[type[Frame]] | None = None,
    expected_up_frames: Sequence[type[Frame]] | None = None,
    ignore_start: bool = True,
    send_end_frame: bool = True,
    params: PipelineParams | None = None,
    observers: Sequence[BaseObserver] | None = None,
    timeout_secs: float = 30.0,
) -> tuple[list[Frame], list[Frame]]:
    """Run ``processor`` between two recorders and return ``(down_frames, up_frames)``.

    Frames are sent one at a time, each after the pipeline took the previous one, so the
    outcome does not depend on lane timing; put a :class:`SleepFrame` in ``frames_to_send`` to
    wait between frames. Start and End frames are left out of the returned lists (unless
    ``ignore_start`` is False, which keeps the StartFrame). When an expected list is given,
    the received frame types must match it one to one (``isinstance``), else AssertionError.
    """
    up = _Recorder(FrameDirection.UPSTREAM, "run_test::up")
    down = _Recorder(FrameDirection.DOWNSTREAM, "run_test::down")
    task = PipelineTask(
        Pipeline([up, processor, down]),
        params=params,
        observers=observers,
        idle_timeout_secs=None,
    )
    started = asyncio.Event()

    async def on_started(_task: PipelineTask, _frame: Frame) -> None:
        started.set()

    task.add_event_handler("on_pipeline_started", on_started)
    run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task), name="run_test")
    try:
        await asyncio.wait_for(_wait_started(started, run), timeout_secs)
        for frame in frames_to_send:
            if isinstance(frame, SleepFrame):
                await asyncio.sleep(frame.sleep)
                continue
            await task.queue_frame(frame)
            # Yield until the driver took the frame: there is no event for "queue empty", and
            # this loop runs a handful of times per frame at most.
            while task.pending_frames() and not run.done():  # noqa: ASYNC110
                await asyncio.sleep(0)
            await asyncio.sleep(0)
        if send_end_frame:
            await task.queue_frame(EndFrame())
        else:
            await task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(run), timeout_secs)
        except TimeoutError:
            raise AssertionError(
                f"the pipeline did not finish within {timeout_secs} s: is a processor"
                " swallowing the EndFrame?"
            ) from None
    finally:
        if not run.done():
            await task.cancel()
            await asyncio.wait({run})
    run.result()
    down_frames = [
        f
        for f in down.frames
        if not isinstance(f, EndFrame) and not (ignore_start and isinstance(f, StartFrame))
    ]
    up_frames = list(up.frames)
    _check("downstream", down_frames, expected_down_frames)
    _check("upstream", up_frames, expected_up_frames)
    return down_frames, up_frames


async def _wait_started(started: asyncio.Event, run: asyncio.Task[None]) -> None:
    waiter = asyncio.ensure_future(started.wait())
    try:
        await asyncio.wait({waiter, run}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        await asyncio.wait({waiter})
    if run.done():
        run.result()
        raise AssertionError("the pipeline finished before it started")
