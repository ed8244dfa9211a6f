"""OpenAILLMService against the fake server on 127.0.0.1: on vani's own connection (the
default) and through the real openai SDK's client (a client given, or a proxy in the way)."""

from __future__ import annotations

import asyncio
import json
import time
import types
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import vani.services._http
from tests.llm_helpers import Session
from vani.errors import AuthenticationError, ConfigurationError, RateLimitError
from vani.frames import (
    FunctionCallCancelFrame,
    FunctionCallDataFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
    LLMTextFrame,
    LLMUsageMetricsData,
    MetricsFrame,
    TTFBMetricsData,
)
from vani.processors.aggregators import LLMContext
from vani.services.llm import FunctionCallParams, ToolResult
from vani.services.openai import OpenAILLMService
from vani.testing.fake_openai import (
    Chunk,
    Disconnect,
    Done,
    ErrorEvent,
    FakeOpenAIServer,
    Finish,
    Pause,
    Raw,
    StreamResponse,
    Text,
    check_messages,
    error_response,
    text_response,
    tool_call,
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
TIME_TOOL = {
    "type": "function",
    "function": {"name": "get_time", "description": "Time now.", "parameters": {}},
}


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as fake:
        yield fake


def make_llm(server: FakeOpenAIServer, **kwargs: object) -> OpenAILLMService:
    return OpenAILLMService(
        api_key="sk-test", base_url=server.base_url, model="gpt-4o-mini", **kwargs
    )


def user_context(text: str = "Hi", **kwargs: object) -> LLMContext:
    return LLMContext(messages=[{"role": "user", "content": text}], **kwargs)  # type: ignore[arg-type]


def texts(session: Session) -> list[str]:
    return [f.text for f in session.down.of(LLMTextFrame)]  # type: ignore[attr-defined]


async def test_text_streams_as_one_llm_text_frame_per_token(server: FakeOpenAIServer) -> None:
    # Each token in a read of its own (the fake pauses between them), as a server streams.
    server.enqueue(
        StreamResponse(
            [Text("Hello"), Pause(0.001), Text(" there"), Pause(0.001), Text(", friend")]
        )
    )
    llm = make_llm(server)
    context = user_context()
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_for(LLMFullResponseEndFrame)
    kinds = [type(f) for f in s.down.frames]
    assert kinds == [
        LLMFullResponseStartFrame,
        LLMTextFrame,
        LLMTextFrame,
        LLMTextFrame,
        LLMFullResponseEndFrame,
    ]
    assert texts(s) == ["Hello", " there", ", friend"]
    assert context.messages[-1] == {"role": "assistant", "content": "Hello there, friend"}
    body = server.chat_requests[0].body
    assert isinstance(body, dict)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert "tools" not in body and "tool_choice" not in body


@pytest.mark.parametrize("usage", [True, False])
async def test_tokens_read_together_are_one_llm_text_frame(
    server: FakeOpenAIServer, usage: bool
) -> None:
    # The whole stream in one write: one read, one frame with every token's text, in order;
    # the usage chunk (sent after the text, before [DONE]) keeps its place after it.
    server.enqueue(text_response("Hello", " there", ", friend", coalesce=True))
    context = user_context()
    llm = make_llm(server, include_usage=usage)
    async with Session([llm], enable_usage_metrics=True) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_for(LLMFullResponseEndFrame)
    kinds = [type(f) for f in s.down.frames]
    metrics = [MetricsFrame] if usage else []
    assert kinds == [LLMFullResponseStartFrame, LLMTextFrame, *metrics, LLMFullResponseEndFrame]
    assert texts(s) == ["Hello there, friend"]
    assert context.messages[-1] == {"role": "assistant", "content": "Hello there, friend"}


async def test_metrics_report_time_to_first_token_and_usage(server: FakeOpenAIServer) -> None:
    server.enqueue(text_response("a", "b"))
    llm = make_llm(server)
    async with Session([llm], enable_metrics=True, enable_usage_metrics=True) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
    data = [d for f in s.down.of(MetricsFrame) for d in f.data]  # type: ignore[attr-defined]
    ttfb = [d for d in data if isinstance(d, TTFBMetricsData)]
    usage = [d for d in data if isinstance(d, LLMUsageMetricsData)]
    assert len(ttfb) == 1 and ttfb[0].value > 0
    assert len(usage) == 1 and usage[0].completion_tokens == 2 and usage[0].total_tokens == 12


async def test_max_tokens_field_name_is_configurable(server: FakeOpenAIServer) -> None:
    server.enqueue(text_response("a"), text_response("b"))
    context = user_context()
    for field in ("max_completion_tokens", "max_tokens"):
        llm = make_llm(server, max_tokens=64, max_tokens_field=field, temperature=0.2)
        async with Session([llm]) as s:
            await s.send(LLMContextFrame(context=context))
            await s.down.wait_for(LLMFullResponseEndFrame)
    first, second = (r.body for r in server.chat_requests)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["max_completion_tokens"] == 64 and "max_tokens" not in first
    assert second["max_tokens"] == 64 and "max_completion_tokens" not in second
    assert first["temperature"] == 0.2


async def test_one_tool_call_runs_the_handler_then_the_llm_with_its_result(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(
        StreamResponse(tool_call("call_abc", "get_weather", '{"city": "Pune"}', split=3)),
        text_response("It is 31 degrees."),
    )
    llm = make_llm(server)
    seen: list[FunctionCallParams] = []

    async def get_weather(params: FunctionCallParams) -> dict[str, int]:
        seen.append(params)
        return {"temp_c": 31}

    llm.register_function("get_weather", get_weather)
    context = user_context("Weather in Pune?", tools=[WEATHER_TOOL], tool_choice="auto")
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    assert seen[0].arguments == {"city": "Pune"} and seen[0].tool_call_id == "call_abc"
    assert seen[0].context is context and seen[0].llm is llm
    kinds = [type(f).__name__ for f in s.down.frames]
    assert kinds == [
        "LLMFullResponseStartFrame",
        "LLMFullResponseEndFrame",
        "FunctionCallsStartedFrame",
        "FunctionCallInProgressFrame",
        "FunctionCallResultFrame",
        "LLMFullResponseStartFrame",
        "LLMTextFrame",
        "LLMFullResponseEndFrame",
    ]
    second = server.chat_requests[1]
    assert second.messages[1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Pune"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_abc", "content": '{"temp_c": 31}'},
    ]
    body = second.body
    assert isinstance(body, dict)
    assert body["tools"] == [WEATHER_TOOL] and body["tool_choice"] == "auto"
    assert check_messages(context.messages) is None


async def test_parallel_calls_run_concurrently_and_results_keep_call_order(
    server: FakeOpenAIServer,
) -> None:
    # Interleaved fragments of two calls; the slow one was called first.
    first = tool_call("call_1", "get_weather", '{"city": "Delhi"}', index=0, split=4)
    second = tool_call("call_2", "get_time", "{}", index=1)
    parts = [
        first[0],
        second[0],
        *[p for pair in zip(first[1:], second[1:], strict=False) for p in pair],
    ]
    parts += first[len(second) :]
    server.enqueue(StreamResponse(parts), text_response("Done."))
    llm = make_llm(server)
    running = 0
    peak = 0

    async def handler(params: FunctionCallParams) -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05 if params.function_name == "get_weather" else 0.01)
        running -= 1
        return f"result of {params.function_name}"

    llm.register_function("get_weather", handler)
    llm.register_function("get_time", handler)
    context = user_context(tools=[WEATHER_TOOL, TIME_TOOL])
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    assert peak == 2
    assert len(server.chat_requests) == 2  # the LLM ran once after both results
    results = s.down.of(FunctionCallResultFrame)
    assert [r.tool_call_id for r in results] == ["call_1", "call_2"]  # type: ignore[attr-defined]
    tool_messages = [m for m in server.chat_requests[1].messages if m["role"] == "tool"]
    assert tool_messages == [
        {"role": "tool", "tool_call_id": "call_1", "content": "result of get_weather"},
        {"role": "tool", "tool_call_id": "call_2", "content": "result of get_time"},
    ]


async def test_arguments_split_one_character_at_a_time_with_multibyte_utf8(
    server: FakeOpenAIServer,
) -> None:
    arguments = json.dumps(
        {"city": "पुणे", "note": 'a "quoted" \\ path', "emoji": "☔"}, ensure_ascii=False
    )
    server.enqueue(
        StreamResponse(tool_call("call_u", "get_weather", arguments, split=1), write_size=37),
        text_response("ok"),
    )
    llm = make_llm(server)
    got: list[str] = []

    async def handler(params: FunctionCallParams) -> str:
        got.append(params.raw_arguments)
        return "fine"

    llm.register_function("get_weather", handler)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context(tools=[WEATHER_TOOL])))
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    assert got == [arguments]
    call = server.chat_requests[1].messages[1]["tool_calls"][0]  # type: ignore[index]
    assert call["function"]["arguments"] == arguments


async def test_ollama_style_index_reuse_is_told_apart_by_id(server: FakeOpenAIServer) -> None:
    parts = [
        *tool_call("call_a", "get_weather", '{"city": "Goa"}', index=0),
        *tool_call("call_b", "get_time", "{}", index=0),
    ]
    server.enqueue(StreamResponse(parts), text_response("ok"))
    llm = make_llm(server)
    calls: list[tuple[str, str]] = []

    async def handler(params: FunctionCallParams) -> str:
        calls.append((params.tool_call_id, params.raw_arguments))
        return "x"

    llm.register_function(None, handler)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context(tools=[WEATHER_TOOL, TIME_TOOL])))
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    assert sorted(calls) == [("call_a", '{"city": "Goa"}'), ("call_b", "{}")]
    started = s.down.of(FunctionCallsStartedFrame)[0]
    assert [c.function_name for c in started.function_calls] == ["get_weather", "get_time"]  # type: ignore[attr-defined]


async def test_text_then_tool_call_keeps_the_text_on_the_assistant_message(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(
        StreamResponse([Text("Let me check."), *tool_call("c1", "get_time", "{}")]),
        text_response("Noon."),
    )
    llm = make_llm(server)

    async def handler(params: FunctionCallParams) -> str:
        return "12:00"

    llm.register_function("get_time", handler)
    context = user_context(tools=[TIME_TOOL])
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    assert context.messages[1]["content"] == "Let me check."
    assert context.messages[-1] == {"role": "assistant", "content": "Noon."}


async def test_mid_stream_error_event_ends_cleanly_with_a_non_fatal_error(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(StreamResponse([Text("Hel"), ErrorEvent("overloaded")]), text_response("ok"))
    llm = make_llm(server)
    context = user_context()
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_for(LLMFullResponseEndFrame)
        assert [e.fatal for e in s.errors] == [False]
        assert "overloaded" in s.errors[0].error
        # The pipeline still works: the next turn runs.
        await s.send(LLMRunFrame())
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    assert texts(s) == ["Hel", "ok"]
    assert check_messages(context.messages) is None


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param([Text("Hel"), Disconnect()], id="disconnect-without-done"),
        pytest.param([Text("Hel"), Raw(b'data: {"id": "x", "choi'), Disconnect()], id="truncated"),
        pytest.param([Text("Hel"), Raw(b"data: not json\n\n")], id="invalid-json-line"),
    ],
)
async def test_broken_streams_end_the_response_with_a_non_fatal_error(
    server: FakeOpenAIServer, broken: list[object]
) -> None:
    server.enqueue(StreamResponse(broken))  # type: ignore[arg-type]
    llm = make_llm(server)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
        await s.up.wait_until(lambda: bool(s.errors))
    assert texts(s) == ["Hel"]
    assert [e.fatal for e in s.errors] == [False]


async def test_finish_reason_without_done_is_a_complete_response(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(
        StreamResponse([Text("a"), Pause(0.01), Text("b")], done=False, crlf=True, coalesce=True)
    )
    llm = make_llm(server)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert texts(s) == ["a", "b"] and s.errors == []


async def test_keepalive_comments_event_lines_and_unknown_keys_are_ignored(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(
        StreamResponse(
            [
                Raw(b": keepalive\n\n"),
                Text("a"),
                Raw(b"event: message\n"),
                Chunk(
                    {
                        "id": "x",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": "m",
                        "choices": [{"index": 0, "delta": {"content": "b"}, "finish_reason": None}],
                        "moderation": {"flagged": False},
                    }
                ),
            ],
            obfuscation=True,
            usage_null_field=False,
        )
    )
    llm = make_llm(server)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert "".join(texts(s)) == "ab" and s.errors == []


async def test_429_with_retry_after_is_retried_then_succeeds(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(error_response(429, headers={"retry-after": "0.2"}), text_response("ok"))
    llm = make_llm(server)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert texts(s) == ["ok"] and s.errors == []
    assert [r.status for r in server.requests] == [429, 200]


async def test_401_is_a_fatal_error_that_names_the_api_key(server: FakeOpenAIServer) -> None:
    server.enqueue(error_response(401))
    llm = make_llm(server)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.up.wait_until(lambda: bool(s.errors))
    assert [e.fatal for e in s.errors] == [True]
    assert isinstance(s.errors[0].exception, AuthenticationError)
    assert "api key" in s.errors[0].error
    assert len(server.requests) == 1  # never retried


async def test_insufficient_quota_is_fatal_and_not_retried(server: FakeOpenAIServer) -> None:
    server.enqueue(
        error_response(
            429, type="insufficient_quota", code="insufficient_quota", message="No quota."
        )
    )
    llm = make_llm(server, max_retries=0)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.up.wait_until(lambda: bool(s.errors))
    assert [e.fatal for e in s.errors] == [True]
    assert isinstance(s.errors[0].exception, RateLimitError)
    assert "quota" in s.errors[0].error


async def test_server_error_after_retries_is_non_fatal(server: FakeOpenAIServer) -> None:
    server.enqueue(
        error_response(500, headers={"retry-after-ms": "10"}),
        error_response(503, headers={"retry-after-ms": "10"}),
    )
    llm = make_llm(server, max_retries=1)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.up.wait_until(lambda: bool(s.errors))
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert [e.fatal for e in s.errors] == [False]
    assert "503" in s.errors[0].error


async def test_interruption_mid_stream_closes_the_connection_and_drops_later_tokens(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(StreamResponse([Text("One"), Text(" two"), Pause(5), Text(" three")]))
    llm = make_llm(server)
    context = user_context()
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await s.down.wait_until(lambda: "".join(texts(s)) == "One two")
        await s.send(InterruptionFrame())
        await s.down.wait_for(InterruptionFrame)
        marker = len(s.down.frames)
        async with asyncio.timeout(2):
            while not server.requests[0].disconnected:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    assert server.requests[0].disconnected and not server.requests[0].completed
    after = s.down.frames[marker:]
    assert not [f for f in after if isinstance(f, LLMTextFrame | LLMFullResponseEndFrame)]
    assert "".join(texts(s)) == "One two"


async def test_interruption_cancels_a_running_tool_and_its_result_never_enters_context(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(StreamResponse(tool_call("call_x", "hang_up", "{}")))
    llm = make_llm(server)
    started = asyncio.Event()
    side_effects: list[str] = []

    async def hang_up(params: FunctionCallParams) -> str:
        started.set()
        await asyncio.sleep(5)
        side_effects.append("hung up")
        return "done"

    llm.register_function("hang_up", hang_up)
    context = user_context(tools=[{"type": "function", "function": {"name": "hang_up"}}])
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await asyncio.wait_for(started.wait(), 5)
        await s.send(InterruptionFrame())
        await s.down.wait_for(FunctionCallCancelFrame)
        assert llm.function_calls_in_progress == []
    assert side_effects == []
    assert not s.down.of(FunctionCallResultFrame)
    assert context.messages[-1]["role"] == "tool"
    assert "cancelled" in str(context.messages[-1]["content"])
    assert check_messages(context.messages) is None
    assert len(server.chat_requests) == 1


async def test_uninterruptible_data_handler_finishes_into_context_without_running_the_llm(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(StreamResponse(tool_call("call_o", "place_order", '{"item": "tea"}')))
    llm = make_llm(server)
    started = asyncio.Event()
    release = asyncio.Event()

    async def place_order(params: FunctionCallParams) -> ToolResult:
        started.set()
        await release.wait()
        return ToolResult(summary={"order": "placed"}, data={"receipt": "SECRET-RECEIPT-42"})

    llm.register_function("place_order", place_order, cancel_on_interruption=False)
    context = user_context(tools=[{"type": "function", "function": {"name": "place_order"}}])
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await asyncio.wait_for(started.wait(), 5)
        await s.send(InterruptionFrame())
        await asyncio.sleep(0.02)
        # The user spoke again while the order is still being placed: the history stays valid.
        context.add_message({"role": "user", "content": "and a biscuit"})
        assert check_messages(context.messages) is None
        release.set()
        await s.down.wait_for(FunctionCallResultFrame)
        await asyncio.sleep(0.05)
        server.enqueue(text_response("Tea and biscuit."))
        await s.send(LLMRunFrame())
        await s.down.wait_for(LLMFullResponseEndFrame, 2)
    assert not s.down.of(FunctionCallCancelFrame)
    assert len(server.chat_requests) == 2  # no LLM run for the late result itself
    data = s.down.of(FunctionCallDataFrame)
    assert [d.data for d in data] == [{"receipt": "SECRET-RECEIPT-42"}]  # type: ignore[attr-defined]
    tool = [m for m in server.chat_requests[1].messages if m["role"] == "tool"]
    assert tool == [{"role": "tool", "tool_call_id": "call_o", "content": '{"order": "placed"}'}]
    for request in server.requests:
        assert b"SECRET-RECEIPT-42" not in request.raw_body
    assert s.down.of(FunctionCallInProgressFrame)[0].cancel_on_interruption is False  # type: ignore[attr-defined]


async def test_interruption_while_tool_calls_stream_never_starts_them(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(StreamResponse([*tool_call("call_h", "hang_up", "{}"), Pause(5)]))
    llm = make_llm(server)
    called: list[str] = []

    async def hang_up(params: FunctionCallParams) -> str:
        called.append(params.tool_call_id)
        return "hung up"

    llm.register_function("hang_up", hang_up)
    context = user_context(tools=[{"type": "function", "function": {"name": "hang_up"}}])
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await server.wait_for_requests(1)
        await asyncio.sleep(0.05)
        await s.send(InterruptionFrame())
        await asyncio.sleep(0.05)
    assert called == [] and not s.down.of(FunctionCallsStartedFrame)
    assert [m["role"] for m in context.messages] == ["user"]


@pytest.mark.parametrize("kind", ["simple", "data"])
async def test_interrupted_tool_of_either_kind_is_cancelled_without_side_effects(
    server: FakeOpenAIServer, kind: str
) -> None:
    server.enqueue(StreamResponse(tool_call("call_k", "book", "{}")))
    llm = make_llm(server)
    started = asyncio.Event()
    effects: list[str] = []

    async def book(params: FunctionCallParams) -> str | ToolResult:
        started.set()
        await asyncio.sleep(5)
        effects.append("booked")
        return "booked" if kind == "simple" else ToolResult(summary="booked", data={"id": 1})

    llm.register_function("book", book)
    context = user_context(tools=[{"type": "function", "function": {"name": "book"}}])
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=context))
        await asyncio.wait_for(started.wait(), 5)
        await s.send(InterruptionFrame())
        await s.down.wait_for(FunctionCallCancelFrame)
    assert effects == [] and not s.down.of(FunctionCallDataFrame | FunctionCallResultFrame)
    assert "cancelled" in str(context.messages[-1]["content"])


async def test_403_is_fatal(server: FakeOpenAIServer) -> None:
    server.enqueue(error_response(403))
    llm = make_llm(server)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.up.wait_until(lambda: bool(s.errors))
    assert [e.fatal for e in s.errors] == [True]
    assert "403" in s.errors[0].error


async def test_unreachable_server_is_a_non_fatal_error_and_the_response_ends() -> None:
    async with FakeOpenAIServer() as gone:
        base_url = gone.base_url  # a port nobody listens on once closed
    llm = OpenAILLMService(api_key="sk", base_url=base_url, max_retries=0)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert [e.fatal for e in s.errors] == [False]
    assert "could not reach" in s.errors[0].error


async def test_run_inference_streams_out_of_band(server: FakeOpenAIServer) -> None:
    server.enqueue(text_response("Sum", "mary"))
    llm = make_llm(server)
    context = user_context(tools=[TIME_TOOL])
    assert await llm.run_inference(context) == "Summary"
    assert server.chat_requests[0].body["tool_choice"] == "none"  # type: ignore[index]
    assert len(context.messages) == 1


async def test_the_service_releases_its_connection_at_the_end_and_can_run_again() -> None:
    async with _CountingServer() as server:
        server.enqueue(text_response("one"), text_response("two"))
        llm = make_llm(server)
        for _ in range(2):
            async with Session([llm]) as s:
                await s.send(LLMContextFrame(context=user_context()))
                await s.down.wait_for(LLMFullResponseEndFrame)
            async with asyncio.timeout(2):
                while server.closed < server.accepted:  # the server saw the socket close
                    await asyncio.sleep(0.01)
        assert [r.status for r in server.requests] == [200, 200]
        assert server.accepted == 2  # each run its own connection, closed at its end


async def test_a_client_given_by_the_caller_carries_the_requests_and_is_left_open(
    server: FakeOpenAIServer,
) -> None:
    import openai

    server.enqueue(text_response("Hel", "lo"), text_response("again"))
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=server.base_url)
    llm = OpenAILLMService(client=client, model="gpt-4o-mini")
    assert llm.client is client
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert texts(s) == ["Hel", "lo"] and s.errors == []
    assert server.requests[0].headers["user-agent"].startswith("AsyncOpenAI/")
    assert not client.is_closed()
    # The default service sends the same body on vani's own connection.
    direct = make_llm(server)
    async with Session([direct]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert server.requests[1].headers["user-agent"].startswith("vani/")
    assert server.requests[1].headers["authorization"] == "Bearer sk-test"
    assert server.requests[1].body == server.requests[0].body
    await client.close()


async def test_scripted_service_emits_exactly_the_frames_of_the_openai_service(
    server: FakeOpenAIServer,
) -> None:
    from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn

    server.enqueue(
        # Tokens read apart, as the scripted service emits them (a frame each).
        StreamResponse(
            [Text("Let"), Pause(0.001), Text(" me"), *tool_call("c1", "get_time", "{}")]
        ),
        StreamResponse([Text("It"), Pause(0.001), Text(" is"), Pause(0.001), Text(" noon.")]),
    )
    scripted = ScriptedLLMService(
        [ScriptedTurn(["Let", " me"], [ScriptedToolCall("get_time", {}, id="c1")]), "It is noon."]
    )
    sequences = []
    for llm in (make_llm(server), scripted):

        async def get_time(params: FunctionCallParams) -> str:
            return "12:00"

        llm.register_function("get_time", get_time)
        async with Session([llm], enable_metrics=True, enable_usage_metrics=True) as s:
            await s.send(LLMContextFrame(context=user_context(tools=[TIME_TOOL])))
            await s.down.wait_for(LLMFullResponseEndFrame, 2)
        sequences.append(
            [
                (type(f).__name__, getattr(f, "text", None))
                for f in s.down.frames
                if not isinstance(f, MetricsFrame)
            ]
        )
        assert len(s.down.of(MetricsFrame)) == 4  # TTFB and usage, per response
    assert sequences[0] == sequences[1]


class _CountingServer(FakeOpenAIServer):
    """The fake, counting the connections it accepted; ``idle_close_secs`` closes a connection
    that long after its last response, as servers with a short keep-alive do."""

    def __init__(self, idle_close_secs: float | None = None) -> None:
        super().__init__()
        self.accepted = 0
        self.closed = 0
        self._idle_close_secs = idle_close_secs

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            await self._serve_counted(reader, writer)
        finally:
            self.closed += 1

    async def _serve_counted(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._idle_close_secs is None:
            await super()._serve(reader, writer)
            return
        served = len(self.requests)

        async def close_when_idle() -> None:
            # Only once this connection's response has been written in full: it is idle then.
            while True:
                await asyncio.sleep(self._idle_close_secs)  # type: ignore[arg-type]
                mine = self.requests[served:]
                if mine and all(r.completed for r in mine):
                    writer.close()
                    return

        closer = asyncio.create_task(close_when_idle())
        try:
            await super()._serve(reader, writer)
        finally:
            closer.cancel()


async def _two_turns(llm: OpenAILLMService, gap: Callable[[], Awaitable[None]]) -> Session:
    async with Session([llm]) as s:
        for _ in range(2):
            await s.send(LLMContextFrame(context=user_context()))
            await s.down.wait_for(LLMFullResponseEndFrame)
            s.down.frames.clear()
            await gap()
    return s


async def test_an_idle_connection_outlives_the_sdks_five_seconds_for_the_next_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Turns of a call are often more than 5 s apart (the SDK's default keep-alive): each would
    # pay a new handshake. The pool's clock is moved 30 s on between the turns.
    async with _CountingServer() as server:
        server.enqueue(text_response("one"), text_response("two"))
        llm = make_llm(server)

        async def thirty_seconds_later() -> None:
            real = time.monotonic
            later = types.SimpleNamespace(monotonic=lambda: real() + 30.0)
            monkeypatch.setattr(vani.services._http, "time", later)

        s = await _two_turns(llm, thirty_seconds_later)
        assert not s.errors
        assert [r.status for r in server.requests] == [200, 200]
        assert server.accepted == 1


async def test_keepalive_secs_bounds_how_long_an_idle_connection_is_kept() -> None:
    async with _CountingServer() as server:
        server.enqueue(text_response("one"), text_response("two"))
        s = await _two_turns(make_llm(server, keepalive_secs=0.05), lambda: asyncio.sleep(0.2))
        assert not s.errors
        assert server.accepted == 2
    with pytest.raises(ConfigurationError, match="keepalive_secs"):
        make_llm(server, keepalive_secs=-1)


async def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error() -> None:
    async with _CountingServer(idle_close_secs=0.05) as server:
        server.enqueue(text_response("one"), text_response("two"))
        s = await _two_turns(make_llm(server), lambda: asyncio.sleep(0.3))
        assert not s.errors
        assert [r.status for r in server.requests] == [200, 200]
        assert server.accepted == 2


async def _one_reply_then_another(
    tail: Pause | Disconnect,
) -> tuple[_CountingServer, Session, LLMContext]:
    """ "One." ended by [DONE] and then ``tail`` (the rest of its body), then "Two.": both turns
    on one context."""
    async with _CountingServer() as server:
        server.enqueue(
            StreamResponse([Text("One."), Finish("stop"), Done(), tail]),
            text_response("Two."),
        )
        context = user_context()
        async with Session([make_llm(server)]) as s:
            await s.send(LLMContextFrame(context=context))
            await s.down.wait_for(LLMFullResponseEndFrame)
            if isinstance(tail, Pause):
                assert not server.requests[0].completed  # the end of its body is still to come
                end = s.down.of(LLMFullResponseEndFrame)[0]
                assert end.finish_reason == "stop"  # type: ignore[attr-defined]
                assert context.messages[-1] == {"role": "assistant", "content": "One."}
            await s.send(LLMContextFrame(context=context))
            await s.down.wait_until(lambda: len(s.down.of(LLMFullResponseEndFrame)) == 2)
    return server, s, context


async def test_a_reply_ends_at_done_and_its_body_is_still_read_for_the_next_turn() -> None:
    # [DONE] ends the reply: its end (and the TTS's last sentence) goes down then, not after
    # the server's last write of the body, which this server holds back for 2 s. The body is
    # still read to its end, so the next turn is served on the same connection.
    server, s, _ = await _one_reply_then_another(Pause(2.0))
    assert not s.errors
    assert texts(s) == ["One.", "Two."]
    assert server.requests[0].completed
    assert server.accepted == 1


async def test_a_body_that_breaks_after_done_leaves_the_reply_whole_and_reports_nothing() -> None:
    server, s, context = await _one_reply_then_another(Disconnect())
    assert not s.errors
    assert texts(s) == ["One.", "Two."]
    assert [m["content"] for m in context.messages if m["role"] == "assistant"] == [
        "One.",
        "Two.",
    ]
    assert server.accepted == 2  # the broken connection was not reused


async def test_a_tool_call_waits_for_the_end_of_the_body_before_it_runs() -> None:
    # Tool calls are kept out of the early end: until they run, an interruption must be able
    # to take them out of the context again.
    async with _CountingServer() as server:
        server.enqueue(
            StreamResponse(
                [*tool_call("call_1", "get_weather", '{"city": "Pune"}'), Done(), Pause(0.3)]
            ),
            text_response("Sunny."),
        )
        llm = make_llm(server)
        ran: list[bool] = []

        async def get_weather(params: FunctionCallParams) -> dict[str, str]:
            ran.append(server.requests[0].completed)
            return {"sky": "clear"}

        llm.register_function("get_weather", get_weather)
        async with Session([llm]) as s:
            await s.send(LLMContextFrame(context=user_context(tools=[WEATHER_TOOL])))
            await s.down.wait_until(lambda: len(s.down.of(LLMFullResponseEndFrame)) == 2)
        assert ran == [True]
        assert not s.errors


async def test_x_should_retry_false_is_obeyed(server: FakeOpenAIServer) -> None:
    server.enqueue(error_response(503, headers={"x-should-retry": "false"}), text_response("x"))
    llm = make_llm(server)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.up.wait_until(lambda: bool(s.errors))
        await s.down.wait_for(LLMFullResponseEndFrame)
    assert [r.status for r in server.requests] == [503]
    assert "503" in s.errors[0].error and not s.errors[0].fatal


async def test_a_server_that_never_answers_ends_the_turn_after_timeout_secs(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(StreamResponse([Pause(5), Text("late")]))
    llm = make_llm(server, timeout_secs=0.2, max_retries=0)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
        await s.up.wait_until(lambda: bool(s.errors))
    assert texts(s) == [] and not s.errors[0].fatal
    assert "within 0.2 s" in s.errors[0].error


def test_retry_delays_follow_the_servers_hints_else_back_off_with_jitter() -> None:
    from email.utils import formatdate

    from vani.services.openai import _retry_delay

    assert _retry_delay({"retry-after-ms": "250"}, 0) == 0.25
    assert _retry_delay({"retry-after": "2"}, 3) == 2.0
    assert 3 < _retry_delay({"retry-after": formatdate(time.time() + 5, usegmt=True)}, 0) <= 5
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (6, 8.0)]:
        for hints in ({}, {"retry-after": "600"}, {"retry-after": "soon"}):
            assert 0.75 * ceiling <= _retry_delay(hints, attempt) <= ceiling


def test_a_proxy_in_the_environment_sends_the_requests_through_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    url = "http://llm.internal:8000/v1"
    assert OpenAILLMService(api_key="k", base_url=url)._direct is not None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    assert OpenAILLMService(api_key="k", base_url=url)._direct is None
    monkeypatch.setenv("NO_PROXY", "llm.internal")
    target = OpenAILLMService(api_key="k", base_url=url)._direct
    assert target is not None and target.path == "/v1/chat/completions"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_url": "ftp://x/v1"}, "http"),
        ({"base_url": "http://:80/v1"}, "host"),
        ({"base_url": "http://x:99999/v1"}, "port"),
        ({"default_headers": {"X-A": "1\r\nX-Injected: 1"}}, "CR, LF"),
        ({"default_headers": {"Content-Length": "5"}}, "connection itself"),
        ({"timeout_secs": 0}, "timeout_secs"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_bad_options_fail_at_construction(kwargs: dict[str, object], match: str) -> None:
    kwargs.setdefault("base_url", "http://127.0.0.1:9/v1")
    with pytest.raises(ConfigurationError, match=match):
        OpenAILLMService(api_key="k", **kwargs)  # type: ignore[arg-type]


async def test_default_headers_go_out_and_replace_the_defaults(server: FakeOpenAIServer) -> None:
    server.enqueue(text_response("ok"))
    llm = make_llm(server, default_headers={"X-Trace": "t-1", "user-agent": "mybot/2"})
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
    headers = server.requests[0].headers
    assert headers["x-trace"] == "t-1" and headers["user-agent"] == "mybot/2"


async def test_on_a_kept_connection_the_request_leaves_before_the_start_frame_goes_down(
    server: FakeOpenAIServer,
) -> None:
    # The server works while the start frame's downstream work (the client's event, the
    # aggregators) runs. The first turn has no connection yet: nothing to send early.
    from vani.frames import Frame, FrameDirection
    from vani.processors import FrameProcessor

    server.enqueue(text_response("one"), text_response("two"))
    llm = make_llm(server)
    seen: list[bool | None] = []

    class Probe(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, LLMFullResponseStartFrame):
                early = llm._early
                seen.append(early.exchange.sent if early is not None else None)
            await self.push_frame(frame, direction)

    context = user_context()
    async with Session([llm, Probe()]) as s:
        for count in (1, 2):
            await s.send(LLMContextFrame(context=context))
            await s.down.wait_for(LLMFullResponseEndFrame, count)
    assert seen == [None, True]
    assert texts(s) == ["one", "two"] and s.errors == []
    # The early request carries the context as it stood: the first reply written into it.
    assert [m["content"] for m in server.chat_requests[1].messages] == ["Hi", "one"]
    assert check_messages(server.chat_requests[1].messages) is None


async def test_a_redirect_is_a_clear_error_not_followed(server: FakeOpenAIServer) -> None:
    server.enqueue(error_response(307, headers={"location": "https://elsewhere.example/v1"}))
    llm = make_llm(server)
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.up.wait_until(lambda: bool(s.errors))
    assert "redirects (307) to https://elsewhere.example/v1" in s.errors[0].error
    assert len(server.requests) == 1


async def test_organization_and_project_come_from_the_environment_as_with_the_sdk(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-1")
    server.enqueue(text_response("ok"))
    async with Session([make_llm(server)]) as s:
        await s.send(LLMContextFrame(context=user_context()))
        await s.down.wait_for(LLMFullResponseEndFrame)
    headers = server.requests[0].headers
    assert headers["openai-organization"] == "org-1" and headers["openai-project"] == "proj-1"
