"""Random interleavings of client messages, audio, interruptions and disconnects (Hypothesis):
every session ends, once, with nothing left running and the bot's speaking states well formed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from ws_support import OUT_RATE, Sessions, tone

from vani.frames import BotStartedSpeakingFrame, BotStoppedSpeakingFrame
from vani.transports.websocket import WebSocketParams

ACTIONS = st.one_of(
    st.tuples(st.just("audio"), st.sampled_from([8000, 16000, 44100, 48000])),
    st.tuples(st.just("say"), st.sampled_from([0.05, 0.2, 0.6])),
    st.tuples(st.just("interrupt"), st.none()),
    st.tuples(st.just("echo"), st.none()),
    st.tuples(st.just("bad"), st.sampled_from(["[]", "{", "x" * 3])),
    st.tuples(st.just("sleep"), st.sampled_from([0.0, 0.01, 0.05, 0.15])),
    st.tuples(st.just("server-interrupt"), st.none()),
)
ENDINGS = st.sampled_from(["close", "vanish", "end", "server-cancel", "timeout", "none"])


async def act(ws: ClientConnection, session: object, action: tuple[str, object]) -> None:
    kind, arg = action
    if kind == "audio":
        assert isinstance(arg, int)
        await ws.send(json.dumps({"rate": arg}))
        await ws.send(tone(0.02, arg))
    elif kind == "say":
        await ws.send(json.dumps({"say": arg}))
    elif kind == "interrupt":
        await ws.send(json.dumps({"interrupt": True}))
    elif kind == "echo":
        await ws.send(json.dumps({"echo": "x"}))
    elif kind == "bad":
        assert isinstance(arg, str)
        await ws.send(arg)
    elif kind == "sleep":
        assert isinstance(arg, float)
        await asyncio.sleep(arg)
    elif kind == "server-interrupt":
        await session.bot.interrupt_later()  # type: ignore[attr-defined]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(ACTIONS, max_size=12), ending=ENDINGS)
async def test_random_interleavings_never_leave_a_stuck_session(
    serve: Callable[..., Any], actions: list[tuple[str, object]], ending: str
) -> None:
    params = WebSocketParams(
        audio_out_sample_rate=OUT_RATE,
        session_timeout_secs=0.3 if ending == "timeout" else 30.0,
        end_timeout_secs=1.0,
    )
    sessions = Sessions(params)
    async with serve(sessions) as url:
        ws = await connect(url)
        session = await sessions.next()
        drain = asyncio.create_task(_drain(ws), name="test-drain")
        try:
            try:
                for action in actions:
                    await act(ws, session, action)
            except ConnectionClosed:
                assert ending == "timeout"  # the server closed first: nothing more to send
            if ending == "close":
                await ws.close()
            elif ending == "vanish":
                ws.transport.abort()
            elif ending == "end":
                await ws.send(json.dumps({"end": True}))
            elif ending == "server-cancel":
                await session.task.cancel("test")
            elif ending == "none":
                await ws.close()
            await asyncio.wait_for(session.done.wait(), 10)
        finally:
            ws.transport.abort()
            await ws.close()
            await asyncio.wait_for(drain, 5)
    assert session.events.count("connected") == 1
    assert session.events.count("disconnected") == 1
    assert session.events[-1] == "finished"
    assert session.transport.send_queue_bytes == 0
    # Speaking states alternate, never two stops in a row. A cancelled call stops at once and
    # may end while "speaking" (nothing runs after a CancelFrame); every other end says stopped.
    changes = session.speaking_changes
    pairs = len(changes) // 2
    assert changes[: 2 * pairs] == ["started", "stopped"] * pairs, changes
    if ending != "server-cancel":
        assert len(changes) == 2 * pairs, changes
    starts = session.tail.count(BotStartedSpeakingFrame)
    assert starts - 1 <= session.tail.count(BotStoppedSpeakingFrame) <= starts
    left = [t for t in asyncio.all_tasks() if "WebSocketTransport" in t.get_name()]
    assert not left, left


async def _drain(ws: ClientConnection) -> None:
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass
