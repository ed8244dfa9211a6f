"""The context aggregators: user turns in, and only what the user heard stays in context."""

from __future__ import annotations

import asyncio

from tests.llm_helpers import Session
from vani.frames import (
    Frame,
    FrameDirection,
    FunctionCallCancelFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import FunctionCallParams, ScriptedLLMService, ScriptedToolCall, ScriptedTurn
from vani.testing.fake_openai import check_messages


class FakeSpeaker(FrameProcessor):
    """TTS + output transport in one: each LLM token is "played" for ``word_secs`` and then
    forwarded as a TTSTextFrame, as the output transport does once the audio was sent."""

    def __init__(self, word_secs: float) -> None:
        super().__init__(name="speaker")
        self.word_secs = word_secs

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame):
            await asyncio.sleep(self.word_secs)
            await self.push_frame(TTSTextFrame(text=frame.text.strip()))
        else:
            await self.push_frame(frame, direction)


#: What the VAD processor does upstream in a real pipeline: interrupt when the user starts.
BARGE_IN: dict[str, object] = {"interrupt_on_user_speech": True}


def system() -> LLMContext:
    return LLMContext(messages=[{"role": "system", "content": "Be brief."}])


async def say(s: Session, *texts: str) -> None:
    await s.send(UserStartedSpeakingFrame())
    for text in texts:
        await s.send(TranscriptionFrame(text=text))
    await s.send(UserStoppedSpeakingFrame())


async def test_transcripts_of_a_turn_become_one_user_message_and_run_the_llm() -> None:
    context = system()
    pair = LLMContextAggregatorPair(context, user_kwargs=BARGE_IN)
    llm = ScriptedLLMService(["Hello!"])
    async with Session([pair.user(), llm, pair.assistant()]) as s:
        await say(s, "hello", "there")
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert context.messages[1:] == [
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": "Hello!"},
    ]
    assert not s.down.of(TranscriptionFrame)  # consumed by the aggregator
    assert len(s.down.of(InterruptionFrame)) == 1  # barge-in broadcast on speech start


async def test_the_pair_unpacks_into_its_user_and_assistant_aggregators() -> None:
    # Pipecat's own spelling: user, assistant = LLMContextAggregatorPair(context).
    context = system()
    pair = LLMContextAggregatorPair(context, user_kwargs=BARGE_IN)
    user, assistant = pair
    assert (user, assistant) == (pair.user(), pair.assistant())
    llm = ScriptedLLMService(["Unpacked."])
    async with Session([user, llm, assistant]) as s:
        await say(s, "hi")
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert context.messages[-2:] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Unpacked."},
    ]


async def test_a_transcript_arriving_after_the_user_stopped_still_runs_the_llm() -> None:
    context = system()
    pair = LLMContextAggregatorPair(
        context, user_kwargs={**BARGE_IN, "aggregation_timeout_secs": 0.02}
    )
    llm = ScriptedLLMService(["Late but heard."])
    async with Session([pair.user(), llm, pair.assistant()]) as s:
        await s.send(UserStartedSpeakingFrame(), UserStoppedSpeakingFrame())
        await asyncio.sleep(0.01)
        await s.send(TranscriptionFrame(text="late"), TranscriptionFrame(text="words"))
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert context.messages[1] == {"role": "user", "content": "late words"}
    assert len(llm.requests) == 1


async def test_interrupted_reply_keeps_only_the_words_that_were_played() -> None:
    context = system()
    pair = LLMContextAggregatorPair(context, user_kwargs=BARGE_IN)
    llm = ScriptedLLMService(["One two three four five six seven eight."])
    async with Session([pair.user(), llm, FakeSpeaker(0.03), pair.assistant()]) as s:
        await say(s, "count")
        await s.down.wait_for(TTSTextFrame, 2)
        await say(s)  # barge-in, nothing transcribed
        await asyncio.sleep(0.1)
    heard = [f.text for f in s.down.of(TTSTextFrame)]  # type: ignore[attr-defined]
    assert 2 <= len(heard) < 8
    assert context.messages[-1] == {"role": "assistant", "content": " ".join(heard)}
    assert check_messages(context.messages) is None


async def test_reply_interrupted_while_still_streaming_keeps_only_what_was_played() -> None:
    context = system()
    pair = LLMContextAggregatorPair(context, user_kwargs=BARGE_IN)
    llm = ScriptedLLMService(["alpha beta gamma delta epsilon zeta"], token_delay_secs=0.03)
    async with Session([pair.user(), llm, FakeSpeaker(0.005), pair.assistant()]) as s:
        await say(s, "go")
        await s.down.wait_for(TTSTextFrame, 2)
        await s.send(InterruptionFrame())
        await asyncio.sleep(0.1)
    heard = [f.text for f in s.down.of(TTSTextFrame)]  # type: ignore[attr-defined]
    assert context.messages[-1] == {"role": "assistant", "content": " ".join(heard)}
    assert len(heard) < 6


async def test_reply_interrupted_before_any_audio_leaves_no_assistant_message() -> None:
    context = system()
    pair = LLMContextAggregatorPair(context, user_kwargs=BARGE_IN)
    llm = ScriptedLLMService(["never heard at all"])
    async with Session([pair.user(), llm, FakeSpeaker(0.5), pair.assistant()]) as s:
        await say(s, "hi")
        await asyncio.sleep(0.05)
        await s.send(InterruptionFrame())
        await asyncio.sleep(0.05)
    assert [m["role"] for m in context.messages] == ["system", "user"]


async def test_interrupted_text_and_tool_call_keep_a_valid_history() -> None:
    context = system()
    pair = LLMContextAggregatorPair(context, user_kwargs=BARGE_IN)
    turn = ScriptedTurn("Let me check that for you", [ScriptedToolCall("slow_lookup", {})])
    llm = ScriptedLLMService([turn, "never said"])

    async def slow_lookup(params: FunctionCallParams) -> str:
        await asyncio.sleep(5)
        return "found"

    llm.register_function("slow_lookup", slow_lookup)
    async with Session([pair.user(), llm, FakeSpeaker(0.03), pair.assistant()]) as s:
        await say(s, "look it up")
        await s.down.wait_for(TTSTextFrame, 2)
        await say(s)
        await s.down.wait_for(FunctionCallCancelFrame)
        await asyncio.sleep(0.05)
    heard = " ".join(f.text for f in s.down.of(TTSTextFrame))  # type: ignore[attr-defined]
    assistant = context.messages[2]
    assert assistant["content"] == heard and assistant["tool_calls"]
    assert "cancelled" in str(context.messages[3]["content"])
    assert check_messages(context.messages) is None
    assert len(llm.requests) == 1


async def test_context_frame_from_user_aggregator_carries_the_shared_context() -> None:
    context = system()
    pair = LLMContextAggregatorPair(context, user_kwargs=BARGE_IN)
    async with Session([pair.user()]) as s:
        await say(s, "hi")
        await s.down.wait_for(LLMContextFrame)
    frame = s.down.of(LLMContextFrame)[0]
    assert frame.context is context  # type: ignore[attr-defined]
    assert pair.user().context is pair.assistant().context is context


async def test_user_aggregator_does_not_interrupt_by_default() -> None:
    pair = LLMContextAggregatorPair(system())
    async with Session([pair.user()]) as s:
        await say(s, "hi")
        await s.down.wait_for(LLMContextFrame)
    assert not s.down.of(InterruptionFrame) and not s.up.of(InterruptionFrame)
