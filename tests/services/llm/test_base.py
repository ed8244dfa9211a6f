"""LLMService frame handling, and randomized races of barge-in against streaming and tools."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.llm_helpers import Session
from tests.processors.aggregators.test_llm_response import BARGE_IN, FakeSpeaker
from vani.frames import (
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMMessagesAppendFrame,
    LLMMessagesUpdateFrame,
    LLMRunFrame,
    LLMSetToolChoiceFrame,
    LLMSetToolsFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import (
    FunctionCallParams,
    LLMService,
    ScriptedLLMService,
    ScriptedToolCall,
    ScriptedTurn,
)
from vani.services.openai import OpenAILLMService
from vani.testing.fake_openai import (
    FakeOpenAIServer,
    Pause,
    RecordedRequest,
    StreamPart,
    StreamResponse,
    Text,
    check_messages,
    tool_call,
)


async def test_messages_append_with_run_llm_runs_on_the_services_own_context() -> None:
    llm = ScriptedLLMService(["first", "second"])
    async with Session([llm]) as s:
        await s.send(LLMMessagesAppendFrame(messages=[{"role": "user", "content": "a"}]))
        await s.send(LLMSetToolsFrame(tools=[{"type": "function", "function": {"name": "t"}}]))
        await s.send(LLMSetToolChoiceFrame(tool_choice="required"))
        await s.send(
            LLMMessagesAppendFrame(messages=[{"role": "user", "content": "b"}], run_llm=True)
        )
        await s.down.wait_for(LLMFullResponseEndFrame)
        await s.send(LLMMessagesUpdateFrame(messages=[{"role": "user", "content": "c"}]))
        await s.send(LLMRunFrame())
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    first, second = llm.requests
    assert [m["content"] for m in first[0]] == ["a", "b"] and first[1] == "required"
    assert [m["content"] for m in second[0]] == ["c"]
    assert [t.name for t in llm.context.tools] == ["t"]
    assert not s.down.of(LLMMessagesAppendFrame)  # consumed


async def test_scripted_service_streams_word_tokens_with_pacing() -> None:
    llm = ScriptedLLMService([ScriptedTurn(["to", "ken", "s"])], token_delay_secs=0.001)
    llm.add_turns("Hello big world")
    async with Session([llm]) as s:
        await s.send(LLMRunFrame(), LLMRunFrame())
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    texts = [f.text for f in s.down.of(LLMTextFrame)]  # type: ignore[attr-defined]
    assert texts == ["to", "ken", "s", "Hello", " big", " world"]


# ---------------------------------------------------------------------------------------------
# Random schedules of tokens, tool calls and results, interruptions and new user turns.

TOOLS = ["fast", "slow", "keep", "fail", "nope"]

turns = st.lists(
    st.builds(
        lambda n, names: ScriptedTurn(
            " ".join(f"w{i}" for i in range(n)),
            [ScriptedToolCall(name, {"i": i}) for i, name in enumerate(names)],
        ),
        st.integers(0, 5),
        st.lists(st.sampled_from(TOOLS), max_size=3),
    ),
    max_size=8,
)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("say"), st.sampled_from(["", "hello", "what now"])),
        st.tuples(st.just("interrupt"), st.just("")),
        st.tuples(st.just("wait"), st.sampled_from(["0", "0.005", "0.02", "0.04"])),
    ),
    max_size=10,
)


async def fast(params: FunctionCallParams) -> str:
    return "fast result"


async def slow(params: FunctionCallParams) -> str:
    await asyncio.sleep(0.03)
    return "slow result"


async def fail(params: FunctionCallParams) -> str:
    await asyncio.sleep(0.005)
    raise RuntimeError("tool broke")


def turn_to_response(turn: ScriptedTurn, ids: itertools.count[int]) -> StreamResponse:
    """The same turn as the fake OpenAI server streams it."""
    assert isinstance(turn.text, str)
    parts: list[StreamPart] = []
    for i, word in enumerate(turn.text.split()):
        parts += [Pause(0.002), Text(f" {word}" if i else word)]
    for i, call in enumerate(turn.tool_calls):
        parts += tool_call(f"call_{next(ids)}", call.name, json.dumps(call.arguments), index=i)
    return StreamResponse(parts)


async def run_schedule(
    make_llm: Callable[[Callable[[LLMContext], ScriptedTurn | str]], LLMService],
    script: list[ScriptedTurn],
    schedule: list[tuple[str, str]],
) -> None:
    """Drive a voice-shaped pipeline through ``schedule``; then check the context is valid
    for the API and that a new user turn still gets an answer."""
    final = False
    queue = list(script)

    def rule(context: LLMContext) -> ScriptedTurn | str:
        if final:
            return "I am listening"
        return queue.pop(0) if queue else "ok"

    context = LLMContext(messages=[{"role": "system", "content": "test"}])
    pair = LLMContextAggregatorPair(context, user_kwargs=BARGE_IN)
    llm = make_llm(rule)
    llm.register_function("fast", fast)
    llm.register_function("slow", slow)
    llm.register_function("keep", slow, cancel_on_interruption=False)
    llm.register_function("fail", fail)
    async with Session([pair.user(), llm, FakeSpeaker(0.003), pair.assistant()]) as s:
        for kind, arg in schedule:
            if kind == "say":
                await s.send(UserStartedSpeakingFrame())
                if arg:
                    await s.send(TranscriptionFrame(text=arg))
                await s.send(UserStoppedSpeakingFrame())
            elif kind == "interrupt":
                await s.send(InterruptionFrame())
            else:
                await asyncio.sleep(float(arg))
            assert check_messages(context.messages) is None, context.messages
        # Let whatever is still running finish (uninterruptible tools, the last reply).
        async with asyncio.timeout(5):
            while llm.function_calls_in_progress:
                await asyncio.sleep(0.01)
        final = True
        ends = len(s.down.of(LLMFullResponseEndFrame))
        await s.send(UserStartedSpeakingFrame(), TranscriptionFrame(text="are you there"))
        await s.send(UserStoppedSpeakingFrame())
        await s.down.wait_until(
            lambda: (
                context.messages[-1] == {"role": "assistant", "content": "I am listening"}
                and len(s.down.of(LLMFullResponseEndFrame)) > ends
            )
        )
    assert check_messages(context.messages) is None, context.messages
    assert [e for e in s.errors if e.fatal] == []
    # No text of an interrupted reply reaches the end of the pipeline after the interruption:
    # between an InterruptionFrame and the next reply's start, no text arrives.
    stale = False
    for frame in s.down.frames:
        if isinstance(frame, InterruptionFrame):
            stale = True
        elif isinstance(frame, LLMFullResponseStartFrame):
            stale = False
        elif isinstance(frame, LLMTextFrame | TTSTextFrame):
            assert not stale, f"{frame} arrived after an interruption"

    # Every tool call has exactly one answer, and none is left "in progress".
    tool_messages = [m for m in context.messages if m["role"] == "tool"]
    assert all("in_progress" not in str(m["content"]) for m in tool_messages)


SUPPRESS = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


@settings(max_examples=40, deadline=None, suppress_health_check=SUPPRESS)
@given(script=turns, schedule=actions)
async def test_any_schedule_leaves_a_valid_context_and_the_pipeline_listening(
    script: list[ScriptedTurn], schedule: list[tuple[str, str]]
) -> None:
    def make(rule: Callable[[LLMContext], ScriptedTurn | str]) -> LLMService:
        return ScriptedLLMService(rule=rule, token_delay_secs=0.002, max_tool_rounds=3)

    await run_schedule(make, script, schedule)


@settings(max_examples=20, deadline=None, suppress_health_check=SUPPRESS)
@given(script=turns, schedule=actions)
async def test_any_schedule_through_the_openai_sdk_never_sends_an_invalid_history(
    script: list[ScriptedTurn], schedule: list[tuple[str, str]]
) -> None:
    ids = itertools.count(1)
    async with FakeOpenAIServer() as server:

        def make(rule: Callable[[LLMContext], ScriptedTurn | str]) -> LLMService:
            llm = OpenAILLMService(api_key="sk", base_url=server.base_url, max_tool_rounds=3)

            def respond(request: RecordedRequest) -> StreamResponse:
                turn = rule(llm.context)
                if isinstance(turn, str):
                    turn = ScriptedTurn(turn)
                return turn_to_response(turn, ids)

            server.responder = respond
            return llm

        await run_schedule(make, script, schedule)
    # The fake answers 400 to any history the real API would reject.
    assert [r.status for r in server.requests if r.status != 200] == []


async def test_run_inference_returns_text_without_frames_or_context_changes() -> None:
    llm = ScriptedLLMService(["A short summary."])
    context = LLMContext(messages=[{"role": "user", "content": "summarize"}])
    assert await llm.run_inference(context) == "A short summary."
    assert context.messages == [{"role": "user", "content": "summarize"}]
    assert llm.requests[0][1] == "none"
