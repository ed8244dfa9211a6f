"""Output pacing on a clock the test moves by hand, checked from a real client's socket: send-ahead
bound, no burst after a stall, no drift when the resampler returns nothing, speaking frames from
the pacing clock, urgent messages ahead of audio, interruption."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from ws_support import (
    OUT_RATE,
    ManualClock,
    MemoryConnection,
    Session,
    Sessions,
    settle,
    websockets_server,
)

from vani.frames import BotStartedSpeakingFrame, BotStoppedSpeakingFrame
from vani.transports.websocket import WebSocketParams

SEND_AHEAD = 0.06
CHUNK = 0.04
BYTES_PER_SEC = OUT_RATE * 2


class Client:
    """Reads everything the server sends, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.audio = 0
        self.wire_bytes = 0
        self.log: list[tuple[str, object]] = []
        self.chunks: list[int] = []
        self._task = asyncio.create_task(self._read(), name="test-client")

    async def _read(self) -> None:
        async for data in self.ws:
            self.wire_bytes += len(data)
            if isinstance(data, bytes):
                self.audio += len(data)
                self.chunks.append(len(data))
                self.log.append(("audio", len(data)))
            else:
                self.log.append(("message", json.loads(data)))

    @property
    def audio_secs(self) -> float:
        return self.audio / BYTES_PER_SEC

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.wait_for(self._task, 5)


async def synced(session: Session, client: Client) -> None:
    """Wait until the client has read everything the server has written."""
    writer = session.transport._writer
    for _ in range(10000):
        await settle(5)
        if writer.queued_bytes == 0 and client.wire_bytes == writer.bytes_sent:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"client got {client.wire_bytes} bytes, server sent {writer.bytes_sent}")


@pytest.fixture
async def rig() -> AsyncIterator[tuple[ManualClock, Sessions, Client, Session]]:
    clock = ManualClock()
    params = WebSocketParams(audio_out_sample_rate=OUT_RATE, audio_out_send_ahead_secs=SEND_AHEAD)
    sessions = Sessions(params, clock_factory=lambda: clock)
    async with websockets_server(sessions) as url, connect(url) as ws:
        client = Client(ws)
        session = await sessions.next()
        yield clock, sessions, client, session
        await client.close()
        await asyncio.wait_for(session.done.wait(), 5)
    assert session.events.count("disconnected") == 1


async def step_to(clock: ManualClock, t: float, session: Session, client: Client) -> None:
    while clock.now() < t - 1e-9:
        clock.advance(min(0.01, t - clock.now()))
        await synced(session, client)


async def test_audio_runs_at_most_send_ahead_plus_a_chunk_ahead_and_never_bursts_after_a_stall(
    rig: tuple[ManualClock, Sessions, Client, Session],
) -> None:
    clock, _, client, session = rig
    await client.ws.send(json.dumps({"say": 2.0}))
    await synced(session, client)
    assert 0 < client.audio_secs <= SEND_AHEAD + CHUNK + 1e-6
    t = 0.0
    while t < 0.5:
        t = round(t + 0.01, 2)
        await step_to(clock, t, session, client)
        ahead = client.audio_secs - clock.now()
        assert SEND_AHEAD - 0.01 <= ahead <= SEND_AHEAD + CHUNK + 1e-6, (t, ahead)
    # The event loop stalls for 700 ms: the clock jumps. The client's buffer ran dry; the output
    # restarts the timeline at "now" and sends one send-ahead again, not the 700 ms it missed.
    before = client.audio_secs
    clock.advance(0.7)
    await synced(session, client)
    sent_after_stall = client.audio_secs - before
    assert sent_after_stall <= SEND_AHEAD + 2 * CHUNK + 1e-6, sent_after_stall
    for _ in range(30):
        clock.advance(0.01)
        await synced(session, client)
        ahead = client.audio_secs - clock.now()
        assert ahead <= SEND_AHEAD + CHUNK + 1e-6
    # Every chunk is a whole number of 10 ms units.
    assert all(n % (OUT_RATE // 100 * 2) == 0 for n in client.chunks)


async def test_no_drift_when_the_resampler_returns_nothing(
    rig: tuple[ManualClock, Sessions, Client, Session],
) -> None:
    clock, _, client, session = rig
    # 16 kHz TTS audio in 1 ms frames: the 16 -> 24 kHz resampler often returns nothing.
    session.bot.rate = 16000
    session.bot.frame_secs = 0.001
    await client.ws.send(json.dumps({"say": 1.0}))
    await synced(session, client)
    for t in range(1, 121):
        await step_to(clock, t / 100, session, client)
        ahead = client.audio_secs - clock.now()
        assert ahead <= SEND_AHEAD + CHUNK + 1e-6, (t, ahead)
    # All of it came out, at the pace of its own duration (less the filter's delay).
    assert client.audio_secs == pytest.approx(1.0, abs=0.02)


async def test_speaking_frames_follow_the_clients_playback(
    rig: tuple[ManualClock, Sessions, Client, Session],
) -> None:
    clock, _, client, session = rig
    await client.ws.send(json.dumps({"say": 0.2}))
    await synced(session, client)
    assert session.tail.count(BotStartedSpeakingFrame) == 1
    # All 200 ms are sent by t = 0.14 (send-ahead), but the bot still speaks until it has played.
    await step_to(clock, 0.19, session, client)
    assert client.audio_secs == pytest.approx(0.2)
    assert session.tail.count(BotStoppedSpeakingFrame) == 0
    assert session.tail.texts() == []  # the sentence's text waits for its audio to be heard
    await step_to(clock, 0.21, session, client)
    assert session.tail.count(BotStoppedSpeakingFrame) == 1
    assert session.tail.texts() == ["sentence 1"]


async def test_urgent_messages_overtake_queued_audio(
    rig: tuple[ManualClock, Sessions, Client, Session],
) -> None:
    clock, _, client, session = rig
    await client.ws.send(json.dumps({"say": 3.0}))
    await synced(session, client)
    await client.ws.send(json.dumps({"echo": "urgent"}))
    await synced(session, client)
    kinds = [kind for kind, _ in client.log]
    assert kinds[-1] == "message" and client.log[-1][1] == {"message": "urgent"}
    assert client.audio_secs <= SEND_AHEAD + CHUNK + 1e-6  # it did not wait for the 3 s


async def test_interruption_drops_queued_audio_tells_the_client_and_keeps_only_what_played(
    rig: tuple[ManualClock, Sessions, Client, Session],
) -> None:
    clock, _, client, session = rig
    await client.ws.send(json.dumps({"say": 0.3}))
    await client.ws.send(json.dumps({"say": 1.0}))
    await step_to(clock, 0.5, session, client)
    assert session.tail.texts() == ["sentence 1"]  # the first sentence was heard
    await client.ws.send(json.dumps({"interrupt": True}))
    await synced(session, client)
    sent_at_interrupt = client.audio_secs
    assert ("message", {"interrupt": True}) in client.log
    for _ in range(150):
        clock.advance(0.01)
        await synced(session, client)
    assert client.audio_secs == sent_at_interrupt  # nothing of the cut sentence after that
    assert session.tail.texts() == ["sentence 1"]  # the cut sentence is not counted as heard
    assert session.speaking_changes == ["started", "stopped"]


async def test_an_interruption_drops_audio_stuck_behind_a_slow_network() -> None:
    clock = ManualClock()
    params = WebSocketParams(audio_out_sample_rate=OUT_RATE, audio_out_send_ahead_secs=SEND_AHEAD)
    sessions = Sessions(params, clock_factory=lambda: clock)
    conn = MemoryConnection()
    serving = asyncio.create_task(sessions.serve(conn))
    session = await sessions.next()
    conn.gate.clear()  # the network stalls: nothing leaves the writer
    await conn.inbox.put(json.dumps({"say": 0.5}))
    for _ in range(80):  # by the pacing clock all of it has played by t = 0.8
        clock.advance(0.01)
        await settle(10)
    assert session.transport.send_queue_bytes > 0
    assert not session.transport.output().bot_speaking
    await session.bot.interrupt_later()
    assert session.transport.send_queue_bytes < 100  # only the interruption message is left
    conn.gate.set()
    await settle(20)
    first_interrupt = conn.sent.index(json.dumps({"interrupt": True}))
    assert all(isinstance(m, str) for m in conn.sent[first_interrupt:])
    assert sum(len(m) for m in conn.sent if isinstance(m, bytes)) < 0.5 * BYTES_PER_SEC
    await conn.inbox.put(None)  # the client leaves
    await asyncio.wait_for(serving, 10)
    assert session.events == ["connected", "disconnected", "finished"]


async def test_audio_after_a_sentences_text_keeps_flowing_while_the_text_waits_for_playback(
    rig: tuple[ManualClock, Sessions, Client, Session],
) -> None:
    # Two sentences back to back: audio, its TTSTextFrame, audio, its TTSTextFrame. The first
    # text may leave only when its audio has played (0.3 s), but the second sentence's audio
    # must not wait behind it, or the client's buffer runs dry at every sentence (a gap).
    clock, _, client, session = rig
    await client.ws.send(json.dumps({"say": 0.3}))
    await client.ws.send(json.dumps({"say": 0.3}))
    await synced(session, client)
    t = 0.0
    released_at: float | None = None
    while t < 0.5:  # 0.6 s of audio in all: the buffer may drain only at the very end
        t = round(t + 0.01, 2)
        await step_to(clock, t, session, client)
        ahead = client.audio_secs - clock.now()
        assert ahead >= SEND_AHEAD - 0.01 - 1e-9, (t, ahead)  # never runs dry at the boundary
        if released_at is None and session.tail.texts():
            released_at = clock.now()
    assert released_at is not None and 0.3 - 1e-6 <= released_at <= 0.31 + 1e-6, released_at
    assert session.tail.texts()[:1] == ["sentence 1"]


async def test_the_writer_takes_its_lanes_in_turn_so_neither_waits_behind_the_other() -> None:
    from types import SimpleNamespace

    from vani.transports.websocket.transport import _Writer

    sent: list[bytes | str] = []

    class Connection:
        async def send(self, message: bytes | str) -> None:
            sent.append(message)

        def send_nowait(self, message: bytes | str) -> bool:
            return False  # every message through the writer's lanes

    params = SimpleNamespace(send_timeout_secs=1.0, max_send_queue_bytes=1 << 20)
    owner = SimpleNamespace(connection=Connection(), params=params)
    writer = _Writer(owner)  # type: ignore[arg-type]
    for i in range(5):  # the burst of events that comes with a reply's first audio
        writer.put(f"event {i}", urgent=True)
    writer.put(b"audio 0", urgent=False)
    writer.put(b"audio 1", urgent=False)
    task = asyncio.create_task(writer.run())
    await writer.flush(1.0)
    writer.close()
    await task
    assert sent == [b"audio 0", "event 0", b"audio 1", "event 1", "event 2", "event 3", "event 4"]


@pytest.mark.parametrize(
    ("send_secs", "lost"),
    [pytest.param(0.04, False, id="slow"), pytest.param(60, True, id="stuck")],
)
async def test_each_send_is_bounded_by_the_send_timeout_not_the_sum_of_them(
    send_secs: float, lost: bool
) -> None:
    from types import SimpleNamespace

    from vani.transports.websocket.transport import _Writer

    sent: list[bytes | str] = []
    losses: list[tuple[int | None, str]] = []

    class Connection:
        async def send(self, message: bytes | str) -> None:
            await asyncio.sleep(send_secs)
            sent.append(message)

        def send_nowait(self, message: bytes | str) -> bool:
            return False  # a slow socket: the library would have to wait

    params = SimpleNamespace(send_timeout_secs=0.1, max_send_queue_bytes=1 << 20)
    owner = SimpleNamespace(
        connection=Connection(),
        params=params,
        _lose=lambda code, reason, **_: losses.append((code, reason)),
    )
    writer = _Writer(owner)  # type: ignore[arg-type]
    for i in range(6):  # 0.24 s of sends in all when slow: over the timeout, each under it
        writer.put(b"audio %d" % i, urgent=False)
    task = asyncio.create_task(writer.run())
    await asyncio.wait_for(asyncio.shield(writer.flush(2.0)), 3)
    if not lost:
        assert len(sent) == 6 and losses == []
        writer.close()
    await asyncio.wait_for(task, 2)  # ends by itself: never left cancelled or hanging
    if lost:
        assert sent == [] and losses == [(1008, "client is not reading: a send took over 0.1 s")]
        assert not task.cancelled()


async def test_audio_finding_the_writer_idle_goes_out_from_the_callers_task() -> None:
    from types import SimpleNamespace

    from vani.transports.websocket.connection import CLOSE_INTERNAL_ERROR
    from vani.transports.websocket.transport import _Writer

    sent: list[tuple[str, bytes | str]] = []
    losses: list[tuple[int | None, str]] = []

    class Connection:
        can_send_now = True
        broken = False

        async def send(self, message: bytes | str) -> None:
            sent.append(("writer", message))

        def send_nowait(self, message: bytes | str) -> bool:
            if self.broken:
                raise RuntimeError("the socket library failed")
            if self.can_send_now:
                sent.append(("now", message))
            return self.can_send_now

    conn = Connection()
    params = SimpleNamespace(send_timeout_secs=1.0, max_send_queue_bytes=1 << 20)
    owner = SimpleNamespace(
        connection=conn,
        params=params,
        _lose=lambda code, reason, **_: losses.append((code, reason)),
    )
    writer = _Writer(owner)  # type: ignore[arg-type]
    # No writer task yet: an idle writer hands audio over at once.
    writer.put(b"audio 0", urgent=False)
    assert sent == [("now", b"audio 0")]
    assert (writer.messages_sent, writer.bytes_sent, writer.queued_bytes) == (1, 7, 0)
    # Messages keep the writer's lane, so a burst of them leaves back to back.
    writer.put("event 0", urgent=True)
    assert writer.queued_bytes == len("event 0")
    # Audio behind a queued message waits its turn: the order holds.
    writer.put(b"audio 1", urgent=False)
    # The connection cannot send now (its buffer is full): audio waits in its lane even
    # with the writer idle.
    task = asyncio.create_task(writer.run())
    await writer.flush(1.0)
    conn.can_send_now = False
    writer.put(b"audio 2", urgent=False)
    await writer.flush(1.0)
    assert sent[1:] == [("writer", b"audio 1"), ("writer", "event 0"), ("writer", b"audio 2")]
    # Idle again and the socket ready: straight out.
    conn.can_send_now = True
    writer.put(b"audio 3", urgent=False)
    assert sent[-1] == ("now", b"audio 3")
    assert writer.messages_sent == 5
    # A library that fails mid-send ends the call, as a failing send in the writer does.
    conn.broken = True
    writer.put(b"audio 4", urgent=False)
    assert losses == [(CLOSE_INTERNAL_ERROR, "send failed: the socket library failed")]
    writer.close()
    await task
