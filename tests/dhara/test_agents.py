"""Multi-agent calls: a triage agent hands a caller to billing mid-call; the next request
carries billing's prompt, tools, LLM settings and the conversation (whole, summarised or reset);
the voice changes before billing's first sentence; the client is told; and interruptions during
the handoff leave a valid context (hypothesis schedules)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dhara.rig import FlowRig
from vani.dhara import Agent, ContextStrategy, FlowManager, Handoff
from vani.frames import (
    LLMTextFrame,
    OutputTransportMessageUrgentFrame,
    TTSUpdateSettingsFrame,
    UserStoppedSpeakingFrame,
)
from vani.processors.aggregators import LLMContext
from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn
from vani.testing.fake_openai import check_messages

TRIAGE = "You are Asha, who answers first and finds out what the caller needs."
BILLING = "You are Ravi from billing. You explain charges and take payments."


async def get_balance(flow_manager: FlowManager, account: str) -> dict[str, object]:
    """Look up what an account owes.

    Args:
        account: The account number.
    """
    return {"account": account, "balance": 1250}


def agents(strategy: ContextStrategy) -> tuple[Agent, Agent]:
    billing = Agent(
        name="billing",
        instructions=BILLING,
        functions=[get_balance],
        model="billing-model",
        temperature=0.7,
        voice="abhilash",
        context_strategy=strategy,
    )
    triage = Agent(
        name="triage",
        instructions=TRIAGE,
        functions=[billing.handoff_function()],
        model="triage-model",
        temperature=0.2,
        voice="anushka",
    )
    # Billing can send the caller back.
    billing.functions = [get_balance, triage.handoff_function()]
    return triage, billing


def call(name: str, **arguments: object) -> ScriptedTurn:
    return ScriptedTurn(tool_calls=[ScriptedToolCall(name, arguments)])  # type: ignore[arg-type]


def summariser(context: LLMContext) -> str | None:
    first = context.messages[1] if len(context.messages) > 1 else {}
    if str(first.get("content", "")).startswith("The conversation:"):
        return "The caller thinks their bill is wrong."
    return None


@pytest.mark.parametrize(
    ("strategy", "history_roles"),
    [
        (ContextStrategy.append(), ["system", "assistant", "user", "assistant", "tool"]),
        (
            ContextStrategy.reset_with_summary("Summarise for billing."),
            ["system", "system"],
        ),
        (ContextStrategy.reset(), ["system"]),
    ],
    ids=["whole", "summarised", "reset"],
)
async def test_triage_hands_the_caller_to_billing_mid_call(
    strategy: ContextStrategy, history_roles: list[str]
) -> None:
    triage, billing = agents(strategy)
    turns: list[ScriptedTurn | str] = [
        "Hello, this is Asha. How can I help?",  # 0 triage
        call("transfer_to_billing", reason="bill looks wrong"),  # 1
    ]
    if strategy.kind.value == "reset_with_summary":
        turns.append("The caller thinks their bill is wrong.")  # the summary request
    turns += [
        "Hi, Ravi from billing here. Your account number?",  # billing, first response
        call("get_balance", account="A-17"),
        "You owe 1250 rupees.",
    ]
    llm = ScriptedLLMService(turns)
    handoffs: list[Handoff] = []
    async with FlowRig(llm=llm, flow=None) as rig:

        @rig.manager.event_handler("on_handoff")
        async def on_handoff(_fm: FlowManager, handoff: Handoff) -> None:
            handoffs.append(handoff)

        await rig.manager.initialize(triage)
        await rig.settle()
        await rig.user_says("My bill is wrong.")
        await rig.settle()
        assert rig.manager.current_agent == "billing"
        await rig.user_says("A-17.")
        await rig.settle()

    requests = [
        (m, t, s)
        for (m, _), t, s in zip(llm.requests, llm.request_tools, llm.request_settings, strict=True)
    ]
    summary = 1 if strategy.kind.value == "reset_with_summary" else 0
    first_billing = 2 + summary
    # Triage's requests: its prompt, its tools, its model and temperature.
    for messages, tools, setting in requests[:2]:
        assert messages[0] == {"role": "system", "content": TRIAGE}
        assert tools == ["transfer_to_billing"]
        assert setting == {"model": "triage-model", "temperature": 0.2}
    # Billing's first request: its prompt on top, its tools, its settings, and the conversation
    # as its strategy carries it.
    messages, tools, setting = requests[first_billing]
    assert messages[0] == {"role": "system", "content": BILLING}
    assert TRIAGE not in str(messages)
    assert tools == ["get_balance", "transfer_to_triage"]
    assert setting == {"model": "billing-model", "temperature": 0.7}
    assert [m["role"] for m in messages] == history_roles
    if summary:
        assert messages[1]["content"] == (
            "Summary of the conversation so far: The caller thinks their bill is wrong."
        )
    assert check_messages(messages) is None  # type: ignore[arg-type]
    assert requests[-1][2] == {"model": "billing-model", "temperature": 0.7}

    # The voice: triage's before its first words, billing's after triage's last words and
    # before billing's first.
    log = rig.speaker.log
    voice_changes = [i for i, f in enumerate(log) if isinstance(f, TTSUpdateSettingsFrame)]
    assert [log[i].settings for i in voice_changes] == [  # type: ignore[attr-defined]
        {"voice": "anushka"},
        {"voice": "abhilash"},
    ]
    texts = [i for i, f in enumerate(log) if isinstance(f, LLMTextFrame)]
    said = "".join(f.text for f in log if isinstance(f, LLMTextFrame))
    assert said.startswith("Hello, this is Asha.")
    assert voice_changes[0] < texts[0]
    first_billing_word = next(
        i
        for i in texts
        if log[i].text.strip() == "Hi,"  # type: ignore[attr-defined]
    )
    last_triage_word = max(i for i in texts if i < first_billing_word)
    assert last_triage_word < voice_changes[1] < first_billing_word
    # The client hears of it as a RAVI server-message.
    messages_out = [f.message for f in rig.speaker.of(OutputTransportMessageUrgentFrame)]  # type: ignore[attr-defined]
    assert messages_out == [
        {
            "label": "rtvi-ai",
            "type": "server-message",
            "data": {"type": "agent-handoff", "from": None, "to": "triage", "reason": ""},
        },
        {
            "label": "rtvi-ai",
            "type": "server-message",
            "data": {
                "type": "agent-handoff",
                "from": "triage",
                "to": "billing",
                "reason": "bill looks wrong",
            },
        },
    ]
    assert handoffs == [
        Handoff(None, "triage"),
        Handoff("triage", "billing", "bill looks wrong"),
    ]


# -- races -----------------------------------------------------------------------------------------

schedules = st.lists(
    st.one_of(
        st.tuples(st.just("say"), st.sampled_from(["bill", "back", "balance", "hi"])),
        st.tuples(st.just("interrupt"), st.just(0.0)),
        st.tuples(st.just("wait"), st.sampled_from([0.0, 0.003, 0.01, 0.03])),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    schedule=schedules,
    strategy=st.sampled_from(["append", "reset", "summary"]),
    summary_delay=st.sampled_from([0.0, 0.005, 0.02]),
)
async def test_interruptions_during_a_handoff_leave_a_valid_context(
    schedule: list[tuple[str, object]], strategy: str, summary_delay: float
) -> None:
    chosen = {
        "append": ContextStrategy.append(),
        "reset": ContextStrategy.reset(),
        "summary": ContextStrategy.reset_with_summary("Summarise."),
    }[strategy]
    triage, billing = agents(chosen)
    violations: list[str] = []
    manager: list[FlowManager] = []
    expected = {
        "triage": (TRIAGE, ["transfer_to_billing"], "triage-model"),
        "billing": (BILLING, ["get_balance", "transfer_to_triage"], "billing-model"),
    }

    def check(context: LLMContext, tools: list[str], model: str, when: str) -> None:
        agent = manager[0].current_agent
        assert agent is not None
        prompt, own_tools, own_model = expected[agent]
        if context.messages[0] != {"role": "system", "content": prompt}:
            violations.append(f"{when}: {agent} does not lead with its prompt")
        if any(
            m.get("content") == expected[a][0]
            for a in expected
            if a != agent
            for m in context.messages
        ):
            violations.append(f"{when}: the other agent's prompt is in {agent}'s context")
        if tools != own_tools:
            violations.append(f"{when}: {agent} is offered {tools}")
        if model != own_model:
            violations.append(f"{when}: {agent} runs on {model}")
        problem = check_messages(context.messages)  # type: ignore[arg-type]
        if problem is not None:
            violations.append(f"{when}: invalid history: {problem}")

    def rule(context: LLMContext) -> ScriptedTurn | str:
        first = context.messages[1] if len(context.messages) > 1 else {}
        if str(first.get("content", "")).startswith("The conversation:"):
            return "Summary."
        tools = [t.name for t in context.tools]
        check(context, tools, llm.settings["model"], "LLM run")  # type: ignore[arg-type]
        last_user = next(
            (str(m["content"]) for m in reversed(context.messages) if m["role"] == "user"), ""
        )
        if context.messages[-1]["role"] == "tool":
            return "Done, anything else?"
        if "bill" in last_user and "transfer_to_billing" in tools:
            return call("transfer_to_billing", reason="bill")
        if "back" in last_user and "transfer_to_triage" in tools:
            return call("transfer_to_triage")
        if "balance" in last_user and "get_balance" in tools:
            return call("get_balance", account="A-1")
        return "How can I help?"

    async def slow_summary(messages: object, prompt: str) -> str:
        await asyncio.sleep(summary_delay)
        return "Summary."

    llm = ScriptedLLMService(rule=rule, token_delay_secs=0.002)
    async with FlowRig(llm=llm, flow=None, summarizer=slow_summary) as rig:
        manager.append(rig.manager)
        await rig.manager.initialize(triage)
        for kind, arg in schedule:
            if kind == "say":
                await rig.user_says(str(arg))
            elif kind == "interrupt":
                await rig.user_starts_speaking()
                await asyncio.sleep(0.002)
                await rig.task.queue_frame(UserStoppedSpeakingFrame())
            else:
                await asyncio.sleep(float(arg))  # type: ignore[arg-type]
        await rig.settle()
        agent = rig.manager.current_agent
        assert agent is not None
        check(rig.context, [t.name for t in rig.context.tools], llm.settings["model"], "end")  # type: ignore[arg-type]
        # The voice last sent is the agent's who talks now.
        voices = [f.settings for f in rig.speaker.of(TTSUpdateSettingsFrame)]  # type: ignore[attr-defined]
        assert voices[-1] == {"voice": "anushka" if agent == "triage" else "abhilash"}
        assert llm.function_calls_in_progress == []
    assert violations == []
