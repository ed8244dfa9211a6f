"""The Pipecat Flows programs ported to vani by their imports (examples/dhara/), driven through
every node to their end: each request's prompt and tools, and the call ending by itself."""

from __future__ import annotations

import json

import pytest

from tests.dhara.rig import FlowRig, load_example
from vani.frames import JSONObject, TTSSpeakFrame
from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn
from vani.services.openai import OpenAILLMService
from vani.testing import FakeOpenAIServer, StreamResponse, text_response, tool_call


def call(name: str, **arguments: object) -> ScriptedTurn:
    return ScriptedTurn(tool_calls=[ScriptedToolCall(name, arguments)])  # type: ignore[arg-type]


def prompts(messages: list[JSONObject]) -> list[str]:
    """The instructions of a request: system and developer messages, in order."""
    return [str(m["content"]) for m in messages if m["role"] in ("system", "developer")]


def check_request(
    llm: ScriptedLLMService, index: int, *, tools: list[str], instructions: list[str]
) -> None:
    messages, _choice = llm.requests[index]
    assert llm.request_tools[index] == tools, f"request {index}"
    got = prompts(messages)
    assert len(got) == len(instructions), f"request {index}: {got}"
    for text, start in zip(got, instructions, strict=True):
        assert text.startswith(start), f"request {index}: {text!r} does not start {start!r}"


@pytest.mark.parametrize("silent", [False, True], ids=["voice", "text"])
async def test_restaurant_reservation_with_direct_functions(silent: bool) -> None:
    example = load_example("dhara/restaurant_reservation")
    llm = ScriptedLLMService(
        [
            "Welcome to Chez Vani! How many of you?",  # 0 initial
            call("collect_party_size", size=4),  # 1
            "What time would you like?",  # 2 get_time
            call("check_availability", time="7:00 PM", party_size=4),  # 3
            "Sorry, 7 is taken; 5, 6, 9 or 10 PM?",  # 4 no_availability
            call("check_availability", time="9:00 PM", party_size=4),  # 5
            "Booked for four at 9 PM. Anything else?",  # 6 confirm
            call("end_conversation"),  # 7
            "Thank you, goodbye!",  # 8 end
        ]
    )
    async with FlowRig(llm=llm, flow=None) as rig:
        rig.speaker.silent = silent
        await rig.manager.initialize(example.create_initial_node())
        await rig.settle()
        for line in ("Four of us.", "Seven tonight.", "Nine then.", "No, that's all."):
            await rig.user_says(line)
            await rig.settle()
        assert rig.finished, "the end node's post-action ends the call by itself"
    role = "You take table reservations for Chez Vani"
    expected = [
        (["collect_party_size"], "Greet the caller"),
        (["collect_party_size"], "Greet the caller"),
        (["check_availability"], "Ask what time"),
        (["check_availability"], "Ask what time"),
        (["check_availability", "end_conversation"], "Say sorry, that time is taken"),
        (["check_availability", "end_conversation"], "Say sorry, that time is taken"),
        (["end_conversation"], "Confirm the booking"),
        (["end_conversation"], "Confirm the booking"),
        ([], "Thank the caller"),
    ]
    assert len(llm.requests) == len(expected)
    for index, (tools, task) in enumerate(expected):
        check_request(llm, index, tools=tools, instructions=[role, task])
    # The task message keeps Flows' "developer" role; the tool schema came from the docstring.
    assert llm.requests[0][0][1]["role"] == "developer"
    assert rig.transitions == [
        (None, "initial"),
        ("initial", "get_time"),
        ("get_time", "no_availability"),
        ("no_availability", "confirm"),
        ("confirm", "end"),
    ]
    assert rig.manager.state == {"party_size": 4, "time": "9:00 PM"}
    assert rig.speaker.of(TTSSpeakFrame) == []


async def test_food_ordering_with_function_schemas_actions_and_a_global_function() -> None:
    example = load_example("dhara/food_ordering")
    llm = ScriptedLLMService(
        [
            "Pizza or sushi today?",  # 0 initial
            call("check_hours"),  # 1 the global function, from the first node
            "We are open 11 to 11. Pizza or sushi?",  # 2 initial
            call("choose_sushi"),  # 3
            "How many rolls, and which kind?",  # 4 choose_sushi
            call("select_sushi_order", count=3, type="salmon"),  # 5
            "3 salmon rolls, 540 rupees. Right?",  # 6 confirm
            call("revise_order"),  # 7
            "Pizza or sushi, then?",  # 8 initial again
            call("choose_pizza"),  # 9
            "Which size and kind?",  # 10 choose_pizza
            call("select_pizza_order", size="large", type="farmhouse"),  # 11
            "A large farmhouse pizza, 449 rupees. Right?",  # 12 confirm
            call("complete_order"),  # 13
            "Thank you! It is on its way.",  # 14 end
        ]
    )
    async with FlowRig(llm=llm, flow=None, global_functions=example.GLOBAL_FUNCTIONS) as rig:
        await rig.manager.initialize(example.create_initial_node())
        await rig.settle()
        for line in (
            "When are you open?",
            "Sushi.",
            "Three salmon rolls.",
            "Actually, make it pizza.",
            "Pizza.",
            "Large farmhouse.",
            "Yes.",
        ):
            await rig.user_says(line)
            await rig.settle()
        assert rig.finished
    role = "You take food orders on the phone for Vani Kitchen"
    initial = (["choose_pizza", "choose_sushi", "check_hours"], "Ask whether the caller")
    sushi = (["select_sushi_order", "check_hours"], "Take the sushi order")
    pizza = (["select_pizza_order", "check_hours"], "Take the pizza order")
    confirm_tools = ["complete_order", "revise_order", "check_hours"]
    expected = [
        initial,
        initial,
        initial,
        initial,
        sushi,
        sushi,
        (confirm_tools, "Read the order back with its price: 3 salmon rolls, 540 rupees."),
        (confirm_tools, "Read the order back"),
        initial,
        initial,
        pizza,
        pizza,
        (confirm_tools, "Read the order back with its price: large farmhouse pizza, 449"),
        (confirm_tools, "Read the order back"),
        (["check_hours"], "Thank the caller"),
    ]
    assert len(llm.requests) == len(expected)
    for index, (tools, task) in enumerate(expected):
        check_request(llm, index, tools=tools, instructions=[role, task])
    # The pre-actions were spoken on entering each order node, before its first response.
    spoken = [f.text for f in rig.speaker.of(TTSSpeakFrame)]  # type: ignore[attr-defined]
    assert spoken == ["Sushi, lovely.", "Pizza it is!"]
    # The global function's result reached the LLM without moving the flow.
    tool_results = [m for m in llm.requests[2][0] if m["role"] == "tool"]
    assert "11 AM to 11 PM" in str(tool_results[-1]["content"])


async def test_insurance_quote_with_context_strategies_over_the_fake_openai_server() -> None:
    """The real OpenAI SDK against the fake server: the summary request, the reset context."""
    example = load_example("dhara/insurance_quote")

    def calls(call_id: str, name: str, **arguments: object) -> StreamResponse:
        return StreamResponse(tool_call(call_id, name, json.dumps(arguments)))

    async with FakeOpenAIServer() as server:
        server.enqueue(
            text_response("Hello, I am Meera. ", "How old are you?"),  # 0 initial
            calls("c1", "record_age", age=34),  # 1
            text_response("Married or single?"),  # 2 marital_status
            calls("c2", "record_marital_status", marital_status="married"),  # 3
            text_response("The caller is 34 and married."),  # 4 the summary
            text_response("How much cover would you like?"),  # 5 quote_calculation
            calls("c3", "calculate_quote", coverage=1_000_000, deductible=20_000),  # 6
            text_response("That is 1780 rupees a month."),  # 7 quote_results
            calls("c4", "end_quote"),  # 8
            text_response("Thank you, goodbye."),  # 9 end
        )
        llm = OpenAILLMService(api_key="sk-test", base_url=server.base_url)
        async with FlowRig(llm=llm, flow=None, context_strategy=example.CONTEXT_STRATEGY) as rig:
            await rig.manager.initialize(example.create_initial_node())
            await rig.settle()
            for line in ("34.", "Married.", "Ten lakh, twenty thousand deductible.", "Done."):
                await rig.user_says(line)
                await rig.settle()
            assert rig.finished
        requests = server.chat_requests

    def tools(index: int) -> list[str]:
        body = requests[index].body
        assert isinstance(body, dict)
        return [t["function"]["name"] for t in body.get("tools", [])]  # type: ignore[index,union-attr]

    def instructions(index: int) -> list[str]:
        return prompts(list(requests[index].messages))

    role = "You are Meera, who quotes health insurance"
    assert len(requests) == 10
    assert [tools(i) for i in range(10)] == [
        ["record_age"],
        ["record_age"],
        ["record_marital_status"],
        ["record_marital_status"],
        [],  # the summary is asked for without tools
        ["calculate_quote"],
        ["calculate_quote"],
        ["calculate_quote", "end_quote"],
        ["calculate_quote", "end_quote"],
        [],
    ]
    assert instructions(0)[0].startswith(role) and instructions(0)[1].startswith("Greet")
    # append (the manager's default): the conversation is kept, the new task at the end.
    assert [m["role"] for m in requests[2].messages][-2:] == ["tool", "developer"]
    # reset_with_summary: role, summary, task; nothing of the conversation.
    assert [m["role"] for m in requests[5].messages] == ["system", "system", "developer"]
    assert instructions(5)[1] == "Summary of the conversation so far: The caller is 34 and married."
    assert instructions(7)[-1].startswith("Give the monthly premium of 1780 rupees")
    # reset: the role message survives, the rest goes.
    assert [m["role"] for m in requests[9].messages] == ["system", "developer"]
    assert instructions(9)[0].startswith(role)
    assert rig.manager.state["quote"] == {"premium": 1780, "coverage": 1_000_000}
