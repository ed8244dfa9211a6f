"""A reply the server cut off (``finish_reason`` ``length`` / ``content_filter``) is visible.

Found against llama.cpp's OpenAI-compatible server: a reply cut by the token limit entered the
context looking complete and nothing told the application. The fake OpenAI server ends streams
with each reason; the real openai SDK parses them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.llm_helpers import Session
from vani.frames import (
    FunctionCallsStartedFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMTruncationMetricsData,
    MetricsFrame,
)
from vani.processors.aggregators import LLMContext
from vani.services.llm import FunctionCallParams, ScriptedLLMService, ScriptedTurn
from vani.services.openai import OpenAILLMService
from vani.testing.fake_openai import (
    FakeOpenAIServer,
    StreamResponse,
    check_messages,
    text_response,
    tool_call,
)

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look something up.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as fake:
        yield fake


def make_llm(server: FakeOpenAIServer) -> OpenAILLMService:
    return OpenAILLMService(api_key="sk-test", base_url=server.base_url, model="gpt-4o-mini")


def end_frames(session: Session) -> list[LLMFullResponseEndFrame]:
    return [f for f in session.down.of(LLMFullResponseEndFrame)]  # type: ignore[misc]


def truncations(session: Session) -> list[LLMTruncationMetricsData]:
    return [
        d
        for f in session.down.of(MetricsFrame)
        for d in f.data  # type: ignore[attr-defined]
        if isinstance(d, LLMTruncationMetricsData)
    ]


@pytest.mark.parametrize("reason", ["length", "content_filter"])
async def test_a_cut_off_reply_is_marked_reported_and_kept_as_said(
    server: FakeOpenAIServer, reason: str
) -> None:
    server.enqueue(text_response("The large pizza costs", " four hundred", finish=reason))
    llm = make_llm(server)
    seen: list[tuple[str, str]] = []

    @llm.event_handler("on_response_truncated")
    async def on_truncated(service: OpenAILLMService, finish_reason: str, text: str) -> None:
        seen.append((finish_reason, text))

    context = LLMContext(messages=[{"role": "user", "content": "Price?"}])
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_for(LLMFullResponseEndFrame)
    (end,) = end_frames(s)
    assert end.finish_reason == reason and end.truncated
    (metric,) = truncations(s)  # reported even with metrics switched off
    assert metric.finish_reason == reason and metric.model == "gpt-4o-mini"
    assert seen == [(reason, "The large pizza costs four hundred")]
    assert context.messages[-1] == {
        "role": "assistant",
        "content": "The large pizza costs four hundred",
    }


async def test_a_complete_reply_says_stop_and_reports_nothing(server: FakeOpenAIServer) -> None:
    server.enqueue(text_response("Done."))
    async with Session([make_llm(server)]) as s:
        await s.send(
            LLMContextFrame(context=LLMContext(messages=[{"role": "user", "content": "x"}]))
        )
        await s.down.wait_for(LLMFullResponseEndFrame)
    (end,) = end_frames(s)
    assert end.finish_reason == "stop" and not end.truncated
    assert truncations(s) == []


async def test_a_tool_call_cut_by_the_token_limit_is_not_run_and_the_context_stays_valid(
    server: FakeOpenAIServer,
) -> None:
    # The arguments stop mid-string: running the call would act on half an argument.
    server.enqueue(
        StreamResponse(tool_call("call_1", "lookup", '{"q": "large piz'), finish="length")
    )
    llm = make_llm(server)
    ran: list[FunctionCallParams] = []

    async def lookup(params: FunctionCallParams) -> str:
        ran.append(params)
        return "found"

    llm.register_function("lookup", lookup)
    context = LLMContext(messages=[{"role": "user", "content": "find"}], tools=[TOOL])
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_for(LLMFullResponseEndFrame)
    (end,) = end_frames(s)
    assert end.finish_reason == "length"
    assert ran == [] and s.down.of(FunctionCallsStartedFrame) == []
    assert check_messages(context.messages) is None
    assert all("tool_calls" not in m for m in context.messages)
    assert len(server.chat_requests) == 1  # the LLM was not run again for a dropped call


async def test_a_whole_tool_call_says_tool_calls(server: FakeOpenAIServer) -> None:
    server.enqueue(StreamResponse(tool_call("call_1", "lookup", '{"q": "x"}')), text_response("ok"))
    llm = make_llm(server)

    async def lookup(params: FunctionCallParams) -> str:
        return "found"

    llm.register_function("lookup", lookup)
    context = LLMContext(messages=[{"role": "user", "content": "find"}], tools=[TOOL])
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    assert [e.finish_reason for e in end_frames(s)] == ["tool_calls", "stop"]


async def test_the_scripted_llm_reports_finish_reasons_like_the_api() -> None:
    llm = ScriptedLLMService([ScriptedTurn(text="Hello.")])
    async with Session([llm]) as s:
        await s.send(
            LLMContextFrame(context=LLMContext(messages=[{"role": "user", "content": "x"}]))
        )
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert [e.finish_reason for e in end_frames(s)] == ["stop"]
