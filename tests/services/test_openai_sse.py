"""The server-sent-event reader of OpenAILLMService (vani.services.openai._sse_chunks)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani.errors import ServiceConnectionError, ServiceError
from vani.frames import JSONValue
from vani.services.openai import _sse_chunks


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def _read(*lines: str) -> list[dict[str, JSONValue] | None]:
    return [chunk async for chunk in _sse_chunks(_lines(*lines))]


async def test_data_lines_join_with_newlines_and_the_space_after_the_colon_is_optional() -> None:
    got = await _read('data:{"a":', "data: 1}", "", ": keepalive", "", "data: [DONE]", "")
    assert got == [{"a": 1}, None]


async def test_event_names_and_unknown_fields_are_skipped() -> None:
    got = await _read("event: message", "id: 7", 'data: {"b": 2}', "retry: 10", "")
    assert got == [{"b": 2}]


async def test_an_error_event_raises_with_the_servers_message() -> None:
    with pytest.raises(ServiceConnectionError, match="overloaded"):
        await _read('data: {"error": {"message": "overloaded"}}', "")


async def test_a_chunk_that_is_not_json_is_a_service_error() -> None:
    with pytest.raises(ServiceError, match="unreadable chunk"):
        await _read("data: {nope", "")


async def test_an_event_cut_off_before_its_blank_line_raises() -> None:
    with pytest.raises(ServiceConnectionError, match="inside an event"):
        await _read('data: {"a": 1}')


chunk_strategy = st.dictionaries(
    st.text(min_size=1, max_size=5),
    st.one_of(st.integers(), st.text(max_size=10), st.none()),
    max_size=4,
).filter(lambda d: not d.get("error"))


@settings(max_examples=50, deadline=None)
@given(
    chunks=st.lists(chunk_strategy, max_size=6),
    noise=st.lists(st.sampled_from([": ping", "event: x", "id: 1", ""]), max_size=6),
)
async def test_any_chunks_between_comments_and_blank_lines_come_back_in_order(
    chunks: list[dict[str, JSONValue]], noise: list[str]
) -> None:
    lines: list[str] = []
    for i, chunk in enumerate(chunks):
        lines.append(noise[i % len(noise)] if noise else "")
        if lines[-1] not in ("", ": ping"):
            lines.append("")  # a lone field line is its own (dataless) event
        lines += ["data: " + json.dumps(chunk), ""]
    lines += ["data: [DONE]", ""]
    assert await _read(*lines) == [*chunks, None]
