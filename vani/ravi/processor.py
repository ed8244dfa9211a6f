"""``RAVIProcessor``: the server side of the client protocol (RTVI 2.2 on the wire).

Place it right after ``transport.input()``. It consumes the RTVI messages the serializer turned
into :class:`~vani.frames.InputTransportMessageFrame` s, answers them, and turns them into
frames; everything it sends goes out as :class:`~vani.frames.OutputTransportMessageUrgentFrame`,
so a message never waits behind queued audio. Inbound messages are handled one at a time, in
arrival order, in a task of the processor's own, so a slow ``on_client_message`` handler holds
up later messages but never the pipeline. The events the pipeline produces (speaking, transcripts,
LLM and TTS) are sent by :class:`~vani.ravi.observer.RAVIObserver`. See ``docs/protocol.md``.

Events: ``on_client_ready(processor)`` after ``bot-ready`` was sent;
``on_client_message(processor, message: ClientMessage)``, whose return value (unless ``None``)
is sent back as ``server-response``, and whose exception becomes ``error-response``;
``on_bot_started(processor)`` when the pipeline starts.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, cast

from vani import __version__
from vani.frames import (
    CancelFrame,
    EndFrame,
    EndTaskFrame,
    Frame,
    FrameDirection,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InputTransportMessageFrame,
    JSONObject,
    JSONValue,
    LLMConfigureOutputFrame,
    LLMMessagesAppendFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
)
from vani.processors.frame_processor import FrameProcessor
from vani.processors.timeouts import wait_bounded
from vani.ravi import messages as m
from vani.ravi.versions import PROTOCOL_VERSION, Negotiation, negotiate

if TYPE_CHECKING:
    from vani.audio.resample import StreamResampler
    from vani.ravi.observer import RAVIObserver, RAVIObserverParams

__all__ = ["RAVIProcessor", "RTVIProcessor"]

logger = logging.getLogger(__name__)

# How long a graceful end waits for the client messages that already arrived to be handled.
_DRAIN_SECS = 2.0
# Client messages waiting behind a slow one, at most: a client that floods the session while a
# handler runs gets error-responses instead of growing memory.
MAX_PENDING_MESSAGES = 256

ClientMessageHandler = Callable[["RAVIProcessor", m.ClientMessage], Awaitable[JSONValue]]


class _TransportParams(Protocol):
    audio_in_enabled: bool
    audio_out_enabled: bool


class _Transport(Protocol):
    @property
    def params(self) -> _TransportParams: ...


class _MessageSink(Protocol):
    """A transport output that sends a message to the client itself (``send_message``)."""

    @property
    def started(self) -> bool: ...

    async def send_message(self, message: JSONValue) -> None: ...


class RAVIProcessor(FrameProcessor):
    """Handles RTVI client messages (module docstring; ``docs/protocol.md``).

    ``transport``: the session's transport; ``bot-ready`` announces ``audio_in``/``audio_out``
    from its params (both True without one). ``about``: what ``bot-ready`` says about the bot
    (default ``{"library": "vani", "library_version": ...}``). ``capabilities``: fields that
    override the derived ones (``video_in`` ...). ``auto_bot_ready``: answer ``client-ready``
    with ``bot-ready`` at once (default); with False, call :meth:`set_bot_ready` yourself.
    ``hold_audio_until_client_ready``: drop caller audio until ``client-ready`` arrived
    (Pipecat's ``audio_in_stream_on_start=False``); dropped, not buffered, so memory stays
    bounded.
    """

    def __init__(
        self,
        *,
        transport: _Transport | None = None,
        about: JSONObject | None = None,
        capabilities: JSONObject | None = None,
        auto_bot_ready: bool = True,
        hold_audio_until_client_ready: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._transport = transport
        self._sink: _MessageSink | None = None
        self._about: JSONObject = about or {"library": "vani", "library_version": __version__}
        self._capability_overrides: JSONObject = dict(capabilities or {})
        self._auto_bot_ready = auto_bot_ready
        self._hold_audio = hold_audio_until_client_ready
        self._negotiation: Negotiation | None = None
        self._client_ready = False
        self._client_ready_id = ""
        self._client_about: JSONObject = {}
        self._bot_ready = False
        self._messages: asyncio.Queue[m.ClientEnvelope | m.RAVIMessageError] | None = None
        self._worker: asyncio.Task[object] | None = None
        self._skip_tts = False
        self._resampler: StreamResampler | None = None
        self._closed = False
        for event in ("on_client_ready", "on_client_message", "on_bot_started"):
            self._register_event_handler(event)

    # -- state ------------------------------------------------------------------------------

    @property
    def client_ready(self) -> bool:
        return self._client_ready

    @property
    def bot_ready(self) -> bool:
        return self._bot_ready

    @property
    def negotiation(self) -> Negotiation | None:
        """The outcome of ``client-ready`` (``None`` before it)."""
        return self._negotiation

    @property
    def client_version(self) -> list[int]:
        """The client's version as ``[major, minor, patch]``; ``[0, 0, 0]`` before
        ``client-ready`` (Pipecat's spelling)."""
        return list(self._negotiation.client_version) if self._negotiation else [0, 0, 0]

    @property
    def client_about(self) -> JSONObject:
        """The ``about`` object of the client's ``client-ready``."""
        return self._client_about

    @property
    def legacy_client(self) -> bool:
        """True for a 1.x client, which is served the v1 message forms."""
        return self._negotiation is not None and self._negotiation.legacy

    def client_at_least(self, version: tuple[int, int, int]) -> bool:
        """True when the client speaks ``version`` or later (the current protocol is assumed
        before ``client-ready``)."""
        return self._negotiation is None or self._negotiation.at_least(version)

    def capabilities(self) -> JSONObject:
        """What ``bot-ready`` announces: from the transport's params and the pipeline's."""
        params = self._transport.params if self._transport is not None else None
        caps: JSONObject = {
            "audio_in": params.audio_in_enabled if params is not None else True,
            "audio_out": params.audio_out_enabled if params is not None else True,
            "video_in": None,
            "screen_in": None,
            "video_out": None,
            "metrics": self.metrics_enabled,
        }
        caps.update(self._capability_overrides)
        return caps

    # -- sending ------------------------------------------------------------------------------

    async def send_message(self, message: m.ServerMessage) -> None:
        """Send one server message (urgent: it overtakes queued audio)."""
        await self.push_transport_message(message.to_json())

    async def push_transport_message(self, message: JSONObject) -> None:
        """Push a raw message to the client as an urgent transport message.

        With a message sink set (:meth:`set_message_sink`) and running, the message goes straight
        to it (what the urgent frame would reach anyway, since no processor between
        here and the output acts on it): a turn sends a dozen RTVI events, and walking each
        through every processor (and every observer, once per hop) cost milliseconds of the
        event loop in the middle of the turn. Otherwise it travels as a frame."""
        sink = self._message_sink()
        if sink is not None:
            await sink.send_message(message)
            return
        await self.push_frame(OutputTransportMessageUrgentFrame(message=message))

    def set_message_sink(self, sink: _MessageSink | None) -> None:
        """Send messages straight to ``sink`` (the session's transport output) while it runs;
        :class:`~vani.server.Session` sets this. ``None``: always push frames."""
        self._sink = sink

    def _message_sink(self) -> _MessageSink | None:
        sink = self._sink
        return sink if sink is not None and sink.started else None

    def create_rtvi_observer(self, *, params: RAVIObserverParams | None = None) -> RAVIObserver:
        """A :class:`~vani.ravi.observer.RAVIObserver` sending through this processor (Pipecat's
        spelling)."""
        from vani.ravi.observer import RAVIObserver

        return RAVIObserver(self, params=params)

    async def set_bot_ready(self, about: JSONObject | None = None) -> None:
        """Send ``bot-ready`` (once per ``client-ready``; later calls do nothing)."""
        if self._bot_ready:
            return
        self._bot_ready = True
        negotiation = self._negotiation or negotiate(PROTOCOL_VERSION)
        await self.send_message(
            m.bot_ready(
                self._client_ready_id,
                negotiation.bot_ready_version,
                about or self._about,
                self.capabilities(),
            )
        )

    async def send_server_message(self, data: JSONValue) -> None:
        """Push ``server-message`` with ``data`` to the client."""
        await self.send_message(m.server_message(data))

    async def send_server_response(self, client_msg: m.ClientMessage, data: JSONValue) -> None:
        """Answer a ``client-message`` (same ``id`` and ``t``)."""
        await self.send_message(m.server_response(client_msg.msg_id, client_msg.type, data))

    async def send_error_response(self, client_msg: m.ClientMessage, error: str) -> None:
        """Answer a ``client-message`` with ``error-response``."""
        await self.send_message(m.error_response(client_msg.msg_id, error))

    async def send_error(self, error: str, *, fatal: bool = False) -> None:
        """Send an ``error`` message (not tied to a request)."""
        await self.send_message(m.error(error, fatal=fatal))

    async def interrupt_bot(self) -> None:
        """Interrupt the bot, as a barge-in does."""
        await self.broadcast_interruption()

    # -- frames -------------------------------------------------------------------------------

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        self._ensure_worker()
        await self._call_event_handler("on_bot_started")

    async def stop(self, frame: EndFrame) -> None:
        self._closed = True
        # A graceful end answers what already arrived (bounded: a stuck handler cannot hold
        # the session open).
        if self._messages is not None and self._worker is not None and not self._worker.done():
            await wait_bounded(self._messages.join(), _DRAIN_SECS)
        await self._stop_worker()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        self._closed = True
        await self._stop_worker()
        await super().cancel(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputTransportMessageFrame) and direction is FrameDirection.DOWNSTREAM:
            await self._receive(frame)
            return
        if isinstance(frame, InputAudioRawFrame) and self._hold_audio and not self._client_ready:
            return
        if isinstance(frame, LLMConfigureOutputFrame):
            self._skip_tts = frame.skip_tts
        await self.push_frame(frame, direction)

    async def _receive(self, frame: InputTransportMessageFrame) -> None:
        try:
            envelope = m.parse_envelope(frame.message)
        except m.NotRAVIMessage as exc:
            # Not ours (another label): let processors downstream have it.
            logger.debug("%s: passing on a non-RTVI message (%s)", self, exc)
            await self.push_frame(frame)
            return
        except m.RAVIMessageError as exc:
            # Answered in turn, like every message: never ahead of one that arrived before it.
            logger.warning("%s: invalid RTVI message: %s", self, exc)
            await self._enqueue(exc)
            return
        await self._enqueue(envelope)

    async def _enqueue(self, item: m.ClientEnvelope | m.RAVIMessageError) -> None:
        if self._closed:
            return  # the session is ending: nothing would answer it
        self._ensure_worker()
        assert self._messages is not None
        if self._messages.qsize() >= MAX_PENDING_MESSAGES:
            logger.warning(
                "%s: %d client messages pending; refusing more", self, MAX_PENDING_MESSAGES
            )
            if isinstance(item, m.ClientEnvelope):
                await self.send_message(
                    m.error_response(
                        item.id, f"too many pending messages (max {MAX_PENDING_MESSAGES})"
                    )
                )
            return
        self._messages.put_nowait(item)

    def _ensure_worker(self) -> None:
        if self._messages is None:
            self._messages = asyncio.Queue()
        if self._worker is None or self._worker.done():
            self._worker = self.create_task(self._work(self._messages), "messages")

    async def _stop_worker(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            await self.cancel_task(worker)

    async def _work(self, queue: asyncio.Queue[m.ClientEnvelope | m.RAVIMessageError]) -> None:
        while True:
            item = await queue.get()
            try:
                if isinstance(item, m.RAVIMessageError):
                    await self.send_error(f"Invalid RTVI transport message: {item}")
                else:
                    await self._handle_one(item)
            finally:
                queue.task_done()

    async def _handle_one(self, envelope: m.ClientEnvelope) -> None:
        try:
            await self.handle_message(envelope)
        except m.RAVIMessageError as exc:
            logger.warning("%s: invalid %s message: %s", self, envelope.type, exc)
            await self.send_message(m.error_response(envelope.id, f"Invalid message: {exc}"))
        except Exception as exc:
            logger.exception("%s: handling %s failed", self, envelope.type)
            await self.send_message(
                m.error_response(envelope.id, f"Exception processing message: {exc}")
            )

    # -- messages -----------------------------------------------------------------------------

    async def handle_message(self, envelope: m.ClientEnvelope) -> None:
        """Handle one checked client message (called in arrival order by the message task)."""
        msg = m.parse_client_message(envelope)
        if isinstance(msg, m.ClientReady):
            await self._client_ready_message(msg)
        elif isinstance(msg, m.DisconnectBot):
            await self.push_frame(EndTaskFrame(reason="client sent disconnect-bot"), _UP)
        elif isinstance(msg, m.ClientMessage):
            await self._client_message(msg)
        elif isinstance(msg, m.SendText):
            await self._send_text(msg)
        elif isinstance(msg, m.DTMFInput):
            for button in msg.buttons:
                await self.push_frame(InputDTMFFrame(button=button))
        elif isinstance(msg, m.FunctionCallResult):
            await self.push_frame(
                FunctionCallResultFrame(
                    function_name=msg.function_name,
                    tool_call_id=msg.tool_call_id,
                    arguments=_arguments_text(msg.arguments),
                    result=msg.result,
                )
            )
        elif isinstance(msg, m.RawAudio):
            await self._raw_audio(msg)
        elif isinstance(msg, m.SendFile):
            await self.send_message(m.error_response(msg.id, "send-file is not supported by vani"))
        else:
            logger.warning("%s: unsupported RTVI message type %r", self, msg.type)
            await self.send_message(m.error_response(msg.id, f"Unsupported type {msg.type}"))

    async def _client_ready_message(self, msg: m.ClientReady) -> None:
        # Every client-ready is answered (a client that repeats it is waiting for bot-ready).
        self._bot_ready = False
        negotiation = negotiate(msg.version)
        self._negotiation = negotiation
        self._client_about = msg.about
        self._client_ready_id = msg.id
        if negotiation.error is not None:
            logger.warning("%s: %s", self, negotiation.error)
            await self.send_message(m.error_response(msg.id, negotiation.error))
        self._client_ready = True
        if self._auto_bot_ready:
            await self.set_bot_ready()
        await self._call_event_handler("on_client_ready")

    async def _client_message(self, msg: m.ClientMessage) -> None:
        handlers = (self._event_handlers or {}).get("on_client_message", [])
        if not handlers:
            await self.send_error_response(msg, f"no handler for client-message type {msg.type!r}")
            return
        for handler in list(handlers):
            try:
                result = await cast("ClientMessageHandler", handler)(self, msg)
            except Exception as exc:
                logger.warning("%s: on_client_message handler raised: %r", self, exc)
                await self.send_error_response(msg, str(exc) or type(exc).__name__)
                return
            if result is not None:
                await self.send_server_response(msg, result)

    async def _send_text(self, msg: m.SendText) -> None:
        if msg.run_immediately:
            await self.interrupt_bot()
        skip = not msg.audio_response
        toggle = skip != self._skip_tts
        previous = self._skip_tts
        if toggle:
            await self.push_frame(LLMConfigureOutputFrame(skip_tts=skip))
        await self.push_frame(
            LLMMessagesAppendFrame(
                messages=[{"role": "user", "content": msg.content}],
                run_llm=msg.run_immediately,
            )
        )
        await self.send_message(
            m.user_input(
                msg.content, input_type="chat", timestamp=_now_iso(), final=True, msg_id=msg.id
            )
        )
        if toggle:
            await self.push_frame(LLMConfigureOutputFrame(skip_tts=previous))

    async def _raw_audio(self, msg: m.RawAudio) -> None:
        # Imported here: audio inside JSON is rare, and the resampler's filter design needs numpy.
        from vani.audio.pcm import stereo_to_mono
        from vani.audio.resample import StreamResampler

        target = self.audio_in_sample_rate
        for chunk in msg.chunks:
            pcm = stereo_to_mono(chunk) if msg.num_channels == 2 else chunk
            if msg.sample_rate != target:
                resampler = self._resampler
                if resampler is None or resampler.in_rate != msg.sample_rate:
                    resampler = self._resampler = StreamResampler(msg.sample_rate, target)
                pcm = resampler.resample(pcm)
            if pcm:
                await self.push_frame(
                    InputAudioRawFrame(audio=pcm, sample_rate=target, num_channels=1)
                )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _arguments_text(arguments: JSONValue) -> str:
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {})


_UP = FrameDirection.UPSTREAM


class RTVIProcessor(RAVIProcessor):
    """Pipecat's name for :class:`RAVIProcessor`, so migrating is a change of imports."""
