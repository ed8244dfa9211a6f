"""`vani demo` end to end on the virtual clock: the whole offline call, checked turn by turn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from tests.services.local.wer import wer
from vani.demo import DemoResult, demo_call_path, format_timeline, pizza_script, run_demo
from vani.processors.aggregators import LLMContext
from vani.processors.interruptions import is_backchannel, resume_text
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

    # One barge-in, during the menu, once the caller's second turn has lasted the gate's 0.5 s
    # (plus the VAD's start and stop: the gate counts between the VAD's frames).
    barge_turn = next(t for t in turns if t["barge_in"])
    assert len(result.interruptions) == 1
    starts = [e.time for e in result.events if e.what == "(starts speaking)" and e.who == "user"]
    vad_start = min(t for t in starts if t >= float(barge_turn["start_secs"]))
    assert vad_start + 0.3 <= result.interruptions[0] <= vad_start + 1.0
    # It was real speech: the gate let it through and did not resume the menu.
    assert result.gate is not None
    assert (result.gate.interruptions, result.gate.resumed) == (1, 0)

    # Each answer's wait is split by stage, in order: turn, transcript, reply, audio, played.
    assert len(result.stages) == len(turns)
    for st in result.stages:
        stamps = [st.turn, st.transcript, st.reply_text, st.tts_audio, st.played]
        assert all(x is not None for x in stamps), st
        assert st.transcript <= st.reply_text <= st.tts_audio <= st.played  # type: ignore[operator]

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


FIXTURES = Path(__file__).parent / "fixtures" / "turn"


def _okay() -> npt.NDArray[np.int16]:
    """A real "O. K." (Allison Smith's Asterisk letters): Whisper hears "Okay."."""
    from vani.audio.resample import StreamResampler

    parts = []
    for letter in ("o", "k"):
        wav = read_wav(FIXTURES / "asterisk" / "letters" / f"{letter}.wav")
        resampler = StreamResampler(wav.sample_rate, 16000)
        pcm = resampler.resample(wav.pcm) + resampler.flush()
        parts += [np.frombuffer(pcm, dtype="<i2"), np.zeros(800, dtype="<i2")]
    return np.concatenate(parts)


def _hum() -> npt.NDArray[np.int16]:
    """A closed-mouth "mmm", 1.2 s: glottal pulses at 110 Hz (with a 5 Hz wobble) through three
    nasal resonances. No word; Silero takes it for speech (checked here), Whisper writes "M"."""
    rate, secs = 16000, 1.2
    t = np.arange(int(secs * rate)) / rate
    phase = np.cumsum(110.0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t)) / rate)
    source = (phase % 1.0) - 0.5
    out = np.zeros_like(source)
    for freq, bandwidth in ((250.0, 60.0), (1200.0, 200.0), (2300.0, 300.0)):
        r = np.exp(-np.pi * bandwidth / rate)
        a1, a2 = -2 * r * np.cos(2 * np.pi * freq / rate), r * r
        y1 = y2 = 0.0
        for i, x in enumerate(source):
            y0 = (1 - r) * x - a1 * y1 - a2 * y2
            out[i] += y0
            y2, y1 = y1, y0
    out *= np.minimum(1, np.minimum(t / 0.03, (secs - t) / 0.08))
    return (out / np.abs(out).max() * 12000).astype(np.int16)


def _caller_with(path: Path, at_secs: float, sound: npt.NDArray[np.int16]) -> None:
    """The demo caller's first turn, then ``sound`` over the bot's menu, then silence."""
    from vani.transports.wav import write_wav

    rate = 16000
    call = np.frombuffer(read_wav(demo_call_path()).pcm, dtype="<i2")[: 4 * rate]
    gap = np.zeros(round(at_secs * rate) - len(call), dtype="<i2")
    pcm = np.concatenate([call, gap, sound, np.zeros(14 * rate, dtype="<i2")]).astype("<i2")
    write_wav(path, pcm.tobytes(), sample_rate=rate, num_channels=1)


async def _call_with(tmp_path: Path, at_secs: float, sound: npt.NDArray[np.int16]) -> DemoResult:
    """The offline demo with ``sound`` over the menu at ``at_secs``; no errors, and Silero fired
    on the sound."""
    _caller_with(tmp_path / "in.wav", at_secs, sound)
    result = await run_demo(
        input_path=tmp_path / "in.wav",
        output_path=tmp_path / "call.wav",
        offline=True,
        charge_processing_time=False,
    )
    assert result.errors == []
    starts = [e.time for e in result.events if e.who == "user" and e.what == "(starts speaking)"]
    assert at_secs < max(starts) < at_secs + 0.5
    return result


def _resumed_menu(result: DemoResult, cut: float) -> tuple[str, str]:
    """The bot went quiet at ``cut`` and then said the rest of the menu, from the sentence the
    caller did not hear whole; returns (what was heard, the rest)."""
    transport = result.transport
    assert transport is not None
    chunks = transport.recording.bot_chunks
    before = [c for c in chunks if c[0] < cut]
    after = [c for c in chunks if c[0] >= cut]
    assert before[-1][1] <= cut + CHUNK_SECS
    assert after, "the reply never came back"
    bot_said = [(e.time, e.what.strip('"')) for e in result.events if e.who == "bot"]
    heard = " ".join(text for t, text in bot_said if t <= cut and not text.startswith("("))
    again = [text for t, text in bot_said if t > cut and not text.startswith("(")]
    assert heard.startswith("Welcome to Vani Pizza!")
    menu = pizza_script(LLMContext(messages=[{"role": "user", "content": "hi"}]))
    assert isinstance(menu, str)
    rest = resume_text(menu, heard)
    assert rest.startswith("Today we have")  # the sentence cut in the middle, said whole
    assert " ".join(again) == rest
    return heard, rest


@pytest.mark.slow  # real Silero, Whisper and Piper: ~10 s
async def test_a_backchannel_over_the_reply_does_not_kill_it_it_resumes(tmp_path: Path) -> None:
    """Recorded speech over the bot's menu: Silero fires, the gate lets the barge-in through
    (0.5 s of speech), the bot stops; Whisper hears "Okay", a backchannel, so the bot takes the
    menu back up from the first sentence the caller did not hear whole, and the context holds
    exactly what was played."""
    at = 6.0  # the menu's first sentence ("Welcome to Vani Pizza!") has played by then
    result = await _call_with(tmp_path, at, _okay())
    # Silero heard the recorded "O. K." as speech, and the gate let it cut the reply.
    starts = [e.time for e in result.events if e.who == "user" and e.what == "(starts speaking)"]
    assert [t for t in starts if t > 4.0]
    assert len(result.interruptions) == 1
    cut = result.interruptions[0]
    gate = result.gate
    assert gate is not None
    assert (gate.interruptions, gate.resumed) == (1, 1)
    assert len(result.transcripts) == 2
    assert is_backchannel(result.transcripts[1])
    heard, rest = _resumed_menu(result, cut)

    # The context is what was played: the cut reply, then its rest; no turn for the "Okay",
    # no second LLM run.
    said = [(m["role"], m["content"]) for m in result.messages[1:]]
    assert said == [("user", result.transcripts[0]), ("assistant", heard), ("assistant", rest)]


def _babble() -> npt.NDArray[np.int16]:
    """Recorded speech played backwards, 2 s: a human voice with no word in it. Silero takes it
    for speech for over a second; Whisper finds no speech in it (its no-speech test)."""
    speech = read_wav(Path(__file__).parent / "fixtures" / "speech" / "speech_16k.wav")
    assert speech.sample_rate == 16000
    return np.frombuffer(speech.pcm, dtype="<i2")[: 2 * 16000][::-1].copy()


@pytest.mark.slow  # real Silero, Whisper and Piper: ~10 s
async def test_a_voice_without_words_over_the_reply_cuts_it_and_it_resumes(
    tmp_path: Path,
) -> None:
    """Backwards speech over the menu: the gate lets the barge-in through (over 0.5 s of what
    Silero calls speech), the bot stops, and no transcript comes (Whisper's no-speech test), so
    after the false-interruption timeout, counted in the caller's audio as this file run goes
    faster than real time, the bot says the rest of the menu from the first sentence the caller
    did not hear whole; the context holds what was played and no user turn for the noise."""
    result = await _call_with(tmp_path, 6.0, _babble())
    assert len(result.interruptions) == 1
    cut = result.interruptions[0]
    gate = result.gate
    assert gate is not None
    assert (gate.interruptions, gate.resumed, gate.late_words) == (1, 1, 0)
    assert len(result.transcripts) == 1  # the caller's first turn only
    heard, rest = _resumed_menu(result, cut)
    # It came back once the timeout had passed after the caller's stop, not before.
    transport = result.transport
    assert transport is not None
    back = min(c[0] for c in transport.recording.bot_chunks if c[0] >= cut)
    stops = [e.time for e in result.events if e.who == "user" and e.what == "(stops speaking)"]
    assert back >= max(stops) + 1.5 - CHUNK_SECS
    said = [(m["role"], m["content"]) for m in result.messages[1:]]
    assert said == [("user", result.transcripts[0]), ("assistant", heard), ("assistant", rest)]


@pytest.mark.slow  # real Silero, Whisper and Piper: ~10 s
async def test_a_hum_over_the_reply_is_held_by_the_gate(tmp_path: Path) -> None:
    """A hummed "mmm" over the menu: Silero takes its onset for speech (a VAD start and stop),
    but not for the gate's 0.5 s, so the bot is not cut; Whisper's "M" is a backchannel, not a
    turn. The menu plays whole and the context holds it and no user turn for the hum."""
    result = await _call_with(tmp_path, 6.0, _hum())  # Silero fires on the hum
    gate = result.gate
    assert gate is not None
    assert (gate.interruptions, gate.resumed) == (0, 0)
    assert result.interruptions == []
    menu = pizza_script(LLMContext(messages=[{"role": "user", "content": "hi"}]))
    said = [(m["role"], m["content"]) for m in result.messages[1:]]
    assert said == [("user", result.transcripts[0]), ("assistant", menu)]
    assert all(is_backchannel(t) for t in result.transcripts[1:])
