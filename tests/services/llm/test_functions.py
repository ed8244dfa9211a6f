"""Function calling through LLMService, driven by the ScriptedLLMService."""

from __future__ import annotations

import asyncio

import pytest

from tests.llm_helpers import Session
from vani.errors import (
    FunctionArgumentsError,
    FunctionCallError,
    FunctionCallTimeoutError,
    UnknownFunctionError,
)
from vani.frames import (
    FunctionCallDataFrame,
    FunctionCallResultFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
)
from vani.processors.aggregators import LLMContext
from vani.services.llm import (
    FunctionCallParams,
    FunctionCallResultProperties,
    ScriptedLLMService,
    ScriptedToolCall,
    ScriptedTurn,
    ToolResult,
)
from vani.testing.fake_openai import check_messages


def context() -> LLMContext:
    return LLMContext(messages=[{"role": "user", "content": "go"}])


def calls(*names_args: tuple[str, dict[str, object] | str]) -> ScriptedTurn:
    return ScriptedTurn(tool_calls=[ScriptedToolCall(n, a) for n, a in names_args])  # type: ignore[arg-type]


async def run_turns(llm: ScriptedLLMService, ctx: LLMContext, responses: int) -> Session:
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=ctx))
        await s.down.wait_for(LLMFullResponseEndFrame, responses)
        await asyncio.sleep(0.01)
    return s


def tool_contents(ctx: LLMContext) -> list[str]:
    return [str(m["content"]) for m in ctx.messages if m["role"] == "tool"]


async def test_simple_handler_string_and_json_results_become_tool_messages() -> None:
    llm = ScriptedLLMService([calls(("a", {}), ("b", {"n": 2})), "done"])

    async def a(params: FunctionCallParams) -> str:
        return "plain text"

    async def b(params: FunctionCallParams) -> dict[str, object]:
        return {"double": params.arguments["n"] * 2, "city": "पुणे"}  # type: ignore[operator]

    llm.register_function("a", a)
    llm.register_function("b", b)
    ctx = context()
    s = await run_turns(llm, ctx, 2)
    assert tool_contents(ctx) == ["plain text", '{"double": 4, "city": "पुणे"}']
    assert s.errors == []
    assert check_messages(ctx.messages) is None
    # The second run saw both results.
    assert [m["role"] for m in llm.requests[1][0]] == ["user", "assistant", "tool", "tool"]


async def test_data_handler_sends_data_downstream_and_only_the_summary_to_the_llm() -> None:
    llm = ScriptedLLMService([calls(("lookup", {})), "ok"])

    async def lookup(params: FunctionCallParams) -> ToolResult:
        return ToolResult(summary="3 rows", data={"secret_rows": [1, 2, 3]})

    llm.register_function("lookup", lookup)
    ctx = context()
    s = await run_turns(llm, ctx, 2)
    assert tool_contents(ctx) == ["3 rows"]
    data = s.down.of(FunctionCallDataFrame)
    assert [d.data for d in data] == [{"secret_rows": [1, 2, 3]}]  # type: ignore[attr-defined]
    assert "secret_rows" not in str(llm.requests)


async def test_pipecat_style_result_callback_works() -> None:
    llm = ScriptedLLMService([calls(("legacy", {"x": 1})), "never"])

    async def legacy(params: FunctionCallParams) -> None:
        await params.result_callback(
            {"ok": True}, properties=FunctionCallResultProperties(run_llm=False)
        )

    llm.register_function("legacy", legacy)
    ctx = context()
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=ctx))
        await s.down.wait_for(FunctionCallResultFrame)
        await asyncio.sleep(0.02)
    assert tool_contents(ctx) == ['{"ok": true}']
    assert len(llm.requests) == 1  # run_llm=False: no second run
    assert llm.pending_turns == 1


@pytest.mark.parametrize(
    ("turn", "error_type", "needle"),
    [
        (calls(("nope", {})), UnknownFunctionError, "unknown function 'nope'"),
        (calls(("echo", "{not json")), FunctionArgumentsError, "invalid json arguments"),
        (calls(("echo", "[1, 2]")), FunctionArgumentsError, "expected a json object"),
        (calls(("boom", {})), FunctionCallError, "valueerror: kaboom"),
        (calls(("slow", {})), FunctionCallTimeoutError, "timed out after 0.05 s"),
    ],
    ids=["unknown", "invalid-json", "not-an-object", "exception", "timeout"],
)
async def test_every_failure_becomes_a_readable_error_result_and_a_non_fatal_error(
    turn: ScriptedTurn, error_type: type[Exception], needle: str
) -> None:
    llm = ScriptedLLMService([turn, "Sorry, that failed."])

    async def echo(params: FunctionCallParams) -> str:
        return "echo"

    async def boom(params: FunctionCallParams) -> str:
        raise ValueError("kaboom")

    async def slow(params: FunctionCallParams) -> str:
        await asyncio.sleep(5)
        return "late"

    llm.register_function("echo", echo)
    llm.register_function("boom", boom)
    llm.register_function("slow", slow, timeout_secs=0.05)
    ctx = context()
    s = await run_turns(llm, ctx, 2)
    (content,) = tool_contents(ctx)
    assert content.startswith('{"error": ')
    assert needle in content.lower()
    assert [type(e.exception) for e in s.errors] == [error_type]
    assert [e.fatal for e in s.errors] == [False]
    assert len(llm.requests) == 2  # the LLM read the error and answered
    assert check_messages(ctx.messages) is None


async def test_tool_rounds_are_capped_and_the_last_run_has_tool_choice_none() -> None:
    loop_turn = calls(("again", {}))
    llm = ScriptedLLMService([loop_turn] * 10, max_tool_rounds=2)

    async def again(params: FunctionCallParams) -> str:
        return "more"

    llm.register_function("again", again)
    ctx = context()
    s = await run_turns(llm, ctx, 3)
    # Two tool rounds, then one run with tool_choice "none" (the scripted LLM obeys it).
    assert [choice for _, choice in llm.requests] == [None, None, "none"]
    assert s.errors == []
    assert check_messages(ctx.messages) is None


async def test_calls_past_the_cap_get_error_results_when_the_llm_ignores_tool_choice() -> None:
    llm = ScriptedLLMService([calls(("again", {}))] * 3, max_tool_rounds=0)

    async def again(params: FunctionCallParams) -> str:
        raise AssertionError("must not run")

    llm.register_function("again", again)
    ctx = context()
    async with Session([llm]) as s:
        await s.send(LLMContextFrame(context=ctx))
        await s.up.wait_until(lambda: bool(s.errors))
    assert "tool call limit" in tool_contents(ctx)[0]
    assert "tool call limit" in s.errors[0].error
    assert check_messages(ctx.messages) is None


async def test_direct_function_spreads_arguments_and_describes_itself() -> None:
    from vani.processors.aggregators import FunctionSchema

    async def add(params: FunctionCallParams, a: int, b: int = 1) -> int:
        """Add two numbers.

        Args:
            a: the first.
            b: the second.
        """
        return a + b

    llm = ScriptedLLMService([calls(("add", {"a": 2, "b": 3})), "5"])
    llm.register_direct_function(add)
    ctx = LLMContext(messages=[{"role": "user", "content": "2+3"}], tools=[add])
    await run_turns(llm, ctx, 2)
    assert tool_contents(ctx) == ["5"]
    assert ctx.tools == [FunctionSchema.from_function(add)]
    assert ctx.tools[0].required == ["a"]
