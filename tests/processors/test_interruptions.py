"""InterruptionGate: gates by speech and words, uninterruptible speech, false-interruption resume
(with hypothesis schedules of when the transcript comes)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vani.errors import ConfigurationError
from vani.frames import (
    BotStartedSpeakingFrame,
    Frame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.pipeline import PipelineParams
from vani.processors.aggregators.llm_context import LLMContext
from vani.processors.interruptions import (
    GateParams,
    InterruptionGate,
    InterruptionParams,
    is_backchannel,
    resume_text,
)
from vani.testing import SleepFrame, run_test

REPLY = "Your pizza is on its way. It costs sixteen dollars. It will arrive in thirty minutes."
HEARD = "Your pizza is on its way."
TIMEOUT = 0.05


def _context_with_cut_reply() -> LLMContext:
    context = LLMContext(messages=[{"role": "user", "content": "Where is my pizza?"}])
    context.track_responses = True
    start = LLMFullResponseStartFrame()
    context.begin_response(start.id)
    context.write_response(start.id, REPLY, [])
    context.cut_response(start.id, HEARD)  # what the assistant aggregator does on interruption
    return context


def _speech(secs: float) -> list[Frame]:
    chunk = b"\x00\x10" * 320  # 20 ms at 16 kHz
    return [InputAudioRawFrame(audio=chunk, sample_rate=16000) for _ in range(round(secs / 0.02))]


def _user(secs: float) -> list[Frame]:
    return [
        UserStartedSpeakingFrame(),
        VADUserStartedSpeakingFrame(start_secs=0.2),
        *_speech(secs),
        VADUserStoppedSpeakingFrame(stop_secs=0.2),
        UserStoppedSpeakingFrame(),
    ]


def _gate(context: LLMContext | None = None, **kwargs: object) -> InterruptionGate:
    params = InterruptionParams(false_interruption_timeout_secs=TIMEOUT, **kwargs)  # type: ignore[arg-type]
    return InterruptionGate(context, params=params)


async def _run(gate: InterruptionGate, frames: list[Frame]) -> tuple[list[Frame], list[Frame]]:
    return await run_test(
        gate, frames_to_send=frames, params=PipelineParams(allow_interruptions=True)
    )


def test_backchannels_per_language() -> None:
    for text in ("Mm-hm.", "okay", "OK, ok!", "haan ji", "Accha.", "हाँ जी", "ठीक है।", "சரி"):
        assert is_backchannel(text), text
    for text in ("ok, but I want a large one", "wait", "no", "", "haan, do medium"):
        assert not is_backchannel(text), text
    assert not is_backchannel("haan", ("en",))
    assert is_backchannel("haan", ("hi",))


def test_resume_text_starts_at_the_first_unheard_sentence() -> None:
    assert (
        resume_text(REPLY, HEARD) == "It costs sixteen dollars. It will arrive in thirty minutes."
    )
    assert resume_text(REPLY, "") == REPLY
    assert resume_text(REPLY, REPLY) == ""
    # A sentence heard in part is said again whole.
    assert resume_text(REPLY, "Your pizza is on its") == REPLY


def test_params_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="min_duration_secs"):
        GateParams(min_duration_secs=-1)
    with pytest.raises(ConfigurationError, match="min_words"):
        GateParams(min_words=-1)
    with pytest.raises(ConfigurationError, match="require"):
        InterruptionParams(require="some")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="false_interruption_timeout_secs"):
        InterruptionParams(false_interruption_timeout_secs=0)


async def test_short_noise_while_the_bot_speaks_does_not_interrupt() -> None:
    gate = _gate()
    down, up = await _run(gate, [BotStartedSpeakingFrame(), *_user(0.3)])
    assert not any(isinstance(f, InterruptionFrame) for f in up + down)
    assert gate.interruptions == 0


async def test_speech_past_the_gate_interrupts_once() -> None:
    gate = _gate()
    _, up = await _run(gate, [BotStartedSpeakingFrame(), *_user(1.0)])
    assert sum(isinstance(f, InterruptionFrame) for f in up) == 1
    assert gate.interruptions == 1


async def test_with_nothing_to_interrupt_nothing_is_interrupted() -> None:
    gate = _gate()
    _, up = await _run(gate, _user(1.0))
    assert gate.interruptions == 0
    assert not any(isinstance(f, InterruptionFrame) for f in up)


async def test_min_words_gate_uses_interim_transcripts() -> None:
    gate = _gate(speaking=GateParams(min_words=3))
    frames: list[Frame] = [
        BotStartedSpeakingFrame(),
        UserStartedSpeakingFrame(),
        VADUserStartedSpeakingFrame(),
        *_speech(1.0),
        InterimTranscriptionFrame(text="no wait"),
    ]
    await _run(gate, frames)
    assert gate.interruptions == 0
    gate = _gate(speaking=GateParams(min_words=3))
    await _run(gate, [*frames, InterimTranscriptionFrame(text="no wait I want")])
    assert gate.interruptions == 1


async def test_require_all_needs_both_duration_and_words() -> None:
    both = GateParams(min_duration_secs=0.3, min_words=2)
    gate = _gate(speaking=both, require="all")
    await _run(gate, [BotStartedSpeakingFrame(), *_user(1.0)])
    assert gate.interruptions == 0
    gate = _gate(speaking=both, require="any")
    await _run(gate, [BotStartedSpeakingFrame(), *_user(1.0)])
    assert gate.interruptions == 1


async def test_thinking_has_its_own_gate() -> None:
    # The user's turn ended (the bot thinks): by default any speech interrupts.
    gate = _gate()
    await _run(gate, [*_user(0.5), *_user(0.1)])
    assert gate.interruptions == 1
    gate = _gate(thinking=GateParams(min_duration_secs=0.5))
    await _run(gate, [*_user(0.5), *_user(0.1)])
    assert gate.interruptions == 0


async def test_uninterruptible_speech_holds_the_barge_in_and_keeps_the_words() -> None:
    gate = _gate()
    words = TranscriptionFrame(text="I want to change my order", user_id="u", timestamp="")
    down, up = await _run(
        gate,
        [
            TTSSpeakFrame(text="Please hold.", uninterruptible=True),
            BotStartedSpeakingFrame(),
            *_user(1.0),
            words,
        ],
    )
    assert gate.interruptions == 0
    assert gate.held == 1
    assert not any(isinstance(f, InterruptionFrame) for f in up + down)
    assert words in down


async def test_a_cough_then_silence_resumes_the_reply() -> None:
    context = _context_with_cut_reply()
    gate = _gate(context)
    down, _ = await _run(
        gate, [BotStartedSpeakingFrame(), *_user(0.6), SleepFrame(sleep=TIMEOUT * 4)]
    )
    assert gate.resumed == 1
    texts = [f.text for f in down if isinstance(f, LLMTextFrame)]
    assert texts == ["It costs sixteen dollars. It will arrive in thirty minutes."]
    assert [m["content"] for m in context.messages if m["role"] == "assistant"] == [
        HEARD,
        "It costs sixteen dollars. It will arrive in thirty minutes.",
    ]


async def test_the_wait_for_words_also_counts_the_callers_audio() -> None:
    """A file run on a virtual clock streams its silence faster than real time: the timeout is
    met by the caller's audio after the stop (here 5 s of it against a 5 s timeout the wall
    clock would need five seconds for), and not by less of it."""
    params = InterruptionParams(false_interruption_timeout_secs=5.0)
    context = _context_with_cut_reply()
    gate = InterruptionGate(context, params=params)
    down, _ = await _run(gate, [BotStartedSpeakingFrame(), *_user(0.6), *_speech(4.9)])
    assert gate.resumed == 0  # 4.9 s of audio, and far less than 5 s of wall time
    context = _context_with_cut_reply()
    gate = InterruptionGate(context, params=params)
    down, _ = await _run(gate, [BotStartedSpeakingFrame(), *_user(0.6), *_speech(5.0)])
    assert gate.resumed == 1
    texts = [f.text for f in down if isinstance(f, LLMTextFrame)]
    assert texts == ["It costs sixteen dollars. It will arrive in thirty minutes."]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.sampled_from(["mm-hm", "haan", "Okay.", "wait, make it large", "no", None]),
    before_stop=st.booleans(),
    delay=st.sampled_from([0.0, TIMEOUT / 3, TIMEOUT * 3]),
)
async def test_false_interruption_schedules(
    words: str | None, before_stop: bool, delay: float
) -> None:
    """Whenever the transcript comes (before the user stops, soon after, after the timeout) and
    whatever it says, the reply resumes exactly when nothing real was said in time, a
    backchannel never reaches the aggregator, and the context is valid."""
    context = _context_with_cut_reply()
    gate = _gate(context)
    user = _user(0.6)
    transcript: list[Frame] = []
    if words is not None:
        transcript = [
            SleepFrame(sleep=delay),
            TranscriptionFrame(text=words, user_id="u", timestamp=""),
        ]
    frames: list[Frame] = [BotStartedSpeakingFrame()]
    if before_stop:
        frames += user[:-1] + transcript + user[-1:]
    else:
        frames += user + transcript
    frames.append(SleepFrame(sleep=TIMEOUT * 4))
    down, _ = await _run(gate, frames)
    late = not before_stop and delay > TIMEOUT
    backchannel = words is not None and is_backchannel(words)
    expect_resume = words is None or backchannel or late
    assert gate.resumed == int(expect_resume)
    # Real words after the wait (a slow STT): the resumed reply is cut again, and they pass.
    real_late = late and words is not None and not backchannel
    assert gate.late_words == int(real_late)
    assert gate.interruptions == 1 + int(real_late)
    passed = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    if backchannel:
        assert passed == []
    elif words is not None and not backchannel:
        assert passed == [words]
    assistant = [m["content"] for m in context.messages if m["role"] == "assistant"]
    assert assistant[0] == HEARD
    assert len(assistant) == 1 + int(expect_resume)
    roles = [m["role"] for m in context.messages]
    assert roles[0] == "user"


async def test_a_cough_during_a_played_reply_resumes_it_through_the_assistant_aggregator() -> None:
    """The real cut path: the assistant aggregator cuts the reply to what was heard when the
    gate's interruption reaches it; the gate then resumes from the first unheard sentence."""
    from vani.frames import LLMFullResponseEndFrame, TTSTextFrame
    from vani.pipeline import Pipeline
    from vani.processors.aggregators.llm_response import LLMAssistantContextAggregator

    context = LLMContext(messages=[{"role": "user", "content": "Where is my pizza?"}])
    gate = _gate(context)
    assistant = LLMAssistantContextAggregator(context)
    start = LLMFullResponseStartFrame()
    # What the LLM service does: it writes its reply into the context as it streams it.
    context.begin_response(start.id)
    context.write_response(start.id, REPLY, [])
    frames: list[Frame] = [
        start,
        BotStartedSpeakingFrame(),
        TTSTextFrame(text=HEARD),  # the first sentence was played
        *_user(0.6),  # a cough long enough to pass the gate
        SleepFrame(sleep=TIMEOUT * 4),
    ]
    down, _ = await run_test(
        Pipeline([gate, assistant]),
        frames_to_send=frames,
        params=PipelineParams(allow_interruptions=True),
    )
    assert gate.interruptions == 1
    assert gate.resumed == 1
    rest = "It costs sixteen dollars. It will arrive in thirty minutes."
    assert [f.text for f in down if isinstance(f, LLMTextFrame)] == [rest]
    assert any(isinstance(f, LLMFullResponseEndFrame) for f in down)
    assistant_says = [m["content"] for m in context.messages if m["role"] == "assistant"]
    assert assistant_says == [HEARD, rest]


async def test_words_after_the_wait_cut_the_resumed_reply_and_make_the_turn() -> None:
    """A slow STT: no words within the timeout, so the reply resumed; then the user's real
    words arrive. They were a real interruption: the resumed reply is cut and they go on."""
    context = _context_with_cut_reply()
    gate = _gate(context)
    words = "wait, make it a large one"
    down, up = await _run(
        gate,
        [
            BotStartedSpeakingFrame(),
            *_user(0.6),
            SleepFrame(sleep=TIMEOUT * 3),
            TranscriptionFrame(text=words, user_id="u", timestamp=""),
            SleepFrame(sleep=TIMEOUT),
        ],
    )
    assert gate.resumed == 1
    assert (gate.interruptions, gate.late_words) == (2, 1)
    assert [f.text for f in down if isinstance(f, TranscriptionFrame)] == [words]
    resumed_at = next(i for i, f in enumerate(down) if isinstance(f, LLMTextFrame))
    assert resumed_at < next(i for i, f in enumerate(down) if isinstance(f, TranscriptionFrame))
