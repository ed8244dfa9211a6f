"""The user aggregator waits for the transcripts of a turn's last stretches (an end-of-turn
model ends turns before a per-stretch STT has transcribed them), and adds no wait for an STT
that transcribes while the user speaks."""

from __future__ import annotations

from vani.frames import (
    Frame,
    LLMContextFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.processors.aggregators import LLMContext
from vani.processors.aggregators.llm_response import LLMUserContextAggregator
from vani.testing import SleepFrame, run_test


def _t(text: str) -> TranscriptionFrame:
    return TranscriptionFrame(text=text, user_id="u", timestamp="")


def _user_messages(context: LLMContext) -> list[str]:
    return [str(m["content"]) for m in context.messages if m["role"] == "user"]


async def _run(frames: list[Frame], timeout: float = 5.0) -> tuple[LLMContext, list[Frame]]:
    context = LLMContext()
    agg = LLMUserContextAggregator(context, transcript_timeout_secs=timeout)
    down, _ = await run_test(agg, frames_to_send=frames)
    return context, down


async def test_a_turn_with_two_stretches_goes_out_whole_when_their_texts_come_late() -> None:
    context, down = await _run(
        [
            UserStartedSpeakingFrame(),
            VADUserStartedSpeakingFrame(),
            VADUserStoppedSpeakingFrame(),
            VADUserStartedSpeakingFrame(),
            VADUserStoppedSpeakingFrame(),
            UserStoppedSpeakingFrame(),
            SleepFrame(0.05),
            _t("A large pepperoni,"),
            SleepFrame(0.05),
            _t("please."),
            SleepFrame(0.05),
        ]
    )
    assert _user_messages(context) == ["A large pepperoni, please."]
    assert sum(isinstance(f, LLMContextFrame) for f in down) == 1


async def test_a_transcript_that_came_while_speaking_adds_no_wait() -> None:
    context, down = await _run(
        [
            UserStartedSpeakingFrame(),
            VADUserStartedSpeakingFrame(),
            _t("Hello there."),
            VADUserStoppedSpeakingFrame(),
            UserStoppedSpeakingFrame(),
        ],
        timeout=60.0,  # a wait would outlast the test
    )
    assert _user_messages(context) == ["Hello there."]


async def test_a_stretch_without_text_waits_only_the_timeout() -> None:
    context, _ = await _run(
        [
            UserStartedSpeakingFrame(),
            VADUserStartedSpeakingFrame(),
            _t("Twelve Park Street."),
            VADUserStoppedSpeakingFrame(),
            VADUserStartedSpeakingFrame(),
            VADUserStoppedSpeakingFrame(),  # a cough: the STT returns nothing
            UserStoppedSpeakingFrame(),
            SleepFrame(0.3),
        ],
        timeout=0.1,
    )
    assert _user_messages(context) == ["Twelve Park Street."]
