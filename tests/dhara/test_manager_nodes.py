"""FlowManager with the scripted LLM: context strategies, actions, handlers, dynamic nodes."""

from __future__ import annotations

import asyncio

import pytest

from tests.dhara.rig import FlowRig, load_example
from vani.dhara import Action, ContextStrategy, Flow, FlowFunction, FlowManager, Node, load_flow
from vani.errors import ConfigurationError, FlowError
from vani.frames import (
    BotStoppedSpeakingFrame,
    EndFrame,
    FlowTransitionFrame,
    FunctionCallResultFrame,
    JSONObject,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSSpeakFrame,
)
from vani.pipeline import Pipeline, PipelineTask
from vani.processors.aggregators import LLMContext
from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn, ToolResult

ROLE = "You are a test bot."


def system(text: str) -> JSONObject:
    return {"role": "system", "content": text}


def two_nodes(strategy: ContextStrategy, **b_options: object) -> Flow:
    return Flow(
        initial_node="a",
        role_message=ROLE,
        nodes=[
            Node(
                name="a",
                task_messages=[system("Prompt of A.")],
                functions=[FlowFunction(name="go_b", transition_to="b")],
            ),
            Node(
                name="b",
                task_messages=[system("Prompt of B for {{name}}.")],
                context_strategy=strategy,
                **b_options,  # type: ignore[arg-type]
            ),
        ],
    )


def go(name: str = "go_b", **arguments: object) -> ScriptedTurn:
    return ScriptedTurn(tool_calls=[ScriptedToolCall(name, arguments)])  # type: ignore[arg-type]


async def run_to_b(
    strategy: ContextStrategy, *turns: ScriptedTurn | str, **manager_kwargs: object
) -> tuple[ScriptedLLMService, FlowRig]:
    llm = ScriptedLLMService(["Hello from A.", go(), *turns])
    async with FlowRig(llm=llm, flow=two_nodes(strategy), **manager_kwargs) as rig:
        rig.manager.state["name"] = "Asha"
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Take me to B.")
        await rig.settle()
    return llm, rig


async def test_append_keeps_the_conversation_and_swaps_the_node_prompt() -> None:
    llm, rig = await run_to_b(ContextStrategy.append(), "Hello from B.")
    messages, _choice = llm.requests[2]
    assert [m["role"] for m in messages] == [
        "system",
        "assistant",
        "user",
        "assistant",
        "tool",
        "system",
    ]
    assert messages[0] == system(ROLE)
    assert messages[1] == {"role": "assistant", "content": "Hello from A."}
    assert messages[2] == {"role": "user", "content": "Take me to B."}
    assert messages[-1] == system("Prompt of B for Asha.")
    assert system("Prompt of A.") not in messages
    assert rig.manager.current_node == "b"


async def test_reset_keeps_only_the_role_and_the_new_prompt() -> None:
    llm, _rig = await run_to_b(ContextStrategy.reset(), "Hello from B.")
    assert llm.requests[2][0] == [system(ROLE), system("Prompt of B for Asha.")]


async def test_reset_with_summary_puts_the_llm_summary_between_role_and_prompt() -> None:
    strategy = ContextStrategy.reset_with_summary("Summarise, please.")
    llm, _rig = await run_to_b(strategy, "The user wants B.", "Hello from B.")
    summary_request = llm.requests[2][0]
    assert summary_request[0] == system("Summarise, please.")
    assert summary_request[1]["content"] == (
        "The conversation:\nassistant: Hello from A.\nuser: Take me to B.\n"
        "assistant called go_b({})"
    )
    assert llm.requests[3][0] == [
        system(ROLE),
        system("Summary of the conversation so far: The user wants B."),
        system("Prompt of B for Asha."),
    ]


async def test_a_custom_summarizer_replaces_the_llm_summary() -> None:
    seen: list[tuple[int, str]] = []

    async def summarize(messages: list[JSONObject], prompt: str) -> str:
        seen.append((len(messages), prompt))
        return "custom summary"

    strategy = ContextStrategy.reset_with_summary("P")
    llm, _rig = await run_to_b(strategy, "Hello from B.", summarizer=summarize)
    assert seen == [(6, "P")]  # role, A's reply, user, tool call, tool result, A's prompt
    assert llm.requests[2][0][1] == system("Summary of the conversation so far: custom summary")


async def test_a_failed_summary_falls_back_to_append() -> None:
    async def broken(messages: list[JSONObject], prompt: str) -> str:
        raise RuntimeError("no summary today")

    llm, rig = await run_to_b(
        ContextStrategy.reset_with_summary(), "Hello from B.", summarizer=broken
    )
    messages = llm.requests[2][0]
    assert messages[1] == {"role": "assistant", "content": "Hello from A."}
    assert messages[-1] == system("Prompt of B for Asha.")
    assert rig.manager.current_node == "b"


async def test_pre_actions_run_before_entry_and_post_actions_after_the_bot_spoke() -> None:
    log: list[str] = []

    async def pre_fn(action: Action, fm: FlowManager) -> None:
        log.append(f"pre_fn in {fm.current_node}")

    async def post_fn(action: Action, fm: FlowManager) -> None:
        log.append(f"post_fn in {fm.current_node}")

    async def note(action: Action, fm: FlowManager) -> None:
        log.append(f"note {action.options['level']}")

    flow = two_nodes(
        ContextStrategy.append(),
        pre_actions=[
            Action.tts_say("One moment, {{name}}."),
            Action.function("pre_fn"),
            Action("note", options={"level": 2}),
        ],
        post_actions=[Action.function("post_fn"), Action.end_conversation("Bye, {{name}}!")],
    )
    llm = ScriptedLLMService(["Hello from A.", go(), "Here is B."])
    async with FlowRig(
        llm=llm,
        flow=flow,
        handlers={"pre_fn": pre_fn, "post_fn": post_fn},
        action_handlers={"note": note},
    ) as rig:

        @rig.manager.event_handler("on_actions_done")
        async def done(_fm: FlowManager, node: str, kind: str) -> None:
            log.append(f"{kind} actions of {node} done")

        rig.manager.state["name"] = "Asha"
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Take me to B.")
        await rig.settle()
        assert rig.finished  # end_conversation ended the pipeline

    assert log == [
        "pre_fn in a",
        "note 2",
        "pre actions of b done",
        "post_fn in b",
        "post actions of b done",
    ]
    frames = rig.speaker.log
    said = [f.text for f in frames if isinstance(f, TTSSpeakFrame)]
    assert said == ["One moment, Asha.", "Bye, Asha!"]
    first_say = next(i for i, f in enumerate(frames) if isinstance(f, TTSSpeakFrame))
    transition = next(
        i for i, f in enumerate(frames) if isinstance(f, FlowTransitionFrame) and f.to_node == "b"
    )
    b_start = max(i for i, f in enumerate(frames) if isinstance(f, LLMFullResponseStartFrame))
    b_end = max(i for i, f in enumerate(frames) if isinstance(f, LLMFullResponseEndFrame))
    goodbye = max(i for i, f in enumerate(frames) if isinstance(f, TTSSpeakFrame))
    end = next(i for i, f in enumerate(frames) if isinstance(f, EndFrame))
    # The pre-action's words come before B's response; the goodbye after it, then the end.
    assert first_say < b_start < b_end < goodbye < end
    assert transition < b_start


async def test_post_actions_wait_for_the_bot_to_stop_speaking() -> None:
    ran = asyncio.Event()

    async def post_fn(action: Action, fm: FlowManager) -> None:
        ran.set()

    flow = two_nodes(ContextStrategy.append(), post_actions=[Action.function("post_fn")])
    llm = ScriptedLLMService(["Hello from A.", go(), "Here is B."])
    async with FlowRig(llm=llm, flow=flow, handlers={"post_fn": post_fn}) as rig:
        await rig.manager.initialize()
        await rig.settle()
        assert not ran.is_set()
        await rig.user_says("Take me to B.")
        await rig.settle()
        assert ran.is_set()
    stops = [i for i, f in enumerate(rig.speaker.log) if isinstance(f, LLMFullResponseEndFrame)]
    assert len(stops) == 3  # A's reply, the tool call, B's reply


async def test_a_node_that_does_not_respond_immediately_waits_for_the_user() -> None:
    llm = ScriptedLLMService(["Hello from A.", go(), "B answers the user."])
    flow = two_nodes(ContextStrategy.append(), respond_immediately=False)
    async with FlowRig(llm=llm, flow=flow) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Take me to B.")
        await rig.settle()
        assert rig.manager.current_node == "b"
        assert len(llm.requests) == 2  # no LLM run on entering B
        results = rig.speaker.of(FunctionCallResultFrame)
        assert [f.run_llm for f in results] == [False]  # type: ignore[attr-defined]
        await rig.user_says("Hello?")
        await rig.settle()
    messages = llm.requests[2][0]
    assert messages[-2] == system("Prompt of B for {{name}}.")
    assert messages[-1] == {"role": "user", "content": "Hello?"}


async def test_handlers_take_args_or_args_and_the_flow_manager() -> None:
    async def one(args: dict[str, object]) -> dict[str, object]:
        return {"echo": args["x"]}

    async def two(args: dict[str, object], fm: FlowManager) -> tuple[str, str]:
        fm.state["x"] = args["x"]
        return "moving", "b"

    flow = Flow(
        initial_node="a",
        nodes=[
            Node(
                name="a",
                functions=[
                    FlowFunction(name="one", handler="one"),
                    FlowFunction(name="two", handler="two", may_transition_to=["b"]),
                ],
            ),
            Node(name="b", task_messages=[system("x is {{x}}")]),
        ],
    )
    llm = ScriptedLLMService(
        [
            "Hi.",
            ScriptedTurn(tool_calls=[ScriptedToolCall("one", {"x": 1})]),
            ScriptedTurn(tool_calls=[ScriptedToolCall("two", {"x": 7})]),
            "In B.",
        ]
    )
    async with FlowRig(llm=llm, flow=flow, handlers={"one": one, "two": two}) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Go.")
        await rig.settle()
    tool_messages = [m for m in llm.requests[-1][0] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ['{"echo": 1}', "moving"]
    assert llm.requests[-1][0][-1] == system("x is 7")
    assert rig.transitions[-1] == ("a", "b")


async def test_a_data_handler_can_transition_and_its_data_stays_out_of_the_llm() -> None:
    async def lookup(args: dict[str, object]) -> tuple[ToolResult, str]:
        return ToolResult(summary="found 3", data={"secret": "s3cr3t"}), "b"

    flow = Flow(
        initial_node="a",
        nodes=[
            Node(
                name="a",
                functions=[FlowFunction(name="lookup", handler=lookup, may_transition_to=["b"])],
            ),
            Node(name="b", task_messages=[system("In B.")]),
        ],
    )
    llm = ScriptedLLMService(["Hi.", go("lookup"), "B."])
    async with FlowRig(llm=llm, flow=flow) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Look it up.")
        await rig.settle()
    assert rig.manager.current_node == "b"
    assert "s3cr3t" not in repr(llm.requests)
    assert [m["content"] for m in llm.requests[-1][0] if m["role"] == "tool"] == ["found 3"]


async def test_transition_to_mapping_selects_the_node_by_result_value() -> None:
    async def decide(args: dict[str, object]) -> dict[str, object]:
        return {"answer": args["answer"]}

    def flow() -> Flow:
        return Flow(
            initial_node="ask",
            nodes=[
                Node(
                    name="ask",
                    functions=[
                        FlowFunction(
                            name="decide",
                            handler=decide,
                            transition_to={"yes": "yes", "*": "other"},
                            transition_key="answer",
                        )
                    ],
                ),
                Node(name="yes"),
                Node(name="other"),
            ],
        )

    for answer, node in (("yes", "yes"), ("maybe", "other")):
        llm = ScriptedLLMService(["?", go("decide", answer=answer), "ok"])
        async with FlowRig(llm=llm, flow=flow()) as rig:
            await rig.manager.initialize()
            await rig.settle()
            await rig.user_says("Answer.")
            await rig.settle()
        assert rig.manager.current_node == node


async def test_a_dynamic_node_built_by_a_handler_is_entered() -> None:
    async def make(args: dict[str, object]) -> tuple[str, Node]:
        return "ok", Node(
            name="dynamic",
            task_messages=[system(f"Made for {args['who']}.")],
            functions=[FlowFunction(name="back", transition_to="a")],
        )

    flow = Flow(
        initial_node="a",
        nodes=[Node(name="a", functions=[FlowFunction(name="make", handler=make)])],
    )
    llm = ScriptedLLMService(["Hi.", go("make", who="Ravi"), "Dynamic!", go("back"), "A again."])
    async with FlowRig(llm=llm, flow=flow) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Make a node.")
        await rig.settle()
        assert rig.manager.current_node == "dynamic"
        assert [t.name for t in rig.context.tools] == ["back"]
        await rig.user_says("Go back.")
        await rig.settle()
    assert rig.transitions == [(None, "a"), ("a", "dynamic"), ("dynamic", "a")]
    assert llm.requests[2][0][-1] == system("Made for Ravi.")


async def test_an_invalid_dynamic_node_is_an_error_result_and_the_flow_stays() -> None:
    async def make(args: dict[str, object]) -> tuple[str, Node]:
        return "ok", Node(name="bad", functions=[FlowFunction(name="x", transition_to="nowhere")])

    flow = Flow(
        initial_node="a",
        nodes=[Node(name="a", functions=[FlowFunction(name="make", handler=make)])],
    )
    llm = ScriptedLLMService(["Hi.", go("make"), "Sorry."])
    async with FlowRig(llm=llm, flow=flow) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Make it.")
        await rig.settle()
    assert rig.manager.current_node == "a"
    tool = next(m for m in llm.requests[-1][0] if m["role"] == "tool")
    assert "unknown node 'nowhere'" in str(tool["content"])


async def test_a_call_to_a_function_of_another_node_is_refused() -> None:
    flow = Flow(
        initial_node="a",
        nodes=[
            Node(name="a", functions=[FlowFunction(name="go_b", transition_to="b")]),
            Node(name="b", functions=[FlowFunction(name="go_a", transition_to="a")]),
        ],
    )
    llm = ScriptedLLMService(["Hi.", go("go_b"), go("go_b"), "Still B."])
    async with FlowRig(llm=llm, flow=flow) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("B twice.")
        await rig.settle()
    assert rig.transitions == [(None, "a"), ("a", "b")]
    last_tool = [m for m in llm.requests[-1][0] if m["role"] == "tool"][-1]
    assert last_tool["content"] == '{"error": "function \'go_b\' is not available now"}'


async def test_set_node_moves_the_flow_from_outside_a_tool_call() -> None:
    llm = ScriptedLLMService(["Hello from A.", "Hello from B."])
    async with FlowRig(llm=llm, flow=two_nodes(ContextStrategy.reset())) as rig:
        with pytest.raises(FlowError, match="initialize"):
            await rig.manager.set_node("b")
        await rig.manager.initialize()
        await rig.settle()
        await rig.manager.set_node("b")
        await rig.settle()
        with pytest.raises(FlowError, match="unknown node 'c'"):
            await rig.manager.set_node("c")
        with pytest.raises(FlowError, match="already initialized"):
            await rig.manager.initialize()
    assert rig.manager.current_node == "b"
    assert llm.requests[1][0] == [system(ROLE), system("Prompt of B for {{name}}.")]
    assert [f.to_node for f in rig.speaker.of(FlowTransitionFrame)] == ["a", "b"]  # type: ignore[attr-defined]


async def test_a_flow_loaded_from_json_behaves_like_the_same_flow_built_in_python() -> None:
    example = load_example()
    transcripts = []
    requests = []
    for flow in (example.build_flow(), load_flow(example.FLOW_JSON)):
        ref: list[FlowManager] = []
        llm = example.scripted_llm(ref)
        output = await example.run(
            llm=llm, flow=flow, caller_lines=example.CALLER_LINES, flow_manager_ref=ref
        )
        transcripts.append(output.transcript)
        requests.append(llm.requests)
    assert example.build_flow() == load_flow(example.FLOW_JSON)
    assert transcripts[0] == transcripts[1]
    assert requests[0] == requests[1]
    assert transcripts[0][-2:] == [
        "-> end",
        "bot: Thank you! Your pizza will be ready in 20 minutes. Goodbye!",
    ]
    assert "data: get_menu" in transcripts[0]


async def test_the_manager_reads_the_context_of_the_aggregator() -> None:
    context = LLMContext(messages=[{"role": "user", "content": "earlier"}])
    llm = ScriptedLLMService(["Hello from A."])
    async with FlowRig(llm=llm, flow=two_nodes(ContextStrategy.append()), context=context) as rig:
        assert rig.manager.context is context
        await rig.manager.initialize()
        await rig.settle()
    # initialize keeps what was there, puts the role message first and the prompt last.
    assert llm.requests[0][0] == [
        system(ROLE),
        {"role": "user", "content": "earlier"},
        system("Prompt of A."),
    ]
    assert BotStoppedSpeakingFrame  # used by the rig; imported to document the contract


# -- interruptions in the middle of a transition ----------------------------------------------


class Gate:
    """Lets a test act while a handler is surely running, whatever the machine's load."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def wait_started(self) -> None:
        await asyncio.wait_for(self.started.wait(), 10)


def slow_move_flow(
    *, keep: bool, strategy: ContextStrategy | None = None, gate: Gate | None = None
) -> Flow:
    async def slow(args: dict[str, object]) -> str:
        if gate is None:
            await asyncio.sleep(0.05)
        else:
            gate.started.set()
            await asyncio.wait_for(gate.release.wait(), 10)
        return "moved"

    return Flow(
        initial_node="a",
        role_message=ROLE,
        nodes=[
            Node(
                name="a",
                task_messages=[system("Prompt of A.")],
                functions=[
                    FlowFunction(
                        name="go_b",
                        handler=slow,
                        transition_to="b",
                        cancel_on_interruption=not keep,
                    )
                ],
            ),
            Node(
                name="b",
                task_messages=[system("Prompt of B.")],
                functions=[FlowFunction(name="in_b", transition_to="a")],
                context_strategy=strategy or ContextStrategy.append(),
            ),
        ],
    )


async def test_an_interrupted_handler_does_not_move_the_flow() -> None:
    llm = ScriptedLLMService(["Hello from A.", go(), "Still in A."])
    gate = Gate()
    async with FlowRig(llm=llm, flow=slow_move_flow(keep=False, gate=gate)) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Go to B.")
        await gate.wait_started()  # the handler is running
        await rig.user_starts_speaking()
        gate.release.set()
        await rig.settle()
        assert rig.manager.current_node == "a"
        assert [t.name for t in rig.context.tools] == ["go_b"]
        tool = next(m for m in rig.context.messages if m["role"] == "tool")
        assert "cancelled" in str(tool["content"])
        await rig.user_says("Never mind.")
        await rig.settle()
    assert rig.transitions == [(None, "a")]
    messages = llm.requests[-1][0]
    assert system("Prompt of A.") in messages
    assert system("Prompt of B.") not in messages


async def test_an_uninterruptible_handler_moves_the_flow_without_running_the_llm() -> None:
    llm = ScriptedLLMService(["Hello from A.", go(), "B speaks after the user."])
    gate = Gate()
    async with FlowRig(llm=llm, flow=slow_move_flow(keep=True, gate=gate)) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Go to B.")
        await gate.wait_started()
        await rig.user_starts_speaking()
        gate.release.set()
        await rig.settle()
        # The call finished after the barge-in: the flow is fully in B, the LLM did not run.
        assert rig.manager.current_node == "b"
        assert [t.name for t in rig.context.tools] == ["in_b"]
        assert len(llm.requests) == 2
        await rig.user_says("And now?")
        await rig.settle()
    messages = llm.requests[2][0]
    assert messages[-2] == system("Prompt of B.")
    assert messages[-1] == {"role": "user", "content": "And now?"}
    assert rig.transitions == [(None, "a"), ("a", "b")]


async def test_an_interruption_during_the_summary_leaves_the_flow_in_the_old_node() -> None:
    summary_started = asyncio.Event()

    async def slow_summary(messages: list[JSONObject], prompt: str) -> str:
        summary_started.set()
        await asyncio.sleep(10)
        return "never used"

    flow = slow_move_flow(keep=False, strategy=ContextStrategy.reset_with_summary())
    llm = ScriptedLLMService(["Hello from A.", go(), "Still A."])
    async with FlowRig(llm=llm, flow=flow, summarizer=slow_summary) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Go to B.")
        await asyncio.wait_for(summary_started.wait(), 10)  # handler done, summary running
        await rig.user_starts_speaking()
        await rig.settle()
        assert rig.manager.current_node == "a"
        assert [t.name for t in rig.context.tools] == ["go_b"]
        assert system("Prompt of A.") in rig.context.messages
    assert rig.transitions == [(None, "a")]
    assert [f.to_node for f in rig.speaker.of(FlowTransitionFrame)] == ["a"]  # type: ignore[attr-defined]


async def test_post_actions_can_follow_the_response_in_a_text_pipeline() -> None:
    ran: list[str | None] = []

    async def post_fn(action: Action, fm: FlowManager) -> None:
        ran.append(fm.current_node)

    flow = two_nodes(ContextStrategy.append(), post_actions=[Action.function("post_fn")])
    llm = ScriptedLLMService(["Hello from A.", go(), "B."])
    async with FlowRig(
        llm=llm, flow=flow, handlers={"post_fn": post_fn}, post_actions_after="response_end"
    ) as rig:
        # No speech at all: the rig's speaker is told to stay silent.
        rig.speaker.silent = True
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Take me to B.")
        await rig.settle()
    assert ran == ["b"]
    assert rig.speaker.of(BotStoppedSpeakingFrame) == []


def test_post_actions_after_must_be_a_known_moment() -> None:
    with pytest.raises(ConfigurationError, match="post_actions_after"):
        FlowManager(
            task=PipelineTask(Pipeline([ScriptedLLMService()])),
            llm=ScriptedLLMService(),
            flow=two_nodes(ContextStrategy.append()),
            post_actions_after="whenever",  # type: ignore[arg-type]
        )


async def test_the_initial_nodes_pre_actions_run_before_its_first_response() -> None:
    flow = two_nodes(ContextStrategy.append())
    flow.nodes[0].pre_actions.append(Action.tts_say("Welcome, {{name}}."))
    llm = ScriptedLLMService(["Hello from A."])
    async with FlowRig(llm=llm, flow=flow) as rig:
        rig.manager.state["name"] = "Asha"
        await rig.manager.initialize()
        await rig.settle()
    kinds = [type(f).__name__ for f in rig.speaker.log]
    assert kinds[:3] == ["TTSSpeakFrame", "FlowTransitionFrame", "LLMFullResponseStartFrame"]
    assert rig.speaker.of(TTSSpeakFrame)[0].text == "Welcome, Asha."  # type: ignore[attr-defined]


async def test_an_end_node_ends_a_text_pipeline_by_itself() -> None:
    """No output transport, no option: the end node's post-action fires at the response end."""
    flow = Flow(
        initial_node="a",
        nodes=[
            Node(
                name="a",
                task_messages=[{"role": "system", "content": "A."}],
                functions=[FlowFunction(name="finish", transition_to="end")],
            ),
            Node(
                name="end",
                task_messages=[{"role": "system", "content": "Say goodbye."}],
                post_actions=[Action.end_conversation()],
            ),
        ],
    )
    llm = ScriptedLLMService(["Hi.", ScriptedTurn(tool_calls=[ScriptedToolCall("finish")]), "Bye."])
    async with FlowRig(llm=llm, flow=flow) as rig:
        rig.speaker.silent = True
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("I am done.")
        await rig.settle()
        assert rig.finished
    assert rig.speaker.of(BotStoppedSpeakingFrame) == []
