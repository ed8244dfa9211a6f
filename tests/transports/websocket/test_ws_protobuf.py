"""The transport with Pipecat's protobuf framing and RAVI, as a Pipecat client sees it: the
handshake, speaking states from playback, and a barge-in (protobuf interruption frame plus RTVI
``bot-interrupted``, no audio of the cut sentence after it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from ws_support import Sessions, tone

from vani.frames import (
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
)
from vani.serializers import ProtobufFrameSerializer

CODEC = ProtobufFrameSerializer()  # a client's side of the framing (same schema both ways)


def rtvi(type_: str, data: object = None, id_: str = "m1") -> bytes:
    message = {"label": "rtvi-ai", "type": type_, "id": id_, "data": data}
    wire = CODEC.serialize(OutputTransportMessageUrgentFrame(message=message))
    assert isinstance(wire, bytes)
    return wire


def app_message(payload: dict[str, object]) -> bytes:
    return rtvi("client-message", {"t": "test", "d": payload})


class ProtoClient:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.log: list[tuple[str, object]] = []
        self.audio = 0
        self._task = asyncio.create_task(self._read(), name="test-proto-client")

    async def _read(self) -> None:
        async for data in self.ws:
            assert isinstance(data, bytes)
            for frame in CODEC.deserialize(data):
                if isinstance(frame, InputAudioRawFrame):
                    self.audio += len(frame.audio)
                    self.log.append(("audio", len(frame.audio)))
                elif isinstance(frame, InterruptionFrame):
                    self.log.append(("interruption", None))
                elif isinstance(frame, InputTransportMessageFrame):
                    assert isinstance(frame.message, dict)
                    self.log.append(("rtvi", frame.message.get("type")))

    def types(self) -> list[object]:
        return [value for kind, value in self.log if kind == "rtvi"]

    async def wait_for(self, kind: str, value: object = None, timeout: float = 5.0) -> None:
        async def wait() -> None:
            while (kind, value) not in self.log:
                await asyncio.sleep(0.005)

        await asyncio.wait_for(wait(), timeout)

    async def finish(self) -> None:
        await self.ws.close()
        await asyncio.wait_for(self._task, 5)


async def test_barge_in_over_protobuf_tells_the_client_twice_and_cuts_the_audio(
    serve: Callable[..., Any],
) -> None:
    sessions = Sessions(serializer_factory=ProtobufFrameSerializer, ravi=True)
    async with serve(sessions) as url, connect(url) as ws:
        client = ProtoClient(ws)
        session = await sessions.next()
        await ws.send(rtvi("client-ready", {"version": "2.2.0", "about": {"library": "t"}}))
        await client.wait_for("rtvi", "bot-ready")
        mic = OutputAudioRawFrame(audio=tone(0.02, 16000), sample_rate=16000, num_channels=1)
        await ws.send(CODEC.serialize(mic))  # type: ignore[arg-type]
        # The bot speaks 3 s; the client hears some of it, then barges in.
        await session.bot.say_later(3.0)
        await client.wait_for("rtvi", "bot-started-speaking")
        while client.audio < 0.3 * 24000 * 2:
            await asyncio.sleep(0.01)
        await session.bot.interrupt_later()
        await client.wait_for("interruption")
        await client.wait_for("rtvi", "bot-interrupted")
        await client.wait_for("rtvi", "bot-stopped-speaking")
        cut_at = client.log.index(("interruption", None))
        heard = client.audio
        await asyncio.sleep(0.3)
        assert client.audio == heard  # nothing of the cut sentence after the interruption
        assert all(kind != "audio" for kind, _ in client.log[cut_at + 1 :])
        assert client.types().count("bot-started-speaking") == 1
        assert client.types().count("bot-stopped-speaking") == 1
        assert session.tail.texts() == []  # the cut sentence never counts as heard
        assert session.bot.audio_in > 0
        await client.finish()
        await asyncio.wait_for(session.done.wait(), 10)
    assert session.events == ["connected", "disconnected", "finished"]
    assert json.dumps(client.types())  # every message was valid RTVI JSON


async def test_raw_pcm_framing_with_stereo_48k_input_and_rtvi_text(
    serve: Callable[..., Any],
) -> None:
    import numpy as np

    from vani.serializers import RawPCMSerializer

    sessions = Sessions(
        serializer_factory=lambda: RawPCMSerializer(sample_rate=48000, num_channels=2),
        ravi=True,
    )
    async with serve(sessions) as url, connect(url) as ws:
        session = await sessions.next()
        ready = {"label": "rtvi-ai", "type": "client-ready", "id": "r1",
                 "data": {"version": "2.2.0", "about": {"library": "t"}}}  # fmt: skip
        await ws.send(json.dumps(ready))
        mono = np.frombuffer(tone(0.2, 48000), dtype="<i2")
        await ws.send(np.repeat(mono, 2).tobytes())  # interleaved stereo at 48 kHz
        await session.bot.say_later(0.2)
        audio, types = 0, []
        while "bot-stopped-speaking" not in types:
            data = await asyncio.wait_for(ws.recv(), 5)
            if isinstance(data, bytes):
                audio += len(data)
            else:
                types.append(json.loads(data)["type"])
        assert "bot-ready" in types and types.index("bot-started-speaking") < types.index(
            "bot-stopped-speaking"
        )
        assert audio == round(0.2 * 24000) * 2
        assert abs(session.bot.audio_in - 0.2 * 16000 * 2) < 0.03 * 16000 * 2  # mono, 16 kHz
