"""A running pipeline for LLM tests: frames in at the top, recorders at both ends."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import TracebackType

from vani.frames import EndFrame, ErrorFrame, Frame, FrameDirection, StartFrame
from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor


class Sink(FrameProcessor):
    """Records every frame that reaches it (in its direction) and passes it on."""

    def __init__(self, direction: FrameDirection, name: str) -> None:
        super().__init__(name=name)
        self.direction = direction
        self.frames: list[Frame] = []
        self.changed = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is self.direction and not isinstance(frame, StartFrame | EndFrame):
            self.frames.append(frame)
            self.changed.set()
        await self.push_frame(frame, direction)

    def of(self, kind: type[Frame] | tuple[type[Frame], ...]) -> list[Frame]:
        return [f for f in self.frames if isinstance(f, kind)]

    async def wait_until(self, predicate: Callable[[], bool], timeout_secs: float = 5.0) -> None:
        async with asyncio.timeout(timeout_secs):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def wait_for(
        self, kind: type[Frame] | tuple[type[Frame], ...], count: int = 1, timeout_secs: float = 5.0
    ) -> None:
        await self.wait_until(lambda: len(self.of(kind)) >= count, timeout_secs)


class Session:
    """``async with Session([processors...]) as s``: a started pipeline; EndFrame on exit."""

    def __init__(self, processors: Sequence[FrameProcessor], **params: bool) -> None:
        self.up = Sink(FrameDirection.UPSTREAM, "up")
        self.down = Sink(FrameDirection.DOWNSTREAM, "down")
        self.task = PipelineTask(
            Pipeline([self.up, *processors, self.down]),
            params=PipelineParams(**params),  # type: ignore[arg-type]
            idle_timeout_secs=None,
        )
        self._run: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Session:
        started = asyncio.Event()

        async def on_started(_task: PipelineTask, _frame: Frame) -> None:
            started.set()

        self.task.add_event_handler("on_pipeline_started", on_started)
        self._run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(self.task))
        async with asyncio.timeout(5):
            await started.wait()
        return self

    async def send(self, *frames: Frame) -> None:
        for frame in frames:
            await self.task.queue_frame(frame)
        await asyncio.sleep(0)

    @property
    def errors(self) -> list[ErrorFrame]:
        return [f for f in self.up.frames if isinstance(f, ErrorFrame)]

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._run is not None
        if not self._run.done():
            if exc_type is None:
                await self.task.queue_frame(EndFrame())
            else:
                await self.task.cancel()
        try:
            async with asyncio.timeout(10):
                await asyncio.shield(self._run)
        except TimeoutError:
            await self.task.cancel()
            await asyncio.wait({self._run})
            raise
