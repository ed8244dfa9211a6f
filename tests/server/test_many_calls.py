"""Many calls at once through one server: each is its own pipeline, and however a call ends (the
client closes, or its TCP connection just vanishes) nothing of it stays behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from tests.server.client import CallClient
from tests.server.helpers import running_server, start_call
from vani.server import RunningServer, load_bot

ECHO_BOT = Path(__file__).parent / "bots" / "echo_bot.py"
CALLS = 20


async def one_call(running: RunningServer, n: int, vanish: bool) -> bytes:
    started = await start_call(running, {"body": {"n": n}})
    client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
    await client.client_ready()
    await client.wait_for("bot-ready")
    # Each caller sends its own tone, so a mixed-up call would show.
    tone = (np.full(320, 100 * (n + 1), dtype="<i2")).tobytes()
    for _ in range(25):  # 0.5 s
        await client.send_audio(tone)
        await asyncio.sleep(0.02)
    for _ in range(150):
        if len(client.pcm) >= len(tone) * 10:
            break
        await asyncio.sleep(0.02)
    if vanish:
        client.ws.transport.abort()  # no close frame: the peer is just gone
        assert client._reader is not None
        await client._reader
    else:
        await client.close()
    return bytes(client.pcm)


async def test_concurrent_calls_stay_apart_and_leave_nothing_behind() -> None:
    async with running_server(load_bot(ECHO_BOT), max_calls=CALLS) as running:
        server = running.server
        heard = await asyncio.gather(
            *(one_call(running, n, vanish=n % 2 == 1) for n in range(CALLS))
        )
        for _ in range(250):
            if server.admission.active == 0 and not server.bridge.tasks:
                break
            await asyncio.sleep(0.02)
        assert server.admission.active == 0
        assert server.admission.admitted == CALLS
        assert server.sessions == {}
        assert server.calls == {}
        assert server.open_sockets == 0
        assert not server.bridge.tasks
    for n, pcm in enumerate(heard):
        samples = np.frombuffer(pcm, dtype="<i2")
        assert len(samples) > 0, n
        # The echo came back resampled to 24 kHz: its level is the caller's own tone.
        steady = samples[len(samples) // 4 : -len(samples) // 4]
        assert abs(int(np.median(steady)) - 100 * (n + 1)) <= 2, (n, np.median(steady))
