"""What a bot receives: the :class:`Session` of one call. See ``docs/server.md``.

A bot file defines ``async def bot(session)``; the server calls it once per admitted call::

    async def bot(session: Session) -> None:
        pipeline = Pipeline([session.input(), VADProcessor(), stt, ctx.user(), llm, tts,
                             session.output(), ctx.assistant()])
        await session.run(pipeline)

:class:`CallInfo` holds the call's facts (its id, the client's address, the custom parameters
the client posted to ``/start``, the wire format). Providers that know more about a call (a
phone call's ``call_sid``, its ``from``/``to`` numbers) subclass it; a bot checks with
``isinstance``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from vani.frames import EndFrame, JSONValue, TTSSpeakFrame
from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
from vani.pipeline.observers import BaseObserver
from vani.processors import FrameProcessor
from vani.transports.websocket import WebSocketTransport

if TYPE_CHECKING:
    from vani.ravi import RAVIObserverParams, RAVIProcessor

__all__ = ["CallInfo", "Session", "WireFormat", "new_call_id"]

logger = logging.getLogger("vani.server")

WireFormat = Literal["protobuf", "raw", "telephony"]


def new_call_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True, kw_only=True)
class CallInfo:
    """The facts of one call, known before its pipeline is built.

    ``call_id``: unique per call (hex). ``client_address``: ``"ip:port"`` of the peer as the
    server saw it (the proxy's, behind one). ``custom_parameters``: the JSON object the client
    posted to ``/start`` (its ``body`` field, Pipecat's convention), carried inside the token.
    ``wire_format``: ``"protobuf"`` (Pipecat's clients), ``"raw"`` (PCM + JSON text) or
    ``"telephony"``. ``input_sample_rate``/``input_channels``: what a raw client said it sends
    (``None``: the serializer's default). ``path``/``query``/``headers``: the WebSocket request
    (header names lowercase; ``authorization`` and ``cookie`` are left out). ``started_at``:
    unix seconds when the socket was admitted.
    """

    call_id: str = field(default_factory=new_call_id)
    client_address: str | None = None
    custom_parameters: Mapping[str, JSONValue] = field(default_factory=dict)
    wire_format: WireFormat = "protobuf"
    input_sample_rate: int | None = None
    input_channels: int = 1
    path: str = "/ws"
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)

    @property
    def origin(self) -> str | None:
        return self.headers.get("origin")

    @property
    def user_agent(self) -> str | None:
        return self.headers.get("user-agent")


class Session:
    """One call, as the bot sees it: :attr:`call` (facts), :attr:`transport` (audio and
    messages), and helpers that wire the client protocol (RAVI: RTVI 2.2 on the wire).

    :meth:`input` is the transport's input followed by the RAVI processor (it answers the
    client's ``client-ready``, ``send-text``, ``client-message`` ...); :meth:`task` builds the
    :class:`~vani.pipeline.PipelineTask` with the RAVI observer (speaking states, transcripts,
    LLM and TTS events, function calls out to the client); :meth:`run` runs it and returns when
    the call ends. A bot that wants none of this uses ``session.transport`` directly.

    ``ravi``: whether this session speaks RAVI (``False`` on telephony sockets, where RTVI JSON
    must never be sent).
    """

    def __init__(
        self,
        call: CallInfo,
        transport: WebSocketTransport,
        *,
        ravi: bool = True,
        pipeline_params: PipelineParams | None = None,
    ) -> None:
        self.call = call
        self.transport = transport
        self._ravi_enabled = ravi
        self._ravi: RAVIProcessor | None = None
        self._params = pipeline_params
        self._tasks: list[PipelineTask] = []
        # Called with each task :meth:`task` builds (the server attaches its observability).
        self.task_hooks: list[Callable[[Session, PipelineTask], None]] = []
        self._runner = PipelineRunner(name=f"call {call.call_id}", handle_sigint=False)

    @property
    def ravi_enabled(self) -> bool:
        return self._ravi_enabled

    @property
    def ravi(self) -> RAVIProcessor:
        """This call's RAVI processor (created on first use). Register client-message handlers
        on it: ``@session.ravi.event_handler("on_client_message")``."""
        if self._ravi is None:
            from vani.ravi import RAVIProcessor

            self._ravi = RAVIProcessor(transport=self.transport)
        return self._ravi

    def input(self) -> FrameProcessor:
        """The first processor of the bot's pipeline."""
        if not self._ravi_enabled:
            return self.transport.input()
        # RTVI messages go straight to this call's output (when the pipeline runs it).
        self.ravi.set_message_sink(self.transport.output())
        return Pipeline([self.transport.input(), self.ravi])

    def output(self) -> FrameProcessor:
        """The transport's output (put the assistant context aggregator after it)."""
        return self.transport.output()

    def task(
        self,
        pipeline: FrameProcessor,
        *,
        params: PipelineParams | None = None,
        observers: Sequence[BaseObserver] = (),
        idle_timeout_secs: float | None = None,
        ravi_params: RAVIObserverParams | None = None,
    ) -> PipelineTask:
        """A task for ``pipeline`` with this call's RAVI observer attached (when the session
        speaks RAVI and the pipeline uses :meth:`input`). ``ravi_params``: the observer's
        settings (which events to send, function-call report levels; ``docs/protocol.md``).
        ``idle_timeout_secs``: ``None`` by default, since the transport ends a call whose client
        left and bounds every call's length."""
        extra: list[BaseObserver] = list(observers)
        if self._ravi_enabled and self._ravi is not None:
            from vani.ravi import RAVIObserver

            extra.append(RAVIObserver(self._ravi, params=ravi_params))
        task = PipelineTask(
            pipeline,
            params=params or self._params,
            observers=extra,
            idle_timeout_secs=idle_timeout_secs,
            name=f"call-{self.call.call_id[:8]}",
        )
        for hook in self.task_hooks:
            hook(self, task)
        return task

    async def run(self, pipeline_or_task: FrameProcessor | PipelineTask) -> None:
        """Run the call's pipeline (or a task from :meth:`task`) until the call ends."""
        task = (
            pipeline_or_task
            if isinstance(pipeline_or_task, PipelineTask)
            else self.task(pipeline_or_task)
        )
        self._tasks.append(task)
        try:
            await self._runner.run(task)
        finally:
            self._tasks.remove(task)

    async def end(self, reason: str | None = None, *, goodbye: str | None = None) -> None:
        """End the call gracefully (server drain): speak ``goodbye`` when the pipeline has a
        TTS, then an ``EndFrame``: what is queued plays out and the socket closes normally."""
        for task in list(self._tasks):
            if task.finished:
                continue
            if goodbye:
                await task.queue_frame(TTSSpeakFrame(text=goodbye))
            await task.queue_frame(EndFrame(reason=reason))

    async def cancel(self, reason: str | None = None) -> None:
        """End the call now (server shutdown): every running task is cancelled."""
        for task in list(self._tasks):
            await task.cancel(reason)

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def __repr__(self) -> str:
        return f"<Session {self.call.call_id} from {self.call.client_address}>"
