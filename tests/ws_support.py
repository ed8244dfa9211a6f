"""Shared rig for the WebSocket transport tests: a test-only serializer, a scripted bot, real
servers on 127.0.0.1 (``websockets`` and uvicorn + Starlette) and a manual clock."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from vani.errors import SerializationError
from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndFrame,
    EndTaskFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.timeouts import wait_bounded
from vani.serializers import FrameSerializer
from vani.transports.clock import Clock, ClockHandle
from vani.transports.websocket import (
    WebSocketConnection,
    WebSocketParams,
    WebSocketTransport,
)

OUT_RATE = 24000


class PCMJSONSerializer(FrameSerializer):
    """Test-only wire format: binary = s16le mono PCM at ``in_rate``, text = JSON objects
    (``{"rate": n}`` sets ``in_rate``).

    Outbound: audio as binary, messages as ``{"message": ...}``, the interruption as
    ``{"interrupt": true}``.
    """

    def __init__(self, in_rate: int = 16000, in_channels: int = 1) -> None:
        self.in_rate = in_rate
        self.in_channels = in_channels

    def serialize(self, frame: Frame) -> bytes | str | None:
        if isinstance(frame, OutputAudioRawFrame):
            return frame.audio
        if isinstance(frame, OutputTransportMessageUrgentFrame):
            return json.dumps({"message": frame.message})
        if isinstance(frame, InterruptionFrame):
            return json.dumps({"interrupt": True})
        return None

    def deserialize(self, data: bytes | str) -> list[Frame]:
        if isinstance(data, bytes):
            return [
                InputAudioRawFrame(
                    audio=data, sample_rate=self.in_rate, num_channels=self.in_channels
                )
            ]
        try:
            message = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SerializationError(f"expected JSON text, got {data[:40]!r}: {exc}") from exc
        if not isinstance(message, dict):
            raise SerializationError(f"expected a JSON object, got {type(message).__name__}")
        if set(message) == {"rate"}:  # the client announces its input rate
            self.in_rate = int(message["rate"])
            return []
        return [InputTransportMessageFrame(message=message)]


def tone(secs: float, rate: int = OUT_RATE, freq: float = 440.0) -> bytes:
    t = np.arange(round(secs * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2").tobytes()


class ScriptedBot(FrameProcessor):
    """Answers client messages: ``{"say": secs}`` speaks a tone of that length in 20 ms TTS
    frames followed by its TTSTextFrame; ``{"interrupt": true}`` interrupts; ``{"end": true}``
    ends the call; ``{"echo": x}`` sends ``x`` back as an urgent message. Records what it saw."""

    def __init__(self, *, frame_secs: float = 0.02, rate: int = OUT_RATE) -> None:
        super().__init__(name="ScriptedBot")
        self.frame_secs = frame_secs
        self.rate = rate
        self.audio_in = 0
        self.messages: list[object] = []
        self.upstream: list[Frame] = []
        self.said = 0
        # Set by ``{"hold_end": true}``: like a TTS still speaking a reply, the bot's stop()
        # waits (up to 30 s) until an interruption cuts that reply.
        self.holding: asyncio.Event | None = None

    async def stop(self, frame: EndFrame) -> None:
        if self.holding is not None:
            await wait_bounded(self.holding.wait(), 30.0)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InterruptionFrame) and self.holding is not None:
            self.holding.set()
        if direction is FrameDirection.UPSTREAM:
            self.upstream.append(frame)
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, InputAudioRawFrame):
            self.audio_in += len(frame.audio)
            return
        if isinstance(frame, InputTransportMessageFrame) and isinstance(frame.message, dict):
            message = frame.message
            self.messages.append(message)
            if "say" in message:
                await self.say(float(message["say"]))  # type: ignore[arg-type]
            elif message.get("interrupt"):
                await self.broadcast_interruption()
            elif message.get("end"):
                await self.push_frame(EndTaskFrame(reason="client asked"), FrameDirection.UPSTREAM)
            elif message.get("hold_end"):
                self.holding = asyncio.Event()
            elif message.get("hang"):
                await asyncio.sleep(3600)  # a stuck service: the EndFrame waits behind it
            elif "echo" in message:
                await self.push_frame(OutputTransportMessageUrgentFrame(message=message["echo"]))
            return
        await self.push_frame(frame, direction)

    async def say_later(self, secs: float) -> None:
        """Speak from outside the pipeline (as a test would drive a TTS)."""
        await self.say(secs)

    async def interrupt_later(self) -> None:
        """Barge in from outside the pipeline (as the VAD would)."""
        await self.broadcast_interruption()

    async def say(self, secs: float) -> None:
        self.said += 1
        pcm = tone(secs, self.rate)
        step = round(self.frame_secs * self.rate) * 2
        for i in range(0, len(pcm), step):
            await self.push_frame(
                TTSAudioRawFrame(audio=pcm[i : i + step], sample_rate=self.rate, num_channels=1)
            )
        await self.push_frame(TTSTextFrame(text=f"sentence {self.said}"))


class Tail(FrameProcessor):
    """After the output: records what left it (released text, speaking frames)."""

    def __init__(self) -> None:
        super().__init__(name="Tail")
        self.frames: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM:
            self.frames.append(frame)
        await self.push_frame(frame, direction)

    def count(self, kind: type[Frame]) -> int:
        return sum(isinstance(f, kind) for f in self.frames)

    def texts(self) -> list[str]:
        return [f.text for f in self.frames if isinstance(f, TTSTextFrame)]


@dataclass
class Session:
    """One server-side call, as the tests see it."""

    transport: WebSocketTransport
    task: PipelineTask
    bot: ScriptedBot
    tail: Tail
    events: list[str] = field(default_factory=list)
    errors: list[ErrorFrame] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def speaking_changes(self) -> list[str]:
        return [
            "started" if isinstance(f, BotStartedSpeakingFrame) else "stopped"
            for f in self.tail.frames
            if isinstance(f, BotStartedSpeakingFrame | BotStoppedSpeakingFrame)
        ]


class Sessions:
    """Builds a session per connection and runs it to the end."""

    def __init__(
        self,
        params: WebSocketParams | None = None,
        *,
        clock_factory: Callable[[], Clock] | None = None,
        serializer_factory: Callable[[], FrameSerializer] = PCMJSONSerializer,
        customize: Callable[[Session], Awaitable[None] | None] | None = None,
        ravi: bool = False,
    ) -> None:
        self.ravi = ravi
        self.params = params or WebSocketParams(audio_out_sample_rate=OUT_RATE)
        self.clock_factory = clock_factory
        self.serializer_factory = serializer_factory
        self.customize = customize
        self.all: list[Session] = []
        self.arrived = asyncio.Event()

    async def serve(self, connection: WebSocketConnection | object) -> None:
        clock = self.clock_factory() if self.clock_factory else None
        transport = WebSocketTransport(
            connection,  # type: ignore[arg-type]
            self.serializer_factory(),
            self.params,
            clock=clock,
        )
        bot, tail = ScriptedBot(), Tail()
        middle: list[FrameProcessor] = [bot]
        observers = []
        if self.ravi:
            from vani.ravi import RAVIObserver, RAVIProcessor

            ravi = RAVIProcessor(transport=transport)
            middle = [ravi, bot]
            observers.append(RAVIObserver(ravi))
        task = PipelineTask(
            Pipeline([transport.input(), *middle, transport.output(), tail]),
            idle_timeout_secs=None,
            observers=observers,
        )
        session = Session(transport, task, bot, tail)

        @transport.event_handler("on_client_connected")
        async def connected(_t: WebSocketTransport, _c: WebSocketConnection) -> None:
            session.events.append("connected")

        @transport.event_handler("on_client_disconnected")
        async def disconnected(_t: WebSocketTransport, _c: WebSocketConnection) -> None:
            session.events.append("disconnected")

        @transport.event_handler("on_session_timeout")
        async def timed_out(_t: WebSocketTransport, _c: WebSocketConnection) -> None:
            session.events.append("timeout")

        @task.event_handler("on_error")
        async def on_error(_task: PipelineTask, frame: ErrorFrame) -> None:
            session.errors.append(frame)

        if self.customize is not None:
            result = self.customize(session)
            if result is not None:
                await result
        self.all.append(session)
        self.arrived.set()
        try:
            await PipelineRunner(handle_sigint=False).run(task)
        finally:
            session.events.append("finished")
            session.done.set()

    async def next(self, index: int = 0, timeout: float = 10.0) -> Session:
        async def wait() -> Session:
            while len(self.all) <= index:
                self.arrived.clear()
                await self.arrived.wait()
            return self.all[index]

        return await asyncio.wait_for(wait(), timeout)


@contextlib.asynccontextmanager
async def websockets_server(
    sessions: Sessions, *, sndbuf: int | None = None, **overrides: object
) -> AsyncIterator[str]:
    """A ``websockets`` server on 127.0.0.1 that runs each connection as a session."""
    from websockets.asyncio.server import ServerConnection, serve

    from vani.transports.websocket import WebsocketsConnection, websockets_serve_kwargs

    async def handler(ws: ServerConnection) -> None:
        await sessions.serve(WebsocketsConnection(ws))

    kwargs: dict[str, object] = {**websockets_serve_kwargs(sessions.params), **overrides}
    if sndbuf is not None:
        # Accepted sockets inherit the listening socket's buffer size (a small one makes a
        # client that stops reading show up quickly).
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        listener.bind(("127.0.0.1", 0))
        kwargs["sock"] = listener
        where: tuple[str | None, int | None] = (None, None)
    else:
        where = ("127.0.0.1", 0)
    async with serve(handler, *where, **kwargs) as server:  # type: ignore[arg-type]
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def uvicorn_server(
    app: object, *, sndbuf: int | None = None, **config: object
) -> AsyncIterator[int]:
    """Runs an ASGI app with uvicorn on 127.0.0.1 in this event loop; yields its port."""
    import uvicorn

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if sndbuf is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    listener.bind(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,  # type: ignore[arg-type]
            log_level="warning",
            lifespan="off",
            **config,  # type: ignore[arg-type]
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]), name="uvicorn")
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.01)
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)
        listener.close()


@contextlib.asynccontextmanager
async def starlette_server(
    sessions: Sessions, *, sndbuf: int | None = None, **overrides: object
) -> AsyncIterator[str]:
    """A Starlette app under uvicorn on 127.0.0.1 that runs each connection as a session."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    from vani.transports.websocket import StarletteConnection, uvicorn_ws_kwargs

    async def endpoint(websocket: WebSocket) -> None:
        await sessions.serve(StarletteConnection(websocket))

    app = Starlette(routes=[WebSocketRoute("/ws", endpoint)])
    config: dict[str, object] = {**uvicorn_ws_kwargs(sessions.params), **overrides}
    async with uvicorn_server(app, sndbuf=sndbuf, **config) as port:
        yield f"ws://127.0.0.1:{port}/ws"


STACKS = {"websockets": websockets_server, "starlette": starlette_server}


class ManualClock(Clock):
    """A clock the test moves by hand with :meth:`advance`."""

    def __init__(self) -> None:
        self._now = 0.0
        self._timers: list[tuple[float, int, ClockHandle]] = []
        self._seq = itertools.count()
        self.started = False

    def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        for _, _, handle in self._timers:
            handle.cancel()
        self._timers.clear()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], object]) -> ClockHandle:
        handle = ClockHandle(callback)
        heapq.heappush(self._timers, (when, next(self._seq), handle))
        return handle

    def advance(self, secs: float) -> None:
        """Move time on by ``secs`` in one jump, firing every timer now due."""
        self._now += secs
        while self._timers and self._timers[0][0] <= self._now + 1e-9:
            _, _, handle = heapq.heappop(self._timers)
            handle._run()


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


class RawClient:
    """A WebSocket client on a plain blocking-free socket, for clients that misbehave: it does
    the opening handshake and sends masked text frames, and reads only when told to."""

    def __init__(self, url: str, *, rcvbuf: int | None = None) -> None:
        import base64
        import os

        hostport, _, path = url.split("//", 1)[1].partition("/")
        host, port = hostport.split(":")
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            response += self.sock.recv(1)  # byte by byte: leave any frame after it unread
        if not response.startswith(b"HTTP/1.1 101"):
            raise AssertionError(f"handshake refused: {response!r}")

    def send_text(self, text: str) -> None:
        import os

        payload = text.encode()
        n = len(payload)
        header = bytes([0x81])
        if n < 126:
            header += bytes([0x80 | n])
        else:
            header += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def close(self) -> None:
        self.sock.close()


class MemoryConnection(WebSocketConnection):
    """An in-memory WebSocket for edge cases a real socket cannot stage on cue: ``gate``
    holds every send until it is set (a network that stalls)."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self.sent: list[bytes | str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.closed_with: tuple[int, str] | None = None

    async def accept(self) -> None:
        return None

    async def recv(self) -> bytes | str:
        from vani.transports.websocket import ConnectionClosedError

        message = await self.inbox.get()
        if message is None:
            raise ConnectionClosedError(1000, "bye")
        return message

    async def send(self, message: bytes | str) -> None:
        await self.gate.wait()
        self.sent.append(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed_with = (code, reason)
        self.inbox.put_nowait(None)

    @property
    def path(self) -> str:
        return "/ws"

    @property
    def query_params(self) -> dict[str, str]:
        return {}

    @property
    def headers(self) -> dict[str, str]:
        return {}

    @property
    def remote_address(self) -> tuple[str, int] | None:
        return None
