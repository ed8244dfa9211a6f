"""Random schedules of tool results, interruptions and user turns against a three-node flow:
the LLM is never offered another node's tools, and a transition is never half-applied."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.dhara.rig import FlowRig
from vani.dhara import ContextStrategy, Flow, FlowFunction, FlowManager, Node
from vani.frames import FlowTransitionFrame, JSONObject
from vani.processors.aggregators import LLMContext
from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn
from vani.testing.fake_openai import check_messages

ROLE = "You are the race tester."
NODES = ("a", "b", "c")

turns = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("call"), st.integers(0, 9), st.integers(1, 2)),
        st.tuples(st.just("stale"), st.sampled_from(NODES), st.just(0)),
    ),
    max_size=10,
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("say"), st.sampled_from(["hi", "go on", "change it"])),
        st.tuples(st.just("interrupt"), st.just("")),
        st.tuples(st.just("wait"), st.sampled_from(["0", "0.004", "0.012", "0.03"])),
    ),
    max_size=10,
)
delays = st.lists(st.sampled_from([0.0, 0.002, 0.01, 0.03, 0.06]), max_size=12)


class Race:
    """The flow, its handlers, and the scripted LLM's rule, with what they observed."""

    def __init__(self, script: list[tuple[str, int, int]], handler_delays: list[float]) -> None:
        self.script = list(script)
        self.delays = list(handler_delays)
        self.final = False
        self.violations: list[str] = []
        self.completed_moves: Counter[tuple[str | None, str]] = Counter()
        self.manager: FlowManager | None = None
        self.cancelled = 0

    # -- the flow -----------------------------------------------------------------------------

    def flow(self) -> Flow:
        def move(src: str, dst: str, *, declared: bool, keep: bool = False) -> FlowFunction:
            handler = self.handler(src, dst if not declared else None, dst)
            return FlowFunction(
                name=f"{src}_to_{dst}",
                handler=handler,
                transition_to=dst if declared else None,
                may_transition_to=() if declared else (dst,),
                cancel_on_interruption=not keep,
            )

        def stay(node: str) -> FlowFunction:
            return FlowFunction(name=f"stay_{node}", handler=self.handler(node, None, None))

        def prompt(node: str) -> list[JSONObject]:
            return [{"role": "system", "content": f"Prompt of {node}."}]

        return Flow(
            initial_node="a",
            role_message=ROLE,
            global_functions=[FlowFunction(name="anywhere", handler=self.handler("*", None, None))],
            nodes=[
                Node(
                    name="a",
                    task_messages=prompt("a"),
                    functions=[
                        stay("a"),
                        move("a", "b", declared=True),
                        move("a", "c", declared=False, keep=True),
                    ],
                ),
                Node(
                    name="b",
                    task_messages=prompt("b"),
                    context_strategy=ContextStrategy.reset(),
                    functions=[
                        stay("b"),
                        move("b", "a", declared=False),
                        move("b", "c", declared=True),
                    ],
                ),
                Node(
                    name="c",
                    task_messages=prompt("c"),
                    context_strategy=ContextStrategy.reset_with_summary("Summarise."),
                    functions=[stay("c"), move("c", "a", declared=True, keep=True)],
                ),
            ],
        )

    def handler(self, node: str, returns: str | None, target: str | None) -> object:
        async def handle(args: dict[str, object], fm: FlowManager) -> object:
            where = fm.current_node
            delay = self.delays.pop(0) if self.delays else 0.0
            try:
                if delay:
                    await asyncio.sleep(delay)
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            if target is not None:
                self.completed_moves[(where, target)] += 1
            return ("moved", returns) if returns is not None else "done"

        return handle

    # -- what the LLM sees ---------------------------------------------------------------------

    def expected_tools(self, node: str | None) -> list[str]:
        flow = self.flow()
        found = flow.node(node or "")
        own = [f.name for f in found.functions] if found is not None else []
        return [*own, "anywhere"]

    def check(self, context: LLMContext, when: str) -> None:
        assert self.manager is not None
        node = self.manager.current_node
        tools = [t.name for t in context.tools]
        if tools != self.expected_tools(node):
            self.violations.append(f"{when}: in {node} the LLM is offered {tools}")
        prompts = [
            m["content"]
            for m in context.messages
            if m["role"] == "system" and str(m["content"]).startswith("Prompt of")
        ]
        if prompts != [f"Prompt of {node}."]:
            self.violations.append(f"{when}: in {node} the prompts are {prompts}")
        if not context.messages or context.messages[0] != {"role": "system", "content": ROLE}:
            self.violations.append(f"{when}: the role message is not first")
        problem = check_messages(context.messages)  # type: ignore[arg-type]
        if problem is not None:
            self.violations.append(f"{when}: invalid history: {problem}")

    def rule(self, context: LLMContext) -> ScriptedTurn | str:
        if len(context.messages) > 1 and str(context.messages[1]["content"]).startswith(
            "The conversation:"
        ):
            return "A summary."
        self.check(context, "LLM run")
        if self.final or not self.script:
            return "I am listening."
        kind, index, count = self.script.pop(0)
        if kind == "text":
            return " ".join(["word"] * index) or "ok"
        tools = [t.name for t in context.tools]
        if kind == "stale":
            node = str(NODES[index % 3]) if isinstance(index, int) else str(index)
            return ScriptedTurn(tool_calls=[ScriptedToolCall(f"stay_{node}")])
        names = [tools[(index + i) % len(tools)] for i in range(count)]
        return ScriptedTurn(tool_calls=[ScriptedToolCall(n) for n in names])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(script=turns, schedule=steps, handler_delays=delays)
async def test_no_schedule_offers_another_nodes_tools_or_half_applies_a_transition(
    script: list[tuple[str, int, int]],
    schedule: list[tuple[str, str]],
    handler_delays: list[float],
) -> None:
    race = Race(script, handler_delays)
    llm = ScriptedLLMService(rule=race.rule, token_delay_secs=0.001, max_tool_rounds=4)
    async with FlowRig(llm=llm, flow=race.flow()) as rig:
        race.manager = rig.manager

        @rig.manager.event_handler("on_transition")
        async def entered(_fm: FlowManager, from_node: str | None, to_node: str) -> None:
            race.check(rig.context, f"entering {to_node}")

        await rig.manager.initialize()
        for kind, arg in schedule:
            if kind == "say":
                await rig.user_says(arg)
            elif kind == "interrupt":
                await rig.user_starts_speaking()
                await asyncio.sleep(0.002)
                await rig.task.queue_frame(_stopped())
            else:
                await asyncio.sleep(float(arg))
            race.check(rig.context, f"after {kind}")
        await rig.settle()
        # Back to listening: a last user turn is answered in whatever node the flow is in.
        race.final = True
        await rig.user_says("are you there?")
        await rig.settle()
        assert rig.context.messages[-1] == {"role": "assistant", "content": "I am listening."}
        assert llm.function_calls_in_progress == []
        race.check(rig.context, "at the end")

    assert race.violations == []
    moves = [(f.from_node, f.to_node) for f in rig.speaker.of(FlowTransitionFrame)]  # type: ignore[attr-defined]
    assert moves == rig.transitions
    # The moves chain up, and each one comes from a handler call that finished (a cancelled
    # handler never moves the flow).
    assert moves[0] == (None, "a")
    for (_, previous), (source, _) in itertools.pairwise(moves):
        assert source == previous
    made = Counter(moves[1:])
    event(f"transitions: {min(len(made.keys()) and sum(made.values()), 3)}+")
    event(f"handlers cancelled: {race.cancelled > 0}")
    event(f"moves cut short: {sum(race.completed_moves.values()) > sum(made.values())}")
    assert all(made[m] <= race.completed_moves[m] for m in made), (made, race.completed_moves)
    tool_messages = [m for m in rig.context.messages if m["role"] == "tool"]
    assert all("in_progress" not in str(m["content"]) for m in tool_messages)


def _stopped() -> object:
    from vani.frames import UserStoppedSpeakingFrame

    return UserStoppedSpeakingFrame()
