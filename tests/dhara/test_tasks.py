"""Sub-tasks that return typed results: each of the four shipped, driven with the scripted LLM;
a rejected read-back loops back; a barge-in mid-task resumes the task."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.dhara.rig import FlowRig
from vani.dhara import Flow, FlowFunction, FlowManager, Node
from vani.dhara.tasks import (
    CollectDate,
    CollectName,
    CollectPhoneNumber,
    Confirm,
    FlowTask,
    PersonName,
    PhoneNumber,
    parse_phone_number,
)
from vani.errors import FlowError
from vani.frames import JSONObject
from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn

BOOKING = "Help the caller book a table."


def call(name: str, **arguments: object) -> ScriptedTurn:
    return ScriptedTurn(tool_calls=[ScriptedToolCall(name, arguments)])  # type: ignore[arg-type]


def flow_starting(task: FlowTask[object], results: list[object]) -> Flow:
    """A booking node whose ``start`` function starts ``task``; ``results`` gets its value."""
    task.on_result = lambda value, fm: results.append((fm.current_node, value))

    async def start(args: dict[str, object], fm: FlowManager) -> object:
        return {"status": "started"}, task

    return Flow(
        initial_node="booking",
        nodes=[
            Node(
                name="booking",
                task_messages=[{"role": "system", "content": BOOKING}],
                functions=[
                    FlowFunction(name="start", handler=start),
                    FlowFunction(name="finish", handler=_stay),
                ],
            )
        ],
    )


async def _stay(args: dict[str, object]) -> str:
    return "ok"


def system_texts(messages: list[JSONObject]) -> list[str]:
    return [str(m["content"]) for m in messages if m["role"] == "system"]


# -- phone numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164"),
    [
        ("98765 43210", "+919876543210"),
        ("098765-43210", "+919876543210"),
        ("+91 98765 43210", "+919876543210"),
        ("91 9876543210", "+919876543210"),
        ("nine eight seven six five four three two one zero", "+919876543210"),
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-0100", "+14155550100"),
    ],
)
def test_phone_numbers_in_indian_and_international_forms(text: str, e164: str) -> None:
    assert parse_phone_number(text).e164 == e164


@pytest.mark.parametrize("text", ["12345", "55555 12345", "+91 12345 67890", "+12", "call me"])
def test_bad_phone_numbers_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(FlowError, match="expected"):
        parse_phone_number(text)


@given(
    st.from_regex(r"[6-9][0-9]{9}", fullmatch=True),
    st.sampled_from(["", "0", "+91", "+91 ", "91", "0091"]),
    st.sampled_from(["", " ", "-"]),
)
def test_any_way_of_writing_an_indian_mobile_gives_the_same_number(
    digits: str, prefix: str, separator: str
) -> None:
    written = prefix + digits[:5] + separator + digits[5:]
    number = parse_phone_number(written)
    assert number == PhoneNumber("+91" + digits, "91")
    assert number.national == digits


async def test_phone_number_read_back_rejected_loops_back_then_returns_to_the_start() -> None:
    results: list[object] = []
    llm = ScriptedLLMService(
        [
            "Hello, shall I book?",  # 0 booking
            call("start"),  # 1
            "Your number, please?",  # 2 task: ask
            call("record_phone_number", number="98765 43210"),  # 3
            "That is 98765 43210, right?",  # 4 task: read back
            call("confirm_phone_number", correct=False),  # 5 no
            "Sorry, say it again?",  # 6 task: ask again
            call("record_phone_number", number="+91 98765 43211"),  # 7
            "98765 43211, right?",  # 8 read back
            call("confirm_phone_number", correct=True),  # 9 yes
            "Thanks, booking now.",  # 10 back in booking
        ]
    )
    async with FlowRig(llm=llm, flow=flow_starting(CollectPhoneNumber(), results)) as rig:
        await rig.manager.initialize()
        await rig.settle()
        for line in ("Yes.", "98765 43210", "No.", "98765 43211", "Yes."):
            await rig.user_says(line)
            await rig.settle()
        assert rig.manager.current_node == "booking"
        assert rig.manager.current_task is None
    tools = llm.request_tools
    ask, read_back = ["record_phone_number"], ["confirm_phone_number"]
    assert tools == [
        *[["start", "finish"]] * 2,
        *[ask] * 2,
        *[read_back] * 2,
        *[ask] * 2,
        *[read_back] * 2,
        ["start", "finish"],
    ]
    assert system_texts(llm.requests[4][0])[-1].startswith(
        "Read the number back digit by digit: plus 9 1, 9 8 7 6 5, 4 3 2 1 0."
    )
    assert "4 3 2 1 1" in system_texts(llm.requests[8][0])[-1]
    # Back in booking: its own prompt once (the task's prompts gone), the conversation kept,
    # and the task's result as the tool message just before booking's prompt.
    last = llm.requests[10][0]
    assert system_texts(last) == [BOOKING]
    assert [m["role"] for m in last].count("user") == 5
    assert [m["role"] for m in last][-2:] == ["tool", "system"]
    assert '"number": "+919876543211"' in str(last[-2]["content"])
    assert results == [("booking", PhoneNumber("+919876543211", "91"))]
    assert rig.manager.state["collect_phone_number"] == PhoneNumber("+919876543211", "91")
    assert [t for _f, t in rig.transitions] == [
        "booking",
        "collect_phone_number_ask",
        "collect_phone_number_read_back",
        "collect_phone_number_ask",
        "collect_phone_number_read_back",
        "booking",
    ]


async def test_a_barge_in_mid_task_resumes_the_task() -> None:
    results: list[object] = []
    llm = ScriptedLLMService(
        [
            "Shall I book?",  # 0
            call("start"),  # 1
            ScriptedTurn(["What ", "is ", "your ", "name, ", "and ", "how ", "to ", "spell?"]),
            "Sorry, go on.",  # 3 after the barge-in, still in the task
            call("record_name", first_name="Asha", last_name="Rao"),  # 4
            "Thanks Asha.",  # 5 booking
        ],
        token_delay_secs=0.05,
    )
    async with FlowRig(llm=llm, flow=flow_starting(CollectName(), results)) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Book, please.")
        await rig.settle(quiet_secs=0.02)  # the task's question is being spoken
        await rig.user_starts_speaking()
        await rig.user_says("Wait, hold on.")
        await rig.settle()
        assert rig.manager.current_node == "collect_name_ask"
        await rig.user_says("Asha Rao.")
        await rig.settle()
        assert rig.manager.current_node == "booking"
    # Every request after the barge-in, until the task returned, carried the task's prompt and
    # only its tool.
    for index in (3, 4):
        assert llm.request_tools[index] == ["record_name"]
        assert system_texts(llm.requests[index][0])[-1].startswith("Ask for the caller's name.")
    assert llm.request_tools[5] == ["start", "finish"]
    assert results == [("booking", PersonName("Asha", "Rao"))]


@pytest.mark.parametrize(
    ("task", "calls", "value", "prompt"),
    [
        (
            CollectName(purpose="for the booking"),
            [call("record_name", first_name=""), call("record_name", first_name="Vikram")],
            PersonName("Vikram"),
            "Ask for the caller's name. It is needed for the booking.",
        ),
        (
            CollectDate(today=dt.date(2026, 12, 5), earliest=dt.date(2026, 12, 5)),
            [call("record_date", date="2026-12-01"), call("record_date", date="2026-12-11")],
            dt.date(2026, 12, 11),
            "Ask for the date. Today is Saturday 2026-12-05.",
        ),
        (
            Confirm("A table for 4 at 9 PM on Friday."),
            [call("confirm", confirmed="maybe"), call("confirm", confirmed=True)],
            True,
            "Read this back to the caller: A table for 4 at 9 PM on Friday. Then ask:",
        ),
    ],
    ids=["name", "date", "confirmation"],
)
async def test_each_task_returns_its_typed_value(
    task: FlowTask[object], calls: list[ScriptedTurn], value: object, prompt: str
) -> None:
    results: list[object] = []
    first, second = calls
    llm = ScriptedLLMService(
        ["Hello.", call("start"), "Question?", first, "Again?", second, "Done."]
    )
    async with FlowRig(llm=llm, flow=flow_starting(task, results)) as rig:
        await rig.manager.initialize()
        await rig.settle()
        for line in ("Start.", "First answer.", "Second answer."):
            await rig.user_says(line)
            await rig.settle()
    assert system_texts(llm.requests[2][0])[-1].startswith(prompt)
    if isinstance(task, Confirm):
        # "maybe" is not yes: the confirmation returns False at once, not True.
        assert results == [("booking", False)]
        return
    # The first answer was refused (an error result) and the task stayed.
    assert '"error"' in str(llm.requests[4][0][-1]["content"])
    assert llm.request_tools[4] == llm.request_tools[2]
    assert results == [("booking", value)]
    assert llm.request_tools[6] == ["start", "finish"]
