"""A call's client side for the tests: a real ``websockets`` client speaking Pipecat's protobuf
framing (as the browser client does) or raw PCM + RTVI JSON text, recording everything the bot
sends with the time it arrived on the client's clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from vani.serializers.protobuf import _FrameMessage

FIXTURES = Path(__file__).parents[1] / "fixtures" / "speech"
FRAME_SECS = 0.02


def speech_16k() -> tuple[bytes, list[dict[str, Any]]]:
    """The speech fixture (16 kHz mono s16le) and its segments (text, start, end)."""
    with wave.open(str(FIXTURES / "speech_16k.wav"), "rb") as wav:
        pcm = wav.readframes(wav.getnframes())
    meta = json.loads((FIXTURES / "speech_16k.json").read_text())
    return pcm, meta["segments"]


def segment(pcm: bytes, start: float, end: float, rate: int = 16000) -> bytes:
    return pcm[round(start * rate) * 2 : round(end * rate) * 2]


@dataclass
class CallClient:
    ws: ClientConnection
    fmt: str = "protobuf"
    t0: float = field(default_factory=time.monotonic)
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    audio: list[tuple[float, int, int]] = field(default_factory=list)  # (time, bytes, rate)
    pcm: bytearray = field(default_factory=bytearray)
    other: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, fmt: str = "protobuf", **kwargs: Any) -> CallClient:
        ws = await connect(url, max_size=None, compression=None, **kwargs)
        client = cls(ws, fmt)
        client._reader = asyncio.create_task(client._read())
        return client

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                now = time.monotonic() - self.t0
                if self.fmt == "protobuf":
                    assert isinstance(data, bytes), "protobuf framing is binary only"
                    self._on_protobuf(now, data)
                elif isinstance(data, bytes):
                    self.audio.append((now, len(data), 0))
                    self.pcm += data
                else:
                    self.messages.append((now, json.loads(data)))
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self._changed.set()

    def _on_protobuf(self, now: float, data: bytes) -> None:
        frame: Any = _FrameMessage.FromString(data)
        kind = frame.WhichOneof("frame")
        if kind == "audio":
            self.audio.append((now, len(frame.audio.audio), frame.audio.sample_rate))
            self.pcm += frame.audio.audio
        elif kind == "message":
            self.messages.append((now, json.loads(frame.message.data)))
        else:
            self.other.append(kind)

    # -- sending ---------------------------------------------------------------------------

    async def send_message(self, message: dict[str, Any]) -> None:
        if self.fmt == "protobuf":
            frame: Any = _FrameMessage()
            frame.message.data = json.dumps(message)
            await self.ws.send(frame.SerializeToString())
        else:
            await self.ws.send(json.dumps(message))

    async def send_rtvi(self, kind: str, data: Any = None) -> str:
        ident = uuid.uuid4().hex[:8]
        await self.send_message({"label": "rtvi-ai", "type": kind, "id": ident, "data": data})
        return ident

    async def client_ready(self, version: str = "2.2.0") -> str:
        return await self.send_rtvi(
            "client-ready",
            {"version": version, "about": {"library": "vani-tests", "library_version": "0"}},
        )

    async def send_audio(self, pcm: bytes, rate: int = 16000) -> None:
        if self.fmt == "protobuf":
            frame: Any = _FrameMessage()
            frame.audio.audio = pcm
            frame.audio.sample_rate = rate
            frame.audio.num_channels = 1
            await self.ws.send(frame.SerializeToString())
        else:
            await self.ws.send(pcm)

    async def stream(
        self, pcm: bytes, rate: int = 16000, *, until: asyncio.Event | None = None
    ) -> None:
        """Send ``pcm`` in 20 ms frames in real time (stops early when ``until`` is set)."""
        step = round(rate * FRAME_SECS) * 2
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for i in range(0, len(pcm) - step + 1, step):
            if until is not None and until.is_set():
                return
            await self.send_audio(pcm[i : i + step], rate)
            next_at += FRAME_SECS
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def silence(self, secs: float, rate: int = 16000) -> None:
        await self.stream(b"\x00" * (round(rate * secs) * 2), rate)

    def microphone(self, rate: int = 16000) -> Microphone:
        """A live microphone: sends 20 ms frames in real time, silence unless told to say
        something (:meth:`Microphone.say`)."""
        return Microphone(self, rate)

    # -- reading ---------------------------------------------------------------------------

    def types(self) -> list[str]:
        return [str(m.get("type")) for _, m in self.messages]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("type") == kind]

    def time_of(self, kind: str, nth: int = 0) -> float:
        return [t for t, m in self.messages if m.get("type") == kind][nth]

    async def wait_for(self, kind: str, count: int = 1, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while len(self.of_type(kind)) < count:
            if self._reader is not None and self._reader.done():
                raise AssertionError(f"closed before {count} {kind}; got {self.types()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {count} x {kind} in {timeout} s; got {self.types()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.of_type(kind)[count - 1]

    def said(self) -> str:
        """Everything the bot has said so far (its ``bot-output`` texts)."""
        return " ".join(str(m["data"]["text"]) for m in self.of_type("bot-output"))

    async def wait_until_said(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.said():
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot never said {text!r}; it said {self.said()!r}")
            await asyncio.sleep(0.05)

    async def wait_quiet(self, secs: float, timeout: float = 60.0) -> None:
        """Until no bot audio has arrived for ``secs`` (the bot finished its answer)."""
        deadline = time.monotonic() + timeout
        while True:
            last = self.audio[-1][0] if self.audio else 0.0
            if time.monotonic() - self.t0 - last >= secs:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot kept talking for {timeout} s")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader

    @property
    def close_code(self) -> int | None:
        return self.ws.close_code


class Microphone:
    """Real-time 20 ms frames to the bot: queued speech, else silence, with no gap between."""

    def __init__(self, client: CallClient, rate: int) -> None:
        self._client = client
        self._rate = rate
        self._step = round(rate * FRAME_SECS) * 2
        self._speech = bytearray()
        self._drained = asyncio.Event()
        self._drained.set()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        silence = b"\x00" * self._step
        try:
            while True:
                if self._speech:
                    chunk = bytes(self._speech[: self._step]).ljust(self._step, b"\x00")
                    del self._speech[: self._step]
                    if not self._speech:
                        self._drained.set()
                else:
                    chunk = silence
                await self._client.send_audio(chunk, self._rate)
                next_at += FRAME_SECS
                await asyncio.sleep(max(0.0, next_at - loop.time()))
        except ConnectionClosed:
            self._drained.set()

    async def say(self, pcm: bytes) -> None:
        """Speak ``pcm`` (after anything already queued); returns once it was all sent."""
        self._speech += pcm
        self._drained.clear()
        await self._drained.wait()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
