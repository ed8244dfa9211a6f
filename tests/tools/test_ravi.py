"""The database tool's rows reach the client over RAVI only at report level ``full``.

A real call over a 127.0.0.1 WebSocket: vani's WebSocketTransport with the protobuf framing, the
RAVI processor and observer, the example's scripted brain calling the real tool on the real
server, and a real ``websockets`` client (tests/server/client.py) that types a question with
``send-text`` and reads every message that comes back.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.server.client import CallClient
from tests.tools.conftest import Database
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.ravi import RAVIObserver, RAVIObserverParams, RAVIProcessor
from vani.serializers.protobuf import ProtobufFrameSerializer
from vani.services.llm import ScriptedLLMService
from vani.tools.postgres import PostgresTool
from vani.tools.postgres.example import restaurant_script
from vani.transports.websocket import WebSocketParams, WebSocketTransport

CUSTOMER = 2  # the caller; customer 1 also has bookings, which must never show
BOOKED_ON = "2026-11-30"  # the day of one of the caller's bookings (the example's seed data)


@contextlib.asynccontextmanager
async def bot_server(tool: PostgresTool, level: str | None) -> AsyncIterator[str]:
    """A ``websockets`` server on 127.0.0.1 running one bot per connection: RAVI first, the
    scripted brain with the tool scoped to CUSTOMER, the observer at ``level`` for every
    function (Pipecat's default when None)."""
    from websockets.asyncio.server import ServerConnection, serve

    from vani.transports.websocket import WebsocketsConnection, websockets_serve_kwargs

    ws_params = WebSocketParams(audio_out_sample_rate=24000)

    async def handler(ws: ServerConnection) -> None:
        transport = WebSocketTransport(
            WebsocketsConnection(ws), ProtobufFrameSerializer(), ws_params
        )
        db = tool.session({"customer_id": CUSTOMER})
        llm = ScriptedLLMService(rule=restaurant_script)
        db.register(llm)
        talk = LLMContextAggregatorPair(LLMContext([], db.tools))
        ravi = RAVIProcessor(transport=transport)
        params = (
            RAVIObserverParams()
            if level is None
            else RAVIObserverParams(function_call_report_level={"*": level})
        )
        pipeline = Pipeline(
            [transport.input(), ravi, talk.user(), llm, transport.output(), talk.assistant()]
        )
        task = PipelineTask(
            pipeline, observers=[RAVIObserver(ravi, params=params)], idle_timeout_secs=None
        )
        await PipelineRunner(handle_sigint=False).run(task)

    async with serve(handler, "127.0.0.1", 0, **websockets_serve_kwargs(ws_params)) as server:  # type: ignore[arg-type]
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"
        server.close()
        await server.wait_closed()


async def ask(url: str, question: str) -> list[dict[str, Any]]:
    """Types ``question`` (text answer, no audio) and returns the function-call messages the
    client got, once the call has stopped and the bot has answered."""
    client = await CallClient.open(url)
    try:
        await client.client_ready()
        await client.wait_for("bot-ready")
        await client.send_rtvi(
            "send-text",
            {"content": question, "options": {"run_immediately": True, "audio_response": False}},
        )
        await client.wait_for("llm-function-call-stopped", timeout=30)
        await client.wait_for("bot-llm-stopped", count=2, timeout=30)  # the answer after it
        return [m for _, m in client.messages if str(m.get("type")).startswith("llm-function")]
    finally:
        await client.close()


def stopped(messages: list[dict[str, Any]]) -> dict[str, Any]:
    (message,) = [m for m in messages if m["type"] == "llm-function-call-stopped"]
    assert message["label"] == "rtvi-ai"
    data: dict[str, Any] = message["data"]
    return data


async def test_at_full_the_client_gets_the_rows(database: Database, tool: PostgresTool) -> None:
    async with bot_server(tool, "full") as url:
        messages = await ask(url, "When is my booking?")
    started = [m["data"] for m in messages if m["type"] == "llm-function-call-started"]
    assert [s["function_name"] for s in started] == ["db_query"]
    data = stopped(messages)
    assert data["tool_call_id"] == started[0]["tool_call_id"]
    assert data["function_name"] == "db_query" and data["cancelled"] is False
    # The full rows, as the UI frame carries them: only this caller's, with every column.
    rows = data["data"]["rows"]
    assert rows and {r["customer_id"] for r in rows} == {CUSTOMER}
    assert {"id", "booked_for", "party_size", "status"} <= set(rows[0])
    assert any(BOOKED_ON in str(r["booked_for"]) for r in rows)
    # The LLM's short summary came too, beside them.
    assert "result" in data


@pytest.mark.parametrize("level", [None, "none", "name", "arguments"])
async def test_below_full_no_row_leaves(
    database: Database, tool: PostgresTool, level: str | None
) -> None:
    async with bot_server(tool, level) as url:
        messages = await ask(url, "When is my booking?")
    data = stopped(messages)
    expected = {"tool_call_id", "cancelled"}
    if level in ("name", "arguments"):
        expected.add("function_name")
    assert set(data) == expected, data
    for message in messages:  # no value of the rows in any function-call message
        assert BOOKED_ON not in str(message), message
