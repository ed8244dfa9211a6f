"""`vani demo` end to end on the virtual clock: the whole offline call, checked turn by turn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.services.local.wer import wer
from vani.demo import DemoResult, demo_call_path, format_timeline, run_demo
from vani.transports.wav import read_wav

CHUNK_SECS = 0.04


@pytest.fixture(scope="module")
def turns() -> list[dict[str, object]]:
    meta = json.loads(demo_call_path().with_suffix(".json").read_text())
    turns: list[dict[str, object]] = meta["turns"]
    return turns


async def run(tmp_path: Path) -> DemoResult:
    # Frozen virtual time: the timeline does not depend on how fast this machine is.
    return await run_demo(
        output_path=tmp_path / "call.wav", offline=True, charge_processing_time=False
    )


@pytest.mark.slow  # real Whisper and Piper: ~15 s
async def test_the_demo_call_goes_through_every_turn_and_places_the_order(
    tmp_path: Path, turns: list[dict[str, object]]
) -> None:
    result = await run(tmp_path)
    assert result.errors == []

    # Every scripted turn happened: one transcript per caller turn, one reply per transcript.
    assert len(result.transcripts) == len(turns)
    assert wer([(str(t["text"]), h) for t, h in zip(turns, result.transcripts, strict=True)]) <= 0.2
    assert len(result.bot_replies) == len(turns)
    assert result.bot_replies[1].startswith("One large pepperoni.")
    assert result.bot_replies[-1].startswith("Your order A42 is placed")
    assert len(result.latencies) == len(turns)

    # The tool was called once, with what the caller said.
    assert len(result.tool_calls) == 1
    name, arguments = result.tool_calls[0]
    args = json.loads(arguments)
    assert name == "place_order"
    assert (args["pizza"], args["size"], args["drink"]) == ("pepperoni", "large", "cola")
    assert "park street" in args["address"].lower()

    # One barge-in, during the menu, while the caller's second turn starts.
    barge_turn = next(t for t in turns if t["barge_in"])
    assert len(result.interruptions) == 1
    assert result.interruptions[0] == pytest.approx(float(barge_turn["start_secs"]), abs=0.5)

    # The bot's audio stops within one output chunk of the barge-in.
    transport = result.transport
    assert transport is not None
    cut = result.interruptions[0]
    chunks = transport.recording.bot_chunks
    before = [c for c in chunks if c[0] < cut]
    after = [c for c in chunks if c[0] >= cut]
    assert before[-1][1] <= cut + CHUNK_SECS
    assert after[0][0] > cut + 0.5  # the next audio is the answer to the new turn

    wav = read_wav(tmp_path / "call.wav")
    stereo = np.frombuffer(wav.pcm, dtype="<i2").reshape(-1, 2)
    bot = np.abs(stereo[:, 1].astype(np.int32))
    rate = wav.sample_rate
    start = round(cut * rate)
    gap = bot[start + round(CHUNK_SECS * rate) : round(after[0][0] * rate)]
    assert gap.max(initial=0) == 0  # silence on the bot's side after the cut
    # It was talking until then: chunks flowing right up to the cut, speech in the last second.
    assert before[-1][1] >= cut - CHUNK_SECS
    assert bot[start - rate : start].max() > 1000

    # The context holds only what the caller heard of the interrupted menu.
    heard = [
        e.what.strip('"')
        for e in result.events
        if e.who == "bot" and e.what.startswith('"') and e.time <= cut
    ]
    assistant = [m for m in result.messages if m["role"] == "assistant"]
    assert heard
    assert assistant[0]["content"] == " ".join(heard)
    assert "Which one would you like?" not in json.dumps(result.messages)
    # ...and the tool-call history is valid for the API: the call, then its result.
    roles = [m["role"] for m in result.messages]
    i = next(i for i, m in enumerate(result.messages) if m.get("tool_calls"))
    assert roles[i + 1] == "tool"

    # The timeline says all of it.
    text = format_timeline(result)
    assert "barge-in" in text
    assert "place_order(" in text
    assert str(tmp_path / "call.wav") in text
    # The caller is on the left, on the same timeline as the bot: the first turn starts at 0.5 s.
    caller = np.abs(stereo[:, 0].astype(np.int32))
    assert np.flatnonzero(caller > 30)[0] / rate == pytest.approx(0.5, abs=0.1)
