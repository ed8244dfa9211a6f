"""Function-call events from a real LLM service run (the scripted LLM): a data handler's payload
reaches the client only at report level ``full``."""

from __future__ import annotations

from typing import Any

from tests.ravi.rig import Session
from vani.ravi import RAVIObserverParams
from vani.services.llm.functions import FunctionCallParams, ToolResult
from vani.services.llm.scripted import ScriptedLLMService, ScriptedToolCall, ScriptedTurn


def llm() -> ScriptedLLMService:
    service = ScriptedLLMService(
        [
            ScriptedTurn(tool_calls=[ScriptedToolCall("find_order", {"n": 7}, id="call_7")]),
            "Your order is on its way.",
        ]
    )

    async def find_order(params: FunctionCallParams) -> ToolResult:
        return ToolResult(summary="order 7: shipped", data={"card": "4111-xxxx"})

    service.register_function("find_order", find_order)
    return service


async def events(params: RAVIObserverParams | None) -> list[tuple[str, Any]]:
    from vani.frames import LLMMessagesAppendFrame

    async with Session(middle=[llm()], params=params) as s:
        await s.push(
            LLMMessagesAppendFrame(messages=[{"role": "user", "content": "where?"}], run_llm=True)
        )
        await s.wait_for("bot-llm-stopped", 2)
        await s.settle()
    return [
        (msg["type"], msg["data"])
        for msg in s.client.messages
        if msg["type"].startswith("llm-function-call")
    ]


async def test_by_default_the_client_learns_only_the_tool_call_id() -> None:
    assert await events(None) == [
        ("llm-function-call-started", {"tool_call_id": "call_7"}),
        ("llm-function-call-in-progress", {"tool_call_id": "call_7"}),
        ("llm-function-call-stopped", {"tool_call_id": "call_7", "cancelled": False}),
    ]


async def test_at_full_the_result_and_the_data_handler_payload_go_out() -> None:
    params = RAVIObserverParams(function_call_report_level={"find_order": "full"})
    got = await events(params)
    assert got[1] == (
        "llm-function-call-in-progress",
        {"tool_call_id": "call_7", "function_name": "find_order", "arguments": {"n": 7}},
    )
    stopped = got[2][1]
    assert stopped["data"] == {"card": "4111-xxxx"}
    assert stopped["cancelled"] is False
    assert "shipped" in str(stopped["result"])


async def test_below_full_the_payload_never_leaves() -> None:
    params = RAVIObserverParams(function_call_report_level={"*": "arguments"})
    for _, data in await events(params):
        assert "data" not in data
        assert "result" not in data
        assert "4111" not in str(data)
