"""Rig for telephony transport tests: a ``websockets`` server whose calls run a scripted phone
bot behind :class:`~vani.transports.telephony.TelephonyTransport`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndTaskFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InputDTMFFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.serializers import TwilioFrameSerializer
from vani.transports.telephony import TelephonyParams, TelephonyTransport, read_call_start

RATE = 24000


def tone(secs: float, rate: int = RATE, freq: float = 440.0) -> bytes:
    t = np.arange(round(secs * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * 8000).astype("<i2").tobytes()


class PhoneBot(FrameProcessor):
    """Greets (one sentence) when the call connects; keys: ``1`` says three sentences of
    ``sentence_secs``, ``*`` interrupts, ``9`` ends the call. Records input audio and keys."""

    def __init__(self, sentence_secs: float = 0.4) -> None:
        super().__init__(name="PhoneBot")
        self.sentence_secs = sentence_secs
        self.audio_in = 0
        self.keys: list[str] = []
        self.said = 0
        self.count = 3  # sentences key 1 says

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, InputAudioRawFrame):
            self.audio_in += len(frame.audio)
            return
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, InputDTMFFrame):
            self.keys.append(frame.button)
            if frame.button == "1":
                for _ in range(self.count):
                    await self.say()
            elif frame.button == "*":
                await self.broadcast_interruption()
            elif frame.button == "9":
                await self.push_frame(EndTaskFrame(reason="bye"), FrameDirection.UPSTREAM)
            return
        await self.push_frame(frame, direction)

    async def say(self) -> None:
        self.said += 1
        pcm = tone(self.sentence_secs)
        step = round(0.02 * RATE) * 2
        for i in range(0, len(pcm), step):
            await self.push_frame(TTSAudioRawFrame(audio=pcm[i : i + step], sample_rate=RATE))
        await self.push_frame(TTSTextFrame(text=f"sentence {self.said}"))


class Tail(FrameProcessor):
    """After the output: what left it, with ``loop.time()`` stamps."""

    def __init__(self) -> None:
        super().__init__(name="Tail")
        self.frames: list[tuple[float, Frame]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM:
            self.frames.append((asyncio.get_running_loop().time(), frame))
        await self.push_frame(frame, direction)

    def texts(self) -> list[str]:
        return [f.text for _, f in self.frames if isinstance(f, TTSTextFrame)]

    def times(self, kind: type[Frame]) -> list[float]:
        return [t for t, f in self.frames if isinstance(f, kind)]

    def speaking(self) -> list[str]:
        return [
            "started" if isinstance(f, BotStartedSpeakingFrame) else "stopped"
            for _, f in self.frames
            if isinstance(f, BotStartedSpeakingFrame | BotStoppedSpeakingFrame)
        ]


@dataclass
class PhoneSession:
    transport: TelephonyTransport
    bot: PhoneBot
    tail: Tail
    done: asyncio.Event = field(default_factory=asyncio.Event)
    ended_at: float = 0.0


class PhoneServer:
    """Runs each media-stream connection as a call; ``provider=None`` detects it."""

    def __init__(
        self, params: TelephonyParams, *, greet: bool = True, pre_read: bool = True
    ) -> None:
        self.params = params
        self.greet = greet
        self.pre_read = pre_read
        self.sessions: list[PhoneSession] = []
        self.arrived = asyncio.Event()

    async def serve(self, ws: object) -> None:
        from vani.transports.websocket import WebsocketsConnection

        conn = WebsocketsConnection(ws)  # type: ignore[arg-type]
        if self.pre_read:
            serializer = await read_call_start(conn)
        else:  # the embedding case: the transport reads the start itself
            serializer = TwilioFrameSerializer()
        transport = TelephonyTransport(conn, serializer, self.params)
        bot, tail = PhoneBot(), Tail()
        task = PipelineTask(
            Pipeline([transport.input(), bot, transport.output(), tail]),
            idle_timeout_secs=None,
        )
        session = PhoneSession(transport, bot, tail)

        @transport.event_handler("on_client_connected")
        async def connected(_t: object, _c: object) -> None:
            if self.greet:
                await bot.say()

        self.sessions.append(session)
        self.arrived.set()
        try:
            await PipelineRunner(handle_sigint=False).run(task)
        finally:
            session.ended_at = asyncio.get_running_loop().time()
            session.done.set()

    async def next(self, index: int = 0) -> PhoneSession:
        async with asyncio.timeout(10):
            while len(self.sessions) <= index:
                self.arrived.clear()
                await self.arrived.wait()
        return self.sessions[index]


@contextlib.asynccontextmanager
async def phone_server(server: PhoneServer) -> AsyncIterator[str]:
    from websockets.asyncio.server import serve

    async with serve(server.serve, "127.0.0.1", 0, compression=None) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/telephony"
        ws_server.close()
        await ws_server.wait_closed()


async def until(predicate: object, timeout: float = 5.0) -> None:
    """Poll ``predicate()`` every 10 ms until it is true (TimeoutError after ``timeout``)."""
    assert callable(predicate)
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
