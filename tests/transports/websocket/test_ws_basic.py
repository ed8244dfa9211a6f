"""WebSocketTransport over a real ``websockets`` server and client on 127.0.0.1: audio both
ways, messages, the end of a call from either side, exactly-once connection events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from ws_support import OUT_RATE, PCMJSONSerializer, Sessions, tone, websockets_server

from vani.frames import BotStartedSpeakingFrame, BotStoppedSpeakingFrame
from vani.transports.websocket import WebSocketParams


async def read_until(
    ws: object, *, audio: int | None = None, message: object = None, timeout: float = 10.0
) -> tuple[int, list[object]]:
    """Read until ``audio`` bytes of audio or ``message`` arrived; audio bytes and messages."""
    got, messages = 0, []

    async def read() -> None:
        nonlocal got
        while (audio is not None and got < audio) or (
            message is not None and message not in messages
        ):
            data = await ws.recv()  # type: ignore[attr-defined]
            if isinstance(data, bytes):
                got += len(data)
            else:
                messages.append(json.loads(data))

    await asyncio.wait_for(read(), timeout)
    return got, messages


async def test_a_call_plays_audio_out_and_takes_audio_in_then_ends_on_request(
    serve: Callable[..., Any],
) -> None:
    sessions = Sessions(serializer_factory=lambda: PCMJSONSerializer(in_rate=48000))
    async with serve(sessions) as url, connect(url) as ws:
        session = await sessions.next()
        await ws.send(tone(0.2, 48000))  # 48 kHz in, resampled to the pipeline's 16 kHz
        await ws.send(json.dumps({"say": 0.3}))
        expected = round(0.3 * OUT_RATE) * 2  # 300 ms at 24 kHz, in whole 10 ms chunks
        audio, _ = await read_until(ws, audio=expected)
        assert audio == expected
        assert session.bot.audio_in > 0.15 * 16000 * 2
        await ws.send(json.dumps({"end": True}))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1000
        await asyncio.wait_for(session.done.wait(), 5)
    assert session.events == ["connected", "disconnected", "finished"]
    assert session.speaking_changes == ["started", "stopped"]
    assert session.tail.texts() == ["sentence 1"]


async def test_a_client_that_closes_ends_the_session_once(serve: Callable[..., Any]) -> None:
    sessions = Sessions()
    async with serve(sessions) as url:
        async with connect(url) as ws:
            session = await sessions.next()
            await ws.send(json.dumps({"say": 2.0}))
            await ws.recv()  # audio is flowing
        await asyncio.wait_for(session.done.wait(), 5)
    assert session.events == ["connected", "disconnected", "finished"]
    assert session.tail.count(BotStartedSpeakingFrame) == 1
    assert session.tail.count(BotStoppedSpeakingFrame) == 1


async def test_bad_messages_are_dropped_and_the_call_goes_on(serve: Callable[..., Any]) -> None:
    params = WebSocketParams(audio_out_sample_rate=OUT_RATE, max_message_size=1000)
    sessions = Sessions(params)
    library_limit = {"max_size": 10_000} if serve is websockets_server else {"ws_max_size": 10_000}
    async with serve(sessions, **library_limit) as url, connect(url) as ws:
        session = await sessions.next()
        await ws.send("not json")
        await ws.send("[1, 2]")
        await ws.send(bytes(3))  # odd byte count: not int16
        await ws.send(bytes(2000))  # over the transport's 1000 byte limit
        await ws.send(json.dumps({"echo": "still here"}))
        _, messages = await read_until(ws, message={"message": "still here"})
        assert messages == [{"message": "still here"}]
        assert session.transport.messages_dropped == 4
        await ws.send(json.dumps({"end": True}))
        await asyncio.wait_for(session.done.wait(), 5)
