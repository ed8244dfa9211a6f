"""How a WebSocket call ends: the client vanishes, stops reading, sends too much, overstays, or
never answers the close; each ends the session once, cleanly (the autouse no_leaks fixture fails
any test that leaves a task behind)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from ws_support import (
    OUT_RATE,
    ManualClock,
    RawClient,
    Session,
    Sessions,
    settle,
    websockets_server,
)

from vani.frames import BotStoppedSpeakingFrame, CancelFrame, EndFrame
from vani.pipeline import PipelineTask
from vani.transports.websocket import WebSocketConnection, WebSocketParams, WebSocketTransport


async def read_until_closed(ws: ClientConnection) -> None:
    """Read (and drop) messages until the server closes the connection."""
    with pytest.raises(ConnectionClosed):  # noqa: PT012 - the loop ends only by raising
        while True:
            await asyncio.wait_for(ws.recv(), 5)


def ended_once(session: Session) -> None:
    assert session.events.count("connected") == 1
    assert session.events.count("disconnected") == 1
    assert session.events[-1] == "finished"
    assert session.task.finished
    assert session.transport.closing
    assert session.transport.send_queue_bytes == 0
    assert session.tail.count(BotStoppedSpeakingFrame) <= 1


async def vanish_mid_reply(serve: Callable[..., Any], *messages: object) -> Session:
    """One call: the client sends ``messages``, then a 5 s reply starts and the client's TCP
    connection drops (no close frame) after its first two messages. Returns the ended session."""
    sessions = Sessions()
    async with serve(sessions) as url:
        ws = await connect(url)
        session = await sessions.next()
        for message in (*messages, {"say": 5.0}):
            await ws.send(json.dumps(message))
        await ws.recv()
        await ws.recv()
        ws.transport.abort()
        await asyncio.wait_for(session.done.wait(), 10)
        await ws.close()
    ended_once(session)
    return session


async def test_a_client_that_vanishes_mid_sentence_ends_the_session_cleanly(
    serve: Callable[..., Any],
) -> None:
    session = await vanish_mid_reply(serve)
    # The client never sent a close frame (uvicorn reports that as 1005, "no status").
    assert session.transport.close_code in (None, 1005)
    assert session.tail.count(EndFrame) == 1  # ended gracefully, not cancelled
    assert session.speaking_changes == ["started", "stopped"]
    assert session.tail.texts() == []  # the unheard sentence never reached the context


async def test_a_reply_nobody_can_hear_is_cut_so_the_end_stays_graceful(
    serve: Callable[..., Any],
) -> None:
    # The bot is mid-reply and, like a TTS, its stop() would wait for the reply to be spoken
    # (30 s here, longer than the transport's 2 s end timeout). The client is gone, so the
    # reply is interrupted first: the end stays graceful instead of timing out into a cancel.
    session = await vanish_mid_reply(serve, {"hold_end": True})
    assert session.bot.holding is not None and session.bot.holding.is_set()
    assert session.tail.count(EndFrame) == 1
    assert session.tail.count(CancelFrame) == 0


async def test_a_disconnect_handler_that_cancels_the_task_still_fires_once(
    serve: Callable[..., Any],
) -> None:
    async def cancel_on_disconnect(session: Session) -> None:
        @session.transport.event_handler("on_client_disconnected")
        async def cancel(_t: WebSocketTransport, _c: WebSocketConnection) -> None:
            await session.task.cancel("client left")

    sessions = Sessions(customize=cancel_on_disconnect)
    async with serve(sessions) as url:
        async with connect(url) as ws:
            session = await sessions.next()
            await ws.send(json.dumps({"say": 5.0}))
            await ws.recv()
        await asyncio.wait_for(session.done.wait(), 10)
    ended_once(session)
    assert session.tail.count(CancelFrame) == 1


async def test_a_client_that_stops_reading_is_disconnected(serve: Callable[..., Any]) -> None:
    params = WebSocketParams(
        audio_out_sample_rate=OUT_RATE,
        send_timeout_secs=0.3,
        write_buffer_bytes=4096,
        max_send_queue_bytes=64 * 1024,
    )

    sessions = Sessions(params)
    async with serve(sessions, sndbuf=4096) as url:
        client = await asyncio.to_thread(RawClient, url, rcvbuf=4096)
        session = await sessions.next()
        client.send_text(json.dumps({"say": 60.0}))  # then it never reads again
        high_water = 0
        for _ in range(3000):  # the session must end long before 60 s of audio has played
            if session.done.is_set():
                break
            high_water = max(high_water, session.transport.send_queue_bytes)
            await asyncio.sleep(0.01)
        client.close()
        await asyncio.wait_for(session.done.wait(), 5)
    assert high_water <= params.max_send_queue_bytes
    ended_once(session)
    assert session.transport.close_code == 1008
    assert "not reading" in session.transport.close_reason


async def test_an_oversized_message_closes_with_1009_and_ends_cleanly(
    serve: Callable[..., Any],
) -> None:
    sessions = Sessions()  # max_message_size 1 MiB, applied to the server
    async with serve(sessions) as url:
        async with connect(url, max_size=None) as ws:
            session = await sessions.next()
            await ws.send(bytes(2 << 20))
            await read_until_closed(ws)
            assert ws.close_code == 1009
        await asyncio.wait_for(session.done.wait(), 10)
    ended_once(session)


async def test_the_session_timeout_really_ends_the_session(serve: Callable[..., Any]) -> None:
    clock = ManualClock()
    params = WebSocketParams(audio_out_sample_rate=OUT_RATE, session_timeout_secs=5.0)
    sessions = Sessions(params, clock_factory=lambda: clock)
    async with serve(sessions) as url, connect(url) as ws:
        session = await sessions.next()
        await ws.send(json.dumps({"say": 10.0}))
        await ws.recv()
        clock.advance(4.9)
        await settle()
        assert not session.transport.closing
        clock.advance(0.2)
        await read_until_closed(ws)
        assert ws.close_code == 1000 and ws.close_reason == "session timeout"
        await asyncio.wait_for(session.done.wait(), 10)
    ended_once(session)
    assert session.events[:3] == ["connected", "timeout", "disconnected"]


async def test_the_close_handshake_is_bounded_when_the_client_never_answers(
    serve: Callable[..., Any],
) -> None:
    sessions = Sessions()
    # The library's own close timeout is long: only the transport's 0.5 s bound can end it.
    library = {"close_timeout": 30} if serve is websockets_server else {}
    async with serve(sessions, **library) as url:
        ws = await connect(url, close_timeout=30)
        session = await sessions.next()
        ws.transport.pause_reading()  # never sees, so never answers, the server's close frame
        await ws.send(json.dumps({"end": True}))
        # The library would wait 30 s for the client's answer: ending within 10 s means the
        # transport's own bound (close_timeout_secs, 0.5 s) cut the handshake short.
        await asyncio.wait_for(session.done.wait(), 10)
        ws.transport.abort()
        await ws.close()
    ended_once(session)


async def test_a_start_failure_in_a_live_session_ends_it_with_an_error(
    serve: Callable[..., Any],
) -> None:
    class Broken(Exception):
        pass

    async def break_start(session: Session) -> None:
        async def start(_frame: object) -> None:
            raise Broken("no model")

        session.bot.start = start  # type: ignore[method-assign,assignment]

    sessions = Sessions(customize=break_start)
    async with serve(sessions) as url, connect(url) as ws:
        session = await sessions.next()
        await read_until_closed(ws)
        await asyncio.wait_for(session.done.wait(), 10)
    assert any(e.fatal and "no model" in e.error for e in session.errors)
    assert isinstance(session.task, PipelineTask) and session.task.finished
    assert session.events.count("disconnected") == session.events.count("connected")


async def test_a_pipeline_stuck_after_the_client_left_is_cancelled(
    serve: Callable[..., Any],
) -> None:
    params = WebSocketParams(audio_out_sample_rate=OUT_RATE, end_timeout_secs=0.3)
    sessions = Sessions(params)
    async with serve(sessions) as url:
        async with connect(url) as ws:
            session = await sessions.next()
            await ws.send(json.dumps({"hang": True}))
            await asyncio.sleep(0.05)
        await asyncio.wait_for(session.done.wait(), 10)
    ended_once(session)
    assert session.tail.count(CancelFrame) == 1  # the EndFrame could not get through


async def test_a_client_that_stops_answering_pings_is_dropped(serve: Callable[..., Any]) -> None:
    params = WebSocketParams(
        audio_out_sample_rate=OUT_RATE, ping_interval_secs=0.1, ping_timeout_secs=0.2
    )
    sessions = Sessions(params)
    async with serve(sessions) as url:
        ws = await connect(url, ping_interval=None)
        session = await sessions.next()
        ws.transport.pause_reading()  # a frozen client: it never reads, so it never pongs
        await asyncio.wait_for(session.done.wait(), 10)
        ws.transport.abort()
        await ws.close()
    ended_once(session)
