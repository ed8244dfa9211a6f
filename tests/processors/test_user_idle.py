"""UserIdleProcessor: the clock runs only in silence; retries; reset on user speech."""

from __future__ import annotations

import pytest

from vani.errors import ConfigurationError
from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndTaskFrame,
    Frame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from vani.processors.user_idle import UserIdleProcessor
from vani.testing import SleepFrame, run_test

T = 0.05


class Calls:
    def __init__(self, keep: bool = True) -> None:
        self.retries: list[int] = []
        self.keep = keep

    async def __call__(self, processor: UserIdleProcessor, retry: int) -> bool:
        self.retries.append(retry)
        return self.keep


def test_timeout_is_validated() -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        UserIdleProcessor(timeout=0)


async def test_default_asks_then_ends_the_call() -> None:
    down, up = await run_test(
        UserIdleProcessor(timeout=T),
        frames_to_send=[UserStartedSpeakingFrame(), UserStoppedSpeakingFrame(), SleepFrame(T * 5)],
        send_end_frame=False,  # the processor ends the call itself
    )
    asks = [f for f in down if isinstance(f, TTSSpeakFrame)]
    assert [f.text for f in asks] == ["Are you still there?"]
    assert [type(f) for f in up if isinstance(f, EndTaskFrame)] == [EndTaskFrame]


async def test_no_clock_while_the_bot_speaks_or_a_tool_runs() -> None:
    calls = Calls()
    await run_test(
        UserIdleProcessor(timeout=T, callback=calls),
        frames_to_send=[
            UserStartedSpeakingFrame(),
            UserStoppedSpeakingFrame(),
            BotStartedSpeakingFrame(),
            SleepFrame(T * 3),
            BotStoppedSpeakingFrame(),
            FunctionCallInProgressFrame(function_name="f", tool_call_id="1", arguments=""),
            SleepFrame(T * 3),
        ],
    )
    assert calls.retries == []


async def test_retries_count_up_and_user_speech_starts_over() -> None:
    calls = Calls()
    await run_test(
        UserIdleProcessor(timeout=T, callback=calls),
        frames_to_send=[
            UserStartedSpeakingFrame(),
            UserStoppedSpeakingFrame(),
            SleepFrame(T * 2.5),
            UserStartedSpeakingFrame(),
            UserStoppedSpeakingFrame(),
            SleepFrame(T * 1.5),
        ],
    )
    assert calls.retries[:3] == [1, 2, 1]


async def test_a_handler_that_returns_false_stops_watching() -> None:
    calls = Calls(keep=False)
    await run_test(
        UserIdleProcessor(timeout=T, callback=calls),
        frames_to_send=[
            UserStartedSpeakingFrame(),
            UserStoppedSpeakingFrame(),
            SleepFrame(T * 4),
            FunctionCallResultFrame(function_name="f", tool_call_id="1", arguments="", result=None),
            SleepFrame(T * 3),
        ],
    )
    assert calls.retries == [1]


def _audio(secs: float) -> list[InputAudioRawFrame]:
    chunk = bytes(640)  # 20 ms of 16 kHz silence
    return [InputAudioRawFrame(audio=chunk, sample_rate=16000) for _ in range(round(secs / 0.02))]


async def _retries_after(frames: list[Frame]) -> list[int]:
    calls = Calls()
    await run_test(UserIdleProcessor(timeout=5.0, callback=calls), frames_to_send=frames)
    return calls.retries


async def test_the_callers_audio_also_runs_the_clock() -> None:
    """A file run on a virtual clock streams its silence faster than real time: 5 s of the
    caller's audio after their turn meets a 5 s timeout at once (the wall clock would need
    five seconds), 4.9 s does not, and the count starts over with the user's next turn."""
    turn: list[Frame] = [UserStartedSpeakingFrame(), UserStoppedSpeakingFrame()]
    assert await _retries_after([*turn, *_audio(4.9)]) == []
    assert await _retries_after([*turn, *_audio(4.0), *turn, *_audio(4.0)]) == []
    down, _ = await run_test(UserIdleProcessor(timeout=5.0), frames_to_send=[*turn, *_audio(5.0)])
    assert [f.text for f in down if isinstance(f, TTSSpeakFrame)] == ["Are you still there?"]
    # Audio while the bot speaks does not count.
    assert await _retries_after([*turn, BotStartedSpeakingFrame(), *_audio(6.0)]) == []
