"""The Pipecat Flows programs ported to vani by their imports (examples/dhara/), driven through
every node to their end: each request's prompt and tools, and the call ending by itself."""

from __future__ import annotations

import pytest

from tests.dhara.rig import FlowRig, load_example
from vani.frames import JSONObject, TTSSpeakFrame
from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn


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
