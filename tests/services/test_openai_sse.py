"""The server-sent-event reader of OpenAILLMService (vani.services.openai._sse_chunks): lines
come in batches (those read together) and chunks go out in batches; how the lines are batched
never changes the chunks."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani.errors import ServiceConnectionError, ServiceError
from vani.frames import JSONValue
from vani.services.openai import _sse_chunks


async def _batches(lines: list[str], size: int) -> AsyncIterator[list[str]]:
    for start in range(0, len(lines), size):
        yield lines[start : start + size]


async def _read(*lines: str) -> list[dict[str, JSONValue] | None]:
    """The chunks, flattened, the same whether the lines come one by one or all at once."""
    results = []
    for size in (1, max(1, len(lines))):
        out: list[dict[str, JSONValue] | None] = []
        async for batch in _sse_chunks(_batches(list(lines), size)):
            assert batch, "a batch of chunks is never empty"
            out += batch
        results.append(out)
    assert results[0] == results[1]
    return results[0]


async def test_data_lines_join_with_newlines_and_the_space_after_the_colon_is_optional() -> None:
    got = await _read('data:{"a":', "data: 1}", "", ": keepalive", "", "data: [DONE]", "")
    assert got == [{"a": 1}, None]


async def test_event_names_and_unknown_fields_are_skipped() -> None:
    got = await _read("event: message", "id: 7", 'data: {"b": 2}', "retry: 10", "")
    assert got == [{"b": 2}]


async def test_an_error_event_raises_with_the_servers_message() -> None:
    with pytest.raises(ServiceConnectionError, match="overloaded"):
        await _read('data: {"error": {"message": "overloaded"}}', "")


@pytest.mark.parametrize("bad", ['data: {"error": {"message": "overloaded"}}', "data: {nope"])
async def test_chunks_read_together_with_a_failure_come_out_before_it(bad: str) -> None:
    got: list[list[dict[str, JSONValue] | None]] = []
    lines = ['data: {"a": 1}', "", 'data: {"b": 2}', "", bad, "", 'data: {"c": 3}', ""]
    batches = _sse_chunks(_batches(lines, len(lines)))
    got.append(await anext(batches))
    with pytest.raises(ServiceError):
        await anext(batches)
    assert got == [[{"a": 1}, {"b": 2}]]


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
    cuts=st.lists(st.integers(min_value=0, max_value=40), max_size=5),
)
async def test_any_chunks_between_comments_and_blank_lines_come_back_in_order(
    chunks: list[dict[str, JSONValue]], noise: list[str], cuts: list[int]
) -> None:
    lines: list[str] = []
    for i, chunk in enumerate(chunks):
        lines.append(noise[i % len(noise)] if noise else "")
        if lines[-1] not in ("", ": ping"):
            lines.append("")  # a lone field line is its own (dataless) event
        lines += ["data: " + json.dumps(chunk), ""]
    lines += ["data: [DONE]", ""]
    assert await _read(*lines) == [*chunks, None]

    async def cut() -> AsyncIterator[list[str]]:  # batches at arbitrary places, empty ones too
        edges = [0, *sorted(min(c, len(lines)) for c in cuts), len(lines)]
        for a, b in itertools.pairwise(edges):
            yield lines[a:b]

    flat = [chunk async for batch in _sse_chunks(cut()) for chunk in batch]
    assert flat == [*chunks, None]
