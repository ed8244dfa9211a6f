"""FlowManager end to end with the real OpenAI SDK against the fake server: what each request
carries at each step of the restaurant flow, built in Python or loaded from its JSON file."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.dhara.rig import FlowRig, load_example
from vani.dhara import load_flow
from vani.frames import FlowTransitionFrame, FunctionCallDataFrame, JSONObject
from vani.services.openai import OpenAILLMService
from vani.testing import FakeOpenAIServer, StreamResponse, text_response, tool_call
from vani.testing.fake_openai import RecordedRequest

example = load_example()


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    async with FakeOpenAIServer() as fake:
        yield fake


def calls(call_id: str, name: str, arguments: JSONObject | None = None) -> StreamResponse:
    return StreamResponse(tool_call(call_id, name, json.dumps(arguments or {})))


def tool_names(request: RecordedRequest) -> list[str]:
    body = request.body
    assert isinstance(body, dict)
    tools = body.get("tools", [])
    assert isinstance(tools, list)
    return [t["function"]["name"] for t in tools]  # type: ignore[index,call-overload]


def system_texts(request: RecordedRequest) -> list[str]:
    return [str(m["content"]) for m in request.messages if m["role"] == "system"]


def roles(request: RecordedRequest) -> list[str]:
    return [str(m["role"]) for m in request.messages]


@pytest.mark.parametrize("source", ["python", "json"])
async def test_each_request_carries_exactly_the_current_nodes_prompt_and_tools(
    server: FakeOpenAIServer, source: str
) -> None:
    flow = example.build_flow() if source == "python" else load_flow(example.FLOW_JSON)
    role = flow.role_message
    prompts = {n.name: str(n.task_messages[0]["content"]) for n in flow.nodes}
    llm = OpenAILLMService(api_key="sk-test", base_url=server.base_url, model="gpt-4o-mini")
    server.enqueue(
        text_response("Hello! ", "Would you like ", "a pizza?"),  # 0 greet, on entry
        calls("call_1", "start_order"),  # 1 greet: user wants to order
        text_response("What size?"),  # 2 order, after the transition
        calls("call_2", "get_menu"),  # 3 order: data handler
        text_response("Small, medium or large."),  # 4 order, with the menu summary
        calls("call_3", "record_order", {"size": "large", "toppings": ["mushroom", "olive"]}),
        text_response("The caller ordered a large pizza."),  # 6 the summary request
        text_response("A large pizza, 479 rupees. Correct?"),  # 7 confirm, on entry
        calls("call_4", "confirm_order", {"confirmed": True}),  # 8 confirm: yes
        text_response("Thank you! ", "Ready in 20 minutes."),  # 9 end, on entry
    )
    async with FlowRig(llm=llm, flow=flow, handlers=example.HANDLERS) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Yes, I'd like a pizza.")
        await rig.settle()
        await rig.user_says("What is on the menu?")
        await rig.settle()
        await rig.user_says("A large one with mushroom and olive.")
        await rig.settle()
        await rig.user_says("Yes.")
        await rig.settle()
        # The end node's post-action hung up after the thank-you was spoken.
        assert rig.finished

    requests = server.chat_requests
    assert len(requests) == 10
    greet_tools = ["start_order", "get_opening_hours"]
    order_tools = ["get_menu", "record_order", "get_opening_hours"]
    assert [tool_names(r) for r in requests] == [
        greet_tools,
        greet_tools,
        order_tools,
        order_tools,
        order_tools,
        order_tools,
        [],  # the summary is asked for without tools
        ["confirm_order", "get_opening_hours"],
        ["confirm_order", "get_opening_hours"],
        ["get_opening_hours"],
    ]
    # The prompt: the role message plus the current node's task message, nothing else.
    assert system_texts(requests[0]) == [role, prompts["greet"]]
    assert system_texts(requests[1]) == [role, prompts["greet"]]
    for request in requests[2:6]:
        assert system_texts(request) == [role, prompts["order"]]
    confirm_prompt = "Read the order back: a large pizza with mushroom, olive, 479 rupees."
    summary = "Summary of the conversation so far: The caller ordered a large pizza."
    for request in requests[7:9]:
        assert system_texts(request)[:2] == [role, summary]
        assert system_texts(request)[2].startswith(confirm_prompt)
    assert system_texts(requests[9]) == [role, prompts["end"]]

    # append keeps the conversation; the new task message comes after the tool result.
    assert roles(requests[2]) == ["system", "assistant", "user", "assistant", "tool", "system"]
    assert requests[2].messages[4] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": '{"status": "ok"}',
    }
    # reset_with_summary: role, summary, task; reset: role, task.
    assert roles(requests[7]) == ["system", "system", "system"]
    assert roles(requests[9]) == ["system", "system"]
    # The summary request saw the conversation, not the tools.
    summary_request = requests[6].messages
    assert summary_request[0]["content"] == flow.nodes[2].context_strategy.summary_prompt
    assert "user: A large one with mushroom and olive." in str(summary_request[1]["content"])

    # The data handler's summary reached the LLM; the menu itself never did.
    menu_result = requests[4].messages[-1]
    assert menu_result["role"] == "tool"
    assert str(menu_result["content"]).startswith("Sizes: small, medium, large")
    assert all(b"currency" not in r.raw_body for r in server.requests)
    data = rig.speaker.of(FunctionCallDataFrame)
    assert [f.data for f in data] == [example.MENU]  # type: ignore[attr-defined]

    # One FlowTransitionFrame per node change, and the same events.
    moves = [(f.from_node, f.to_node) for f in rig.speaker.of(FlowTransitionFrame)]  # type: ignore[attr-defined]
    expected = [(None, "greet"), ("greet", "order"), ("order", "confirm"), ("confirm", "end")]
    assert moves == expected
    assert rig.transitions == expected
