"""``vani serve``'s demo bot with the offline engines (Silero, Whisper, the scripted pizza brain,
Piper), called over a real socket by a client that says the demo caller's four turns, barging
in on the menu — checked from the client's side."""

from __future__ import annotations

import asyncio
import json
import wave

import numpy as np
import pytest

from tests.server.client import CallClient
from tests.server.helpers import running_server, start_call
from vani.demo import demo_call_path
from vani.server.demo_bot import DemoBotOptions, make_demo_bot

pytest.importorskip("faster_whisper", reason="the offline engines need vani[local]")
pytest.importorskip("piper", reason="the offline engines need vani[local]")


def demo_turns() -> list[tuple[str, bytes]]:
    path = demo_call_path()
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    meta = json.loads(path.with_suffix(".json").read_text())
    return [
        (t["text"], pcm[round(t["start_secs"] * rate) * 2 : round(t["end_secs"] * rate) * 2])
        for t in meta["turns"]
    ]


@pytest.mark.slow  # real Whisper and Piper in real time: ~40 s
async def test_the_demo_bot_takes_an_order_over_a_live_socket() -> None:
    bot, engines = make_demo_bot(DemoBotOptions(offline=True))
    assert "offline" in engines
    turns = demo_turns()
    async with running_server(bot) as running:
        started = await start_call(running)
        client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
        mic = client.microphone()
        await client.client_ready()
        await client.wait_for("bot-ready")
        # 1: the greeting turn; the bot answers with the (long) menu.
        await mic.say(turns[0][1])
        await client.wait_for("bot-started-speaking", 1, timeout=60)
        # 2: the caller talks over the menu. Each later turn waits until the bot has said its
        # answer and gone quiet (a busy machine may pause Piper between clauses).
        await asyncio.sleep(1.0)
        await mic.say(turns[1][1])
        await client.wait_until_said("Anything to drink?")
        await client.wait_quiet(1.0)
        # 3 and 4: the drink, then the address; the bot places the order and confirms it.
        await mic.say(turns[2][1])
        await client.wait_until_said("What is the delivery address?")
        await client.wait_quiet(1.0)
        await mic.say(turns[3][1])
        await client.wait_for("llm-function-call-stopped", timeout=60)
        await client.wait_until_said("Thanks for calling Vani Pizza!")
        await mic.stop()
        await client.close()

    types = client.types()
    assert "error" not in types, [m for m in client.of_type("error")]
    finals = [m["data"]["text"] for m in client.of_type("user-input") if m["data"]["final"]]
    assert len(finals) == 4
    assert "pepperoni" in finals[1].lower()
    assert "park street" in finals[3].lower()
    # The barge-in: the bot was interrupted while it read the menu.
    t_menu = client.time_of("bot-started-speaking")
    assert any(
        m["type"] == "bot-interrupted" and t_menu < t < client.time_of("bot-started-speaking", 1)
        for t, m in client.messages
    )
    # The tool ran, and its result was spoken: the confirmation is in what the bot said.
    said = client.said()
    assert "One large pepperoni" in said
    assert "Your order A42 is placed" in said
    # Piper's voice at 24 kHz reached the client.
    assert {rate for _, _, rate in client.audio} == {24000}
    voice = np.frombuffer(bytes(client.pcm), dtype="<i2")
    assert len(voice) > 24000 * 5
    assert np.abs(voice).max() > 3000
