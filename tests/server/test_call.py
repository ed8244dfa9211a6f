"""A whole call over a real socket: examples/live_bot.py served by a real uvicorn, the Sarvam and
OpenAI fakes behind it, and a client that speaks, is answered (with a tool call), barges in and
is answered again — all checked from the client's side."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from tests.server.client import CallClient, segment, speech_16k
from tests.server.fakes import Fakes
from tests.server.helpers import running_server, start_call
from vani.server import RunningServer, load_bot

EXAMPLE = Path(__file__).parents[2] / "examples" / "live_bot.py"


async def talk(running: RunningServer, fmt: str) -> CallClient:
    """Client side of the call: ready, first question, barge-in during the answer, then the
    answer to the second turn."""
    started = await start_call(running, {"body": {"name": "Asha"}})
    query = f"token={started['token']}" + ("&format=raw&sample_rate=16000" if fmt == "raw" else "")
    client = await CallClient.open(f"{started['wsUrl']}?{query}", fmt)
    pcm, segments = speech_16k()
    first, second = segments
    await client.client_ready()
    await client.wait_for("bot-ready", timeout=10)
    await client.stream(segment(pcm, 0.0, first["end_secs"]))
    streaming = asyncio.create_task(client.silence(10.0))
    await client.wait_for("bot-started-speaking", timeout=20)
    streaming.cancel()
    await client.silence(0.3)  # let some of the answer play, then talk over it
    await client.stream(segment(pcm, second["start_secs"] - 0.2, second["end_secs"]))
    streaming = asyncio.create_task(client.silence(15.0))
    await client.wait_for("bot-started-speaking", count=2, timeout=20)
    await client.wait_until_said("see you at seven", timeout=20)
    await client.wait_for("bot-stopped-speaking", count=2, timeout=20)
    streaming.cancel()
    await client.close()
    return client


def subsequence(needles: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(n == h for h in it) for n in needles)


@pytest.mark.parametrize("fmt", ["protobuf", "raw"])
async def test_a_whole_call_with_a_tool_call_and_a_barge_in(fakes: Fakes, fmt: str) -> None:
    async with running_server(load_bot(EXAMPLE)) as running:
        client = await talk(running, fmt)
        for _ in range(200):  # the server notices the close and ends the call
            if running.server.admission.active == 0:
                break
            await asyncio.sleep(0.02)
        assert running.server.admission.active == 0

    types = client.types()
    assert types[0] == "bot-ready"
    assert subsequence(
        [
            "bot-ready",
            "user-started-speaking",
            "user-stopped-speaking",
            "user-input",
            "bot-llm-started",
            "llm-function-call-started",
            "llm-function-call-stopped",
            "bot-started-speaking",
            "user-started-speaking",
            "bot-interrupted",
            "bot-stopped-speaking",
            "user-input",
            "bot-started-speaking",
            "bot-stopped-speaking",
        ],
        types,
    ), types
    finals = [m["data"]["text"] for m in client.of_type("user-input") if m["data"].get("final")]
    assert finals == ["Are you open today?", "We arrive at seven."]
    assert "error" not in types

    # The custom parameter from /start reached the bot's prompt; the tool's result the LLM.
    first, second, third = fakes.openai.requests
    assert "The caller is Asha." in json.dumps(first.messages[0])
    assert json.loads(str(second.messages[-1]["content"])) == {"today": "11 am to 11 pm"}
    # The barge-in cut the first answer: the context holds less than the whole sentence.
    assistant = [m for m in third.messages if m["role"] == "assistant" and m.get("content")]
    assert "11 pm today" not in json.dumps(assistant)

    # Bot audio arrived between its speaking events, and it is the fake's voice, not silence.
    assert client.audio
    if fmt == "protobuf":
        assert {rate for _, _, rate in client.audio} == {24000}
    t_start = client.time_of("bot-started-speaking")
    # Every interruption is announced (the first came when the caller first spoke); the cut
    # is the one after the bot started speaking.
    t_cut = min(t for t, m in client.messages if m["type"] == "bot-interrupted" and t > t_start)
    first_answer = [t for t, _, _ in client.audio if t_start - 0.2 <= t <= t_cut]
    assert first_answer
    samples = np.frombuffer(bytes(client.pcm), dtype="<i2")
    assert np.abs(samples).max() > 1000
    # After the interruption no audio of the first answer keeps coming: the next audio is the
    # second answer, after the second bot-started-speaking.
    t_second = client.time_of("bot-started-speaking", 1)
    late = [t for t, _, _ in client.audio if t_cut + 0.15 < t < t_second - 0.2]
    assert late == []


def test_the_example_stays_short() -> None:
    assert len(EXAMPLE.read_text().splitlines()) <= 40


async def test_a_client_message_is_answered_by_the_bots_handler_over_the_socket() -> None:
    bot = load_bot(Path(__file__).parent / "bots" / "echo_bot.py")
    async with running_server(bot) as running:
        started = await start_call(running, {"body": {"plan": "gold"}})
        client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
        await client.client_ready()
        await client.wait_for("bot-ready")
        asked = await client.send_rtvi("client-message", {"t": "whoami", "d": None})
        wrong = await client.send_rtvi("client-message", {"t": "nope", "d": None})
        answer = await client.wait_for("server-response")
        error = await client.wait_for("error-response")
        await client.close()
    assert answer["id"] == asked
    assert answer["data"]["t"] == "whoami"
    assert answer["data"]["d"]["params"] == {"plan": "gold"}
    assert len(answer["data"]["d"]["call_id"]) == 32
    assert error["id"] == wrong
    assert "unknown message type 'nope'" in error["data"]["error"]
