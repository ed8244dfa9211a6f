"""Small processors the spine tests share."""

from __future__ import annotations

import asyncio

from vani.frames import Frame, FrameDirection, InterruptionFrame
from vani.processors import FrameProcessor


class Echo(FrameProcessor):
    """The Pipecat-style pass-through."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class Recorder(FrameProcessor):
    """Passes everything on and records (frame, direction) in arrival order."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name=name)
        self.seen: list[tuple[Frame, FrameDirection]] = []
        self.arrived = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        self.seen.append((frame, direction))
        self.arrived.set()
        await self.push_frame(frame, direction)

    def down(self, kind: type[Frame] = Frame) -> list[Frame]:
        return [f for f, d in self.seen if d is FrameDirection.DOWNSTREAM and isinstance(f, kind)]

    def up(self, kind: type[Frame] = Frame) -> list[Frame]:
        return [f for f, d in self.seen if d is FrameDirection.UPSTREAM and isinstance(f, kind)]

    async def wait_for(self, kind: type[Frame], count: int = 1, timeout: float = 10.0) -> None:
        async def _wait() -> None:
            while len([f for f, _ in self.seen if isinstance(f, kind)]) < count:
                self.arrived.clear()
                await self.arrived.wait()

        await asyncio.wait_for(_wait(), timeout)


class Slow(FrameProcessor):
    """Sleeps ``delay`` seconds on every frame of ``kind``; records cancellations."""

    def __init__(self, kind: type[Frame], delay: float) -> None:
        super().__init__()
        self.kind = kind
        self.delay = delay
        self.cancelled: list[Frame] = []
        self.started_work: list[Frame] = []
        self.interruptions = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame):
            self.interruptions += 1
        if isinstance(frame, self.kind):
            self.started_work.append(frame)
            try:
                await asyncio.sleep(self.delay)
            except asyncio.CancelledError:
                self.cancelled.append(frame)
                raise
        await self.push_frame(frame, direction)
