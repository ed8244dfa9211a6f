"""A session rig for RAVI tests: RAVIProcessor first, an output transport last whose
``send_message`` records what the client would receive, the observer on the task."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from typing import Any

from vani.errors import PipelineError
from vani.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    InputTransportMessageFrame,
    JSONValue,
)
from vani.pipeline.pipeline import Pipeline
from vani.pipeline.runner import PipelineRunner
from vani.pipeline.task import PipelineParams, PipelineTask
from vani.processors.frame_processor import FrameProcessor
from vani.ravi import RAVIObserver, RAVIObserverParams, RAVIProcessor
from vani.transports.base import BaseOutputTransport, TransportParams
from vani.transports.clock import WallClock

_ids = itertools.count(1)


class ClientSide(BaseOutputTransport):
    """The output transport: records audio and every message sent to the client, in order."""

    def __init__(self, params: TransportParams | None = None) -> None:
        super().__init__(params or TransportParams(bot_stop_secs=0.05), WallClock())
        self.messages: list[dict[str, Any]] = []
        self.audio = bytearray()
        self.changed = asyncio.Event()

    async def write_audio(self, chunk: bytes, *, at: float) -> None:
        self.audio += chunk

    async def clear_playback(self, *, at: float) -> None:
        pass

    async def send_message(self, message: JSONValue) -> None:
        assert isinstance(message, dict)
        self.messages.append(message)
        self.changed.set()


class Seen(FrameProcessor):
    """Records what reaches it downstream (frames the processor turned messages into)."""

    def __init__(self) -> None:
        super().__init__(name="seen")
        self.frames: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM:
            self.frames.append(frame)
        await self.push_frame(frame, direction)

    def of(self, kind: type[Frame]) -> list[Frame]:
        return [f for f in self.frames if isinstance(f, kind)]


class Session:
    def __init__(
        self,
        ravi: RAVIProcessor | None = None,
        *,
        middle: Sequence[FrameProcessor] = (),
        params: RAVIObserverParams | None = None,
        pipeline_params: PipelineParams | None = None,
        observer: bool = True,
    ) -> None:
        self.ravi = ravi or RAVIProcessor()
        self.seen = Seen()
        self.client = ClientSide()
        self.task = PipelineTask(
            Pipeline([self.ravi, self.seen, *middle, self.client]),
            params=pipeline_params,
            observers=[RAVIObserver(self.ravi, params=params)] if observer else [],
            idle_timeout_secs=None,
        )
        self._run: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Session:
        started = asyncio.Event()

        async def on_started(_task: PipelineTask, _frame: Frame) -> None:
            started.set()

        self.task.add_event_handler("on_pipeline_started", on_started)
        self._run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(self.task))
        await asyncio.wait_for(started.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._run is not None
        if not self._run.done():
            with contextlib.suppress(PipelineError):  # it may have just finished
                await self.task.queue_frame(EndFrame())
            try:
                await asyncio.wait_for(asyncio.shield(self._run), 10)
            finally:
                if not self._run.done():
                    await self.task.cancel()
                    await asyncio.wait({self._run})
        self._run.result()

    @property
    def finished(self) -> bool:
        return self._run is not None and self._run.done()

    async def wait_finished(self, timeout: float = 10) -> None:
        assert self._run is not None
        await asyncio.wait_for(asyncio.shield(self._run), timeout)

    async def send(self, type_: str, data: JSONValue = None, *, id_: str | None = None) -> str:
        msg_id = id_ or f"m{next(_ids)}"
        message: dict[str, JSONValue] = {"label": "rtvi-ai", "type": type_, "id": msg_id}
        if data is not None:
            message["data"] = data
        await self.send_raw(message)
        return msg_id

    async def send_raw(self, message: JSONValue) -> None:
        await self.task.queue_frame(InputTransportMessageFrame(message=message))

    async def push(self, *frames: Frame) -> None:
        await self.task.queue_frames(frames)

    def types(self) -> list[str]:
        return [m["type"] for m in self.client.messages]

    async def wait_for(self, type_: str, count: int = 1, timeout: float = 10) -> dict[str, Any]:
        async def _wait() -> dict[str, Any]:
            while True:
                found = [m for m in self.client.messages if m["type"] == type_]
                if len(found) >= count:
                    return found[count - 1]
                self.client.changed.clear()
                await self.client.changed.wait()

        try:
            return await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no {type_!r} (#{count}); got {self.types()}") from None

    async def settle(self) -> None:
        """Let the observer and message tasks catch up."""
        for _ in range(20):
            await asyncio.sleep(0.005)
