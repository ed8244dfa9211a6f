"""WebSocketTransport: a live call over one WebSocket, in any ASGI app or ``websockets`` server.

The transport owns the socket, pacing, playback tracking and the session's lifecycle; the
:class:`~vani.serializers.FrameSerializer` owns the wire format. See ``docs/websocket.md``.

Input: one reader task receives each message, drops one over ``max_message_size``, hands the rest
to the serializer and pushes the frames it returns. Audio goes through
:meth:`~vani.transports.base.BaseInputTransport.push_audio` (any rate and channel count, resampled
by the compiled core); a message the serializer refuses (:class:`~vani.errors.SerializationError`)
or audio in a bad format is logged and dropped, and the call goes on.

Output: the base output transport paces audio at real time in 10 ms multiples, ``send_ahead``
ahead of the client's playback, and says when the bot starts and stops speaking from that
timeline. Every message then goes through one writer task with two lanes: urgent messages (RTVI,
the interruption) are always written before audio, so they never wait behind it. Audio that
finds the writer idle (nothing queued, no send running) is handed to the socket at once from the
output's task, where the connection can do that without waiting (``send_nowait``). The writer's
queue is bounded (``max_send_queue_bytes``) and each send has a deadline (``send_timeout_secs``):
a client that stops reading is disconnected, never allowed to grow memory.

Lifecycle: ``on_client_connected(transport, connection)`` fires once the pipeline has started and
the socket is accepted; ``on_client_disconnected(transport, connection)`` fires exactly once when
the socket is gone, whoever closed it. When the client leaves (close frame, vanished TCP
connection, ping timeout, not reading) or the session times out, the output drops what it has
queued and the transport asks the task to end (an ``EndFrame``, so services close gracefully); if
the end has not reached the output within ``end_timeout_secs``, it cancels the task. When the
pipeline ends first (``EndFrame``), the output plays out what is queued, flushes the writer and
closes the socket with 1000. Every close handshake is bounded by ``close_timeout_secs``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vani.errors import AudioFormatError, ConfigurationError, SerializationError
from vani.events import EventEmitter
from vani.frames import (
    CancelFrame,
    CancelTaskFrame,
    EndFrame,
    EndTaskFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InterruptionFrame,
    InterruptionTaskFrame,
    JSONValue,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
    SystemFrame,
)
from vani.processors import FrameProcessor
from vani.processors.timeouts import wait_bounded
from vani.serializers import FrameSerializer
from vani.transports.base import (
    BaseInputTransport,
    BaseOutputTransport,
    Transport,
    TransportParams,
    _PlaybackMarker,
)
from vani.transports.clock import Clock, ClockHandle
from vani.transports.websocket.connection import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    ConnectionClosedError,
    WebSocketConnection,
)

if TYPE_CHECKING:
    from starlette.websockets import WebSocket
    from websockets.asyncio.server import ServerConnection

__all__ = ["WebSocketParams", "WebSocketTransport"]

logger = logging.getLogger(__name__)

# Bad messages logged per session before the log goes quiet (then every 1000th).
_LOG_FIRST_BAD = 10


@dataclass(slots=True)
class WebSocketParams(TransportParams):
    """Audio settings (see :class:`~vani.transports.TransportParams`) and the socket's limits.

    ``audio_out_send_ahead_secs``: how far ahead of playback audio is sent (the client's jitter
    margin). ``session_timeout_secs``: the call ends this long after it started (``None``: no
    limit). ``max_message_size``: larger inbound messages are dropped (and servers built with
    :func:`websockets_serve_kwargs`/:func:`uvicorn_ws_kwargs` refuse them with close 1009).
    ``ping_interval_secs``/``ping_timeout_secs``: keepalive pings (applied by the server).
    ``close_timeout_secs``: the longest a close handshake may take before the TCP connection is
    dropped. ``send_timeout_secs``: a send that takes longer means the client stopped reading;
    it is disconnected. ``max_send_queue_bytes``: the most the writer may hold; more also
    disconnects the client. ``write_buffer_bytes``: the socket library's write buffer.
    ``end_timeout_secs``: after the client left, how long the pipeline may take to end
    gracefully before it is cancelled.
    """

    audio_out_send_ahead_secs: float = 0.06
    session_timeout_secs: float | None = 3600.0
    max_message_size: int = 1 << 20
    ping_interval_secs: float | None = 20.0
    ping_timeout_secs: float | None = 20.0
    close_timeout_secs: float = 0.5
    send_timeout_secs: float = 3.0
    max_send_queue_bytes: int = 1 << 20
    write_buffer_bytes: int = 1 << 16
    end_timeout_secs: float = 2.0

    def __post_init__(self) -> None:
        TransportParams.__post_init__(self)
        positive = {
            "close_timeout_secs": self.close_timeout_secs,
            "send_timeout_secs": self.send_timeout_secs,
            "end_timeout_secs": self.end_timeout_secs,
            "max_message_size": self.max_message_size,
            "max_send_queue_bytes": self.max_send_queue_bytes,
            "write_buffer_bytes": self.write_buffer_bytes,
        }
        optional = {
            "session_timeout_secs": self.session_timeout_secs,
            "ping_interval_secs": self.ping_interval_secs,
            "ping_timeout_secs": self.ping_timeout_secs,
        }
        for name, value in {**positive, **optional}.items():
            if value is None and name in optional:
                continue
            if value is None or value <= 0:
                raise ConfigurationError(f"{name} must be positive, got {value}")


def _adapt(
    connection: WebSocketConnection | WebSocket | ServerConnection,
) -> WebSocketConnection:
    if isinstance(connection, WebSocketConnection):
        return connection
    # The adapters import their library; only look for the one the caller already imported.
    if "starlette.websockets" in sys.modules:
        from starlette.websockets import WebSocket as StarletteWebSocket

        if isinstance(connection, StarletteWebSocket):
            from vani.transports.websocket.starlette_adapter import StarletteConnection

            return StarletteConnection(connection)
    if "websockets.asyncio.server" in sys.modules:
        from websockets.asyncio.server import ServerConnection as WsServerConnection

        if isinstance(connection, WsServerConnection):
            from vani.transports.websocket.websockets_adapter import WebsocketsConnection

            return WebsocketsConnection(connection)
    raise ConfigurationError(
        "expected a WebSocketConnection, a Starlette WebSocket or a websockets ServerConnection,"
        f" got {type(connection).__name__}"
    )


class _Writer:
    """The one task that writes to the socket, from two lanes taken in turn while both hold
    something: a message waits behind at most one audio message, never behind the queued
    audio, and the first audio of a reply is not held back by the burst of events (LLM tokens,
    TTS text, speaking states) that comes with it, which cost it ~1 ms with messages always
    first."""

    def __init__(self, transport: WebSocketTransport) -> None:
        self._t = transport
        self._urgent: deque[bytes | str] = deque()
        self._audio: deque[bytes | str] = deque()
        self.queued_bytes = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.closed = False
        self.messages_sent = 0
        self.bytes_sent = 0

    def put(self, message: bytes | str, *, urgent: bool) -> None:
        if self.closed:
            return
        size = len(message)
        limit = self._t.params.max_send_queue_bytes
        if self.queued_bytes + size > limit:
            self._t._lose(
                CLOSE_POLICY_VIOLATION,
                f"client is not reading: over {limit} bytes waiting to be sent",
            )
            return
        if not urgent and self._idle.is_set():
            # Nothing queued and no send running (the writer sets _idle only once its last
            # send has returned): audio goes out now, from the output's task,
            # where the connection can do that without waiting. A reply's first audio then
            # does not wait behind whatever the loop had ready before the writer's turn (the
            # rest of the TTS's audio being read, the observers' messages): ~0.5 ms. Messages
            # keep the writer's lane, so a burst of them leaves back to back; sent one by one
            # from the observers' task as they were made, they cost more CPU per call.
            try:
                sent = self._t.connection.send_nowait(message)
            except Exception as exc:  # the socket library failed: the call cannot go on
                logger.exception("%s: sending failed", self._t)
                self._t._lose(CLOSE_INTERNAL_ERROR, f"send failed: {exc}")
                return
            if sent:
                self.messages_sent += 1
                self.bytes_sent += size
                return
        (self._urgent if urgent else self._audio).append(message)
        self.queued_bytes += size
        self._idle.clear()
        self._wake.set()

    def drop_audio(self) -> int:
        """Drop the audio not yet written; returns how many bytes that was."""
        dropped = sum(len(message) for message in self._audio)
        self.queued_bytes -= dropped
        self._audio.clear()
        return dropped

    def close(self) -> None:
        self.closed = True
        self._urgent.clear()
        self._audio.clear()
        self.queued_bytes = 0
        self._idle.set()
        self._wake.set()

    async def flush(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until everything queued has been written (at most ``timeout`` seconds)."""
        if self.closed or self._idle.is_set():
            return
        if not await wait_bounded(self._idle.wait(), timeout):
            logger.info("%s: %d bytes still unsent at the end", self._t, self.queued_bytes)

    async def run(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        watchdog = _SendWatchdog(task, self._t.params.send_timeout_secs)
        try:
            await self._run(watchdog)
        finally:
            watchdog.stop()

    async def _run(self, watchdog: _SendWatchdog) -> None:
        conn = self._t.connection
        timeout = watchdog.timeout
        loop = asyncio.get_running_loop()
        audio_due = True
        while not self.closed:
            if self._urgent and not (self._audio and audio_due):
                message = self._urgent.popleft()
                audio_due = True
            elif self._audio:
                message = self._audio.popleft()
                audio_due = False
            else:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            self.queued_bytes -= len(message)
            watchdog.busy_since = loop.time()
            try:
                await conn.send(message)
            except asyncio.CancelledError:
                if not watchdog.fired:
                    raise
                watchdog.task.uncancel()  # our own cancellation, answered here
                self._t._lose(
                    CLOSE_POLICY_VIOLATION,
                    f"client is not reading: a send took over {timeout} s",
                )
                return
            except ConnectionClosedError as exc:
                self._t._lose(exc.code, exc.reason or "closed while sending", by_client=True)
                return
            except Exception as exc:  # the socket library failed: the call cannot go on
                logger.exception("%s: sending failed", self._t)
                self._t._lose(CLOSE_INTERNAL_ERROR, f"send failed: {exc}")
                return
            finally:
                watchdog.busy_since = None
            self.messages_sent += 1
            self.bytes_sent += len(message)
            if not self._urgent and not self._audio:
                self._idle.set()


class _SendWatchdog:
    """Bounds each send of a writer with one timer per connection, re-armed only as needed:
    a deadline set and cleared around every message (``asyncio.timeout``, ~6 µs) cost more
    than the send of an audio message itself. A send still running ``timeout`` seconds after
    it began gets its task cancelled, with :attr:`fired` set."""

    def __init__(self, task: asyncio.Task[Any], timeout: float) -> None:
        self.task = task
        self.timeout = timeout
        self.busy_since: float | None = None
        self.fired = False
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(timeout, self._check)

    def _check(self) -> None:
        since, now = self.busy_since, self._loop.time()
        if since is not None and now - since >= self.timeout:
            self.fired = True
            self._handle = None
            self.task.cancel()
            return
        # Next: when the send running now, or one starting right after, could first run over.
        delay = self.timeout - (now - since) if since is not None else self.timeout
        self._handle = self._loop.call_later(max(delay, 0.001), self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _WebSocketInput(BaseInputTransport):
    def __init__(self, transport: WebSocketTransport, *, name: str | None = None) -> None:
        super().__init__(transport.params, transport.clock, name=name)
        self._t = transport
        self._reader: asyncio.Task[object] | None = None

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self._t._on_start(frame, self)
        if not self._t.closing:
            self._reader = self.create_task(self._read(), name="reader")

    async def stop(self, frame: EndFrame) -> None:
        self._t._ending = True
        self._t._cancel_session_timer()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        self._t._ending = True
        self._t._cancel_session_timer()
        await super().cancel(frame)

    async def _read(self) -> None:
        t = self._t
        conn = t.connection
        limit = t.params.max_message_size
        try:
            while not t.closing:
                data = await conn.recv()
                t.messages_received += 1
                if len(data) > limit:
                    t._bad_message(f"message of {len(data)} bytes is over the {limit} byte limit")
                    continue
                try:
                    frames = t.serializer.deserialize(data)
                except SerializationError as exc:
                    t._bad_message(str(exc))
                    continue
                except Exception as exc:  # a serializer bug must not end the reader
                    logger.exception("%s: the serializer raised on a message", t)
                    t._bad_message(f"serializer error: {exc}")
                    continue
                for frame in frames:
                    await self._push_received(frame)
        except ConnectionClosedError as exc:
            t._lose(exc.code, exc.reason, by_client=True)

    async def _push_received(self, frame: Frame) -> None:
        if isinstance(frame, InputAudioRawFrame):
            try:
                await self.push_audio(
                    frame.audio, sample_rate=frame.sample_rate, num_channels=frame.num_channels
                )
            except AudioFormatError as exc:
                self._t._bad_message(str(exc))
            return
        await self.push_frame(frame)


class _WebSocketOutput(BaseOutputTransport):
    def __init__(self, transport: WebSocketTransport, *, name: str | None = None) -> None:
        super().__init__(transport.params, transport.clock, name=name)
        self._t = transport
        self._writer_task: asyncio.Task[object] | None = None
        self._cleared = False

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self._t._on_start(frame, self)
        writer = self._t._writer
        if not writer.closed:
            self._writer_task = self.create_task(writer.run(), name="writer")

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        if direction is FrameDirection.DOWNSTREAM:
            if self._t.closing and frame.interruptible and not isinstance(frame, SystemFrame):
                # Nobody to play it to: audio is not paced out, and text is not "heard".
                return
            if isinstance(frame, EndFrame | CancelFrame):
                self._t._ending = True
            elif isinstance(frame, InterruptionFrame):
                # Audio still in the writer (a slow network) goes too, even when the pacing
                # clock says playback already ended; the client is told either way.
                dropped = self._t._writer.drop_audio()
                self._cleared = False
                await super().process_frame(frame, direction)
                if dropped and not self._cleared:
                    await self.clear_playback(at=self.clock.now())
                return
        await super().process_frame(frame, direction)

    async def stop(self, frame: EndFrame) -> None:
        # Everything queued before the EndFrame has been paced out; the observers' messages
        # about it (the last words' text, errors) join the writer, and it finishes.
        t = self._t
        if not t.closing:  # else nothing more can be sent
            await self.wait_for_observers(t.params.close_timeout_secs)
        await t._writer.flush(t.params.send_timeout_secs)
        await t._close(CLOSE_NORMAL, "session ended")
        await self._stop_writer()
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        t = self._t
        self.discard()
        await t._close(CLOSE_GOING_AWAY, "session cancelled")
        await self._stop_writer()
        await super().cancel(frame)

    async def _stop_writer(self) -> None:
        self._t._writer.close()
        task, self._writer_task = self._writer_task, None
        if task is not None and task is not asyncio.current_task():
            await self.cancel_task(task, timeout=self._t.params.close_timeout_secs)

    def discard(self) -> None:
        """The client is gone: drop what is queued as an interruption would (the user never
        hears it) and stop pacing; uninterruptible frames (the EndFrame) still flow on."""
        self._pq = deque(
            item
            for item in self._pq
            if isinstance(item, _PlaybackMarker) and not item.frame.interruptible
        )
        self._playing_until = min(self._playing_until, self.clock.now())
        self._next_send = self._playing_until
        self._poke()

    async def write_audio(self, chunk: bytes, *, at: float) -> None:
        t = self._t
        if t.closing:
            return
        frame = OutputAudioRawFrame(
            audio=chunk, sample_rate=self.sample_rate, num_channels=self._channels
        )
        message = t._serialize(frame)
        if message is not None:
            t._writer.put(message, urgent=False)

    async def clear_playback(self, *, at: float) -> None:
        t = self._t
        self._cleared = True
        t._writer.drop_audio()
        if t.closing:
            return
        message = t._serialize(InterruptionFrame())
        if message is not None:
            t._writer.put(message, urgent=True)

    async def send_message(self, message: JSONValue) -> None:
        t = self._t
        if t.closing:
            return
        wire = t._serialize(OutputTransportMessageUrgentFrame(message=message))
        if wire is not None:
            t._writer.put(wire, urgent=True)


class WebSocketTransport(Transport, EventEmitter):
    """A call over one WebSocket: ``input()`` first in the pipeline, ``output()`` last.

    ``connection``: a :class:`WebSocketConnection`, or a Starlette/FastAPI ``WebSocket`` or a
    ``websockets`` server connection (wrapped for you). ``serializer``: the wire format (one
    instance per call). Events: ``on_client_connected``, ``on_client_disconnected`` (each
    exactly once, handlers get ``(transport, connection)``) and ``on_session_timeout``.
    """

    def __init__(
        self,
        connection: WebSocketConnection | WebSocket | ServerConnection,
        serializer: FrameSerializer,
        params: WebSocketParams | None = None,
        *,
        clock: Clock | None = None,
        name: str | None = None,
    ) -> None:
        self.params: WebSocketParams = params or WebSocketParams()
        super().__init__(self.params, clock)
        if not isinstance(serializer, FrameSerializer):
            raise ConfigurationError(f"expected a FrameSerializer, got {type(serializer).__name__}")
        self.connection = _adapt(connection)
        self.serializer = serializer
        self._name = name or "WebSocketTransport"
        self._input: _WebSocketInput | None = None
        self._output: _WebSocketOutput | None = None
        self._writer = _Writer(self)
        self._setup_done = False
        self._connected_fired = False
        self._disconnected_fired = False
        self._close_started = False
        self._close_done: asyncio.Event | None = None
        self._lost = False
        self._ending = False
        self._session_timer: ClockHandle | None = None
        self.closing = False
        self._close_known = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.messages_received = 0
        self.messages_dropped = 0
        for event in ("on_client_connected", "on_client_disconnected", "on_session_timeout"):
            self._register_event_handler(event)

    def __str__(self) -> str:
        return self._name

    def input(self) -> BaseInputTransport:
        if self._input is None:
            self._input = _WebSocketInput(self, name=f"{self._name}.input")
        return self._input

    def output(self) -> BaseOutputTransport:
        if self._output is None:
            self._output = _WebSocketOutput(self, name=f"{self._name}.output")
        return self._output

    @property
    def client_connected(self) -> bool:
        """True between ``on_client_connected`` and ``on_client_disconnected``."""
        return self._connected_fired and not self._disconnected_fired

    @property
    def messages_sent(self) -> int:
        """Messages written to the socket so far."""
        return self._writer.messages_sent

    @property
    def send_queue_bytes(self) -> int:
        """Bytes waiting in the writer."""
        return self._writer.queued_bytes

    # -- lifecycle ------------------------------------------------------------------------------

    async def _on_start(self, frame: StartFrame, half: FrameProcessor) -> None:
        """Both halves call this from their start(); the first one sets the session up."""
        if self._setup_done:
            return
        self._setup_done = True
        self.clock.start()
        await self.serializer.setup(frame)
        try:
            await self.connection.accept()
        except Exception as exc:  # the client left before the handshake completed
            logger.info("%s: could not accept the websocket: %s", self, exc)
            self._lose(None, f"accept failed: {exc}", by_client=True)
            return
        timeout = self.params.session_timeout_secs
        if timeout is not None:
            self._session_timer = self.clock.call_at(
                self.clock.now() + timeout, lambda: self._spawn(self._session_timed_out())
            )
        self._spawn(self._fire_connected())

    async def _fire_connected(self) -> None:
        if self._connected_fired or self.closing:
            return
        self._connected_fired = True
        await self._call_event_handler("on_client_connected", self.connection)

    async def _fire_disconnected(self) -> None:
        if not self._connected_fired or self._disconnected_fired:
            return
        self._disconnected_fired = True
        await self._call_event_handler("on_client_disconnected", self.connection)

    def _owner(self) -> FrameProcessor | None:
        """A started half of this transport to own tasks and push frames from."""
        for half in (self._input, self._output):
            if half is not None and half.started:
                return half
        return None

    def _spawn(self, coroutine: Coroutine[object, None, object]) -> None:
        owner = self._owner()
        if owner is None:
            coroutine.close()
            return
        owner.create_task(coroutine, name="session")

    def _cancel_session_timer(self) -> None:
        if self._session_timer is not None:
            self._session_timer.cancel()
            self._session_timer = None

    async def _session_timed_out(self) -> None:
        self._session_timer = None
        if self.closing or self._ending:
            return
        limit = self.params.session_timeout_secs
        logger.info("%s: session timeout after %s s", self, limit)
        await self._call_event_handler("on_session_timeout", self.connection)
        await self._shutdown(CLOSE_NORMAL, "session timeout", by_client=False)

    def _lose(self, code: int | None, reason: str, *, by_client: bool = False) -> None:
        """The connection is gone or must go: end the session (idempotent, never blocks)."""
        if self._lost:
            return
        self._lost = True
        self._spawn(self._shutdown(code, reason, by_client=by_client))

    async def _shutdown(self, code: int | None, reason: str, *, by_client: bool) -> None:
        self._lost = True
        self.closing = True
        self._cancel_session_timer()
        if self._output is not None:
            self._output.discard()
        self._writer.close()
        if by_client:
            logger.info("%s: client left (%s %s)", self, code, reason)
            self._record_close(code, reason)
        await self._close(CLOSE_NORMAL if code is None or by_client else code, reason)
        if self._ending:
            return
        self._ending = True
        owner = self._owner()
        if owner is None:
            return
        # Nobody hears the rest of a reply any more: cut it first (the context keeps what was
        # played), so the graceful end does not wait for a TTS to finish speaking into a closed
        # socket, which under load took longer than the end timeout and ended calls by cancel.
        await owner.push_frame(InterruptionTaskFrame(), FrameDirection.UPSTREAM)
        await owner.push_frame(
            EndTaskFrame(reason=f"client disconnected: {reason}"), FrameDirection.UPSTREAM
        )
        if self._output is not None and self._output.started:
            self._output.create_task(self._cancel_if_stuck(), name="end-timeout")

    async def _cancel_if_stuck(self) -> None:
        await asyncio.sleep(self.params.end_timeout_secs)
        logger.warning(
            "%s: the pipeline did not end within %s s of the disconnect; cancelling",
            self,
            self.params.end_timeout_secs,
        )
        owner = self._owner()
        if owner is not None:
            await owner.push_frame(
                CancelTaskFrame(reason="client disconnected"), FrameDirection.UPSTREAM
            )

    def _record_close(self, code: int | None, reason: str) -> None:
        if not self._close_known:
            self._close_known = True
            self.close_code, self.close_reason = code, reason

    async def _close(self, code: int, reason: str) -> None:
        """Close the socket (bounded by ``close_timeout_secs``) and fire the disconnect event."""
        self.closing = True
        self._writer.close()
        if not self._close_started:
            self._close_started = True
            self._close_done = asyncio.Event()
            self._record_close(code, reason)
            try:
                closed = await wait_bounded(
                    self.connection.close(code, reason), self.params.close_timeout_secs
                )
                if not closed:
                    logger.info("%s: close handshake timed out; dropping the connection", self)
                    self.connection.abort()
            except Exception as exc:
                logger.debug("%s: close failed: %s", self, exc)
                self.connection.abort()
            finally:
                self._close_done.set()
        elif self._close_done is not None:
            await self._close_done.wait()
        await self._fire_disconnected()

    # -- serializer ---------------------------------------------------------------------------

    def _serialize(self, frame: Frame) -> bytes | str | None:
        try:
            return self.serializer.serialize(frame)
        except SerializationError as exc:
            logger.warning("%s: cannot send %s: %s", self, frame.name, exc)
            return None

    def _bad_message(self, problem: str) -> None:
        self.messages_dropped += 1
        n = self.messages_dropped
        if n <= _LOG_FIRST_BAD or n % 1000 == 0:
            logger.warning(
                "%s: dropped a message from the client: %s (%d so far)", self, problem, n
            )
