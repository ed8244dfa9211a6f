"""The fake OpenAI server, exercised with the real openai SDK (protocols.md E.3)."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator

import openai
import pytest

from vani.frames import JSONObject
from vani.testing import FakeOpenAIServer
from vani.testing.fake_openai import (
    Disconnect,
    ErrorEvent,
    ErrorResponse,
    Finish,
    Pause,
    Raw,
    StreamResponse,
    Text,
    Usage,
    check_chat_request,
    check_messages,
    error_response,
    text_response,
    tool_call,
)

USER: list[JSONObject] = [{"role": "user", "content": "hi"}]


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as fake:
        yield fake


def client(server: FakeOpenAIServer, retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="sk-test", base_url=server.base_url, max_retries=retries)


async def collect(
    c: openai.AsyncOpenAI, messages: list[JSONObject] = USER, **kwargs: object
) -> tuple[str, list[object], list[str | None]]:
    """Stream one completion: (text, tool-call deltas, finish reasons incl. usage marker)."""
    stream = await c.chat.completions.create(
        model="m",
        messages=messages,  # type: ignore[arg-type]
        stream=True,
        **kwargs,  # type: ignore[call-overload]
    )
    text, calls, ends = "", [], []
    async for chunk in stream:
        if chunk.usage is not None:
            ends.append(f"usage:{chunk.usage.total_tokens}")
        for choice in chunk.choices:
            text += choice.delta.content or ""
            calls += choice.delta.tool_calls or []
            if choice.finish_reason:
                ends.append(choice.finish_reason)
    await c.close()
    return text, calls, ends


async def release(raised: pytest.ExceptionInfo[BaseException]) -> None:
    """Drop an exception raised inside the SDK's stream and let the stream's inner async
    generator finish closing now (its traceback keeps it alive; the SDK never closes it)."""
    raised.traceback = []  # type: ignore[assignment]
    del raised
    gc.collect()
    await asyncio.sleep(0.05)


async def test_streams_text_with_finish_usage_and_done(server: FakeOpenAIServer) -> None:
    server.enqueue(text_response("Hel", "lo"))
    text, _, ends = await collect(client(server), stream_options={"include_usage": True})
    assert text == "Hello" and ends == ["stop", "usage:12"]
    request = server.requests[0]
    assert request.completed and not request.disconnected
    assert request.body["stream_options"] == {"include_usage": True}  # type: ignore[index]
    assert request.headers["authorization"] == "Bearer sk-test"


async def test_no_usage_chunk_unless_asked_and_none_when_disabled(server: FakeOpenAIServer) -> None:
    server.enqueue(text_response("a"), text_response("a", usage=None))
    assert (await collect(client(server)))[2] == ["stop"]
    assert (await collect(client(server), stream_options={"include_usage": True}))[2] == ["stop"]


@pytest.mark.parametrize("write_size", [1, 2, 3, 7])
async def test_events_split_anywhere_even_inside_utf8_characters_decode_intact(
    server: FakeOpenAIServer, write_size: int
) -> None:
    server.enqueue(text_response("पुणे ", "☔ ", "ok", write_size=write_size, crlf=True))
    text, _, _ = await collect(client(server))
    assert text == "पुणे ☔ ok"


async def test_several_events_in_one_write_and_event_lines_and_comments(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(
        StreamResponse(
            [Raw(b": keepalive\n\n"), Text("a"), Raw(b"event: message\n"), Text("b")],
            coalesce=True,
            obfuscation=True,
            role_chunk=False,
        )
    )
    assert (await collect(client(server)))[0] == "ab"


async def test_tool_calls_fragments_keep_index_id_and_split_arguments(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(StreamResponse(tool_call("call_1", "f", '{"a": "é"}', split=1)))
    _, calls, ends = await collect(client(server))
    assert ends == ["tool_calls"]
    head = calls[0]
    assert head.id == "call_1" and head.function.name == "f"  # type: ignore[attr-defined]
    joined = "".join(c.function.arguments or "" for c in calls)  # type: ignore[attr-defined]
    assert joined == '{"a": "é"}' and len(calls) == 11


async def test_endings_length_content_filter_and_no_done(server: FakeOpenAIServer) -> None:
    server.enqueue(
        text_response("cut", finish="length"),
        StreamResponse([Text("x"), Finish("content_filter")]),
        text_response("no done", done=False),
    )
    assert (await collect(client(server)))[2] == ["length"]
    assert (await collect(client(server)))[2] == ["content_filter"]
    assert (await collect(client(server)))[0] == "no done"


async def test_mid_stream_error_event_raises_api_error(server: FakeOpenAIServer) -> None:
    server.enqueue(StreamResponse([Text("a"), ErrorEvent("boom", code="server_error")]))
    with pytest.raises(openai.APIError, match="boom") as raised:
        await collect(client(server))
    await release(raised)


@pytest.mark.parametrize(
    "parts",
    [[Text("a"), Disconnect()], [Text("a"), Raw(b'data: {"choices": [{"ind'), Disconnect()]],
    ids=["no-done", "truncated-json"],
)
async def test_a_dropped_stream_raises_a_connection_error(
    server: FakeOpenAIServer, parts: list[object]
) -> None:
    server.enqueue(StreamResponse(parts))  # type: ignore[arg-type]
    with pytest.raises(openai.APIConnectionError):
        await collect(client(server))


async def test_a_line_that_is_not_json_raises(server: FakeOpenAIServer) -> None:
    server.enqueue(StreamResponse([Raw(b"data: {not json}\n\n")]))
    with pytest.raises(ValueError, match="Expecting") as raised:
        await collect(client(server))
    await release(raised)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
async def test_status_errors_map_to_the_sdk_exceptions(
    server: FakeOpenAIServer, status: int, error: type[Exception]
) -> None:
    server.enqueue(error_response(status))
    with pytest.raises(error):
        await collect(client(server))


@pytest.mark.parametrize("body", [b"<html>Bad gateway</html>", b""], ids=["html", "empty"])
async def test_5xx_with_html_or_empty_body(server: FakeOpenAIServer, body: bytes) -> None:
    server.enqueue(ErrorResponse(502, body, content_type="text/html"))
    with pytest.raises(openai.InternalServerError):
        await collect(client(server))


async def test_retry_after_ms_is_honoured_then_succeeds(server: FakeOpenAIServer) -> None:
    server.enqueue(error_response(429, headers={"retry-after-ms": "50"}), text_response("ok"))
    started = time.monotonic()
    assert (await collect(client(server, retries=2)))[0] == "ok"
    assert time.monotonic() - started >= 0.05
    assert [r.status for r in server.requests] == [429, 200]


async def test_retry_after_over_two_minutes_and_x_should_retry_false_stop_retries(
    server: FakeOpenAIServer,
) -> None:
    # A retry would get the fake's "no scripted response left" 400 instead.
    server.enqueue(error_response(429, headers={"retry-after": "121"}))
    with pytest.raises(openai.RateLimitError):
        await collect(client(server, retries=2))
    server.enqueue(error_response(500, headers={"x-should-retry": "false"}))
    with pytest.raises(openai.InternalServerError):
        await collect(client(server, retries=2))
    assert [r.status for r in server.requests] == [429, 500]


async def test_slow_headers_and_a_pause_before_the_first_event(server: FakeOpenAIServer) -> None:
    server.enqueue(StreamResponse([Pause(0.05), Text("late")], headers_delay=0.05))
    started = time.monotonic()
    assert (await collect(client(server)))[0] == "late"
    assert time.monotonic() - started >= 0.1


async def test_the_client_hanging_up_mid_stream_is_recorded(server: FakeOpenAIServer) -> None:
    server.enqueue(StreamResponse([Text("a"), Pause(5), Text("b")]))
    c = client(server)
    stream = await c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
    async for _chunk in stream:
        break
    await stream.close()
    await c.close()
    async with asyncio.timeout(2):
        while not server.requests[0].disconnected:
            await asyncio.sleep(0.01)
    assert not server.requests[0].completed


async def test_non_streamed_requests_get_a_whole_completion(server: FakeOpenAIServer) -> None:
    server.enqueue(StreamResponse([Text("whole"), *tool_call("c", "f", "{}")]))
    c = client(server)
    completion = await c.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    await c.close()
    message = completion.choices[0].message
    assert message.content == "whole" and message.tool_calls is not None


async def test_a_malformed_tool_message_order_is_rejected_with_400(
    server: FakeOpenAIServer,
) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    bad: list[JSONObject] = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "too soon"},
    ]
    with pytest.raises(openai.BadRequestError, match="tool_call_ids did not have response"):
        await collect(client(server), messages=bad)
    assert server.requests[0].status == 400 and server.pending == 0


def test_message_order_rules_match_the_real_api() -> None:
    def call(i: str, arguments: object = "{}") -> JSONObject:
        return {"id": i, "type": "function", "function": {"name": "f", "arguments": arguments}}

    def assistant(*calls: JSONObject) -> JSONObject:
        return {"role": "assistant", "content": None, "tool_calls": list(calls)}

    def tool(i: str) -> JSONObject:
        return {"role": "tool", "tool_call_id": i, "content": "r"}

    user: JSONObject = {"role": "user", "content": "u"}
    assert check_messages([user, assistant(call("a"), call("b")), tool("b"), tool("a")]) is None
    assert check_messages([user, assistant(call("a"), call("b")), tool("a"), user, tool("b")])
    assert check_messages([user, assistant(call("a")), tool("a"), tool("a")])
    assert check_messages([user, tool("a")])
    assert check_messages([user, assistant(call("a"))])
    assert check_messages([user, assistant(call("a", {"x": 1})), tool("a")])
    assert check_messages([{"role": "assistant"}])
    assert check_messages([]) is not None
    tools = [{"type": "function", "function": {"name": "bad name!"}}]
    assert check_chat_request({"model": "m", "messages": [user], "tools": tools})
    assert check_chat_request({"model": "m", "messages": [user], "tool_choice": "auto"})
    assert check_chat_request({"model": "m", "messages": [user]}) is None


async def test_usage_reports_cached_tokens(server: FakeOpenAIServer) -> None:
    server.enqueue(text_response("a", usage=Usage(100, 3, cached_tokens=64)))
    c = client(server)
    stream = await c.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
    usages = [chunk.usage async for chunk in stream if chunk.usage is not None]
    await c.close()
    assert usages[0].prompt_tokens_details is not None
    assert usages[0].prompt_tokens_details.cached_tokens == 64
