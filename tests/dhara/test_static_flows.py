"""Pipecat Flows' static flows: a ``FlowConfig`` ({"initial_node", "nodes"}) whose functions
move with ``transition_to`` or pick the next node at run time with ``transition_callback``
(both of Flows' signatures), driven by the scripted LLM through every node to its end."""

from __future__ import annotations

import pytest

from tests.dhara.rig import FlowRig
from vani.dhara import (
    FlowArgs,
    FlowConfig,
    FlowManager,
    FlowResult,
    FlowsFunctionSchema,
    NodeConfig,
    load_flow,
)
from vani.errors import FlowError, FlowValidationError
from vani.frames import JSONObject
from vani.services.llm import ScriptedLLMService, ScriptedToolCall, ScriptedTurn


def call(name: str, **arguments: object) -> ScriptedTurn:
    return ScriptedTurn(tool_calls=[ScriptedToolCall(name, arguments)])  # type: ignore[arg-type]


def system(text: str) -> JSONObject:
    return {"role": "system", "content": text}


class Insurance:
    """A static flow in Flows' older style, with the log of what its functions saw."""

    def __init__(self) -> None:
        self.log: list[str] = []

    async def record_age(self, args: FlowArgs) -> FlowResult:
        self.log.append(f"record_age {args['age']}")
        return {"status": "success", "age": args["age"]}  # type: ignore[typeddict-unknown-key]

    async def after_age(
        self, args: FlowArgs, result: FlowResult, flow_manager: FlowManager
    ) -> None:
        """The newer callback signature: (args, result, flow_manager)."""
        age = result["age"]  # type: ignore[typeddict-item]
        self.log.append(f"after_age {args['age']} {age} in {flow_manager.current_node}")
        flow_manager.state["age"] = age
        await flow_manager.set_node("adult" if int(age) >= 18 else "minor")  # type: ignore[call-overload]

    async def choose_plan(self, args: FlowArgs, flow_manager: FlowManager) -> FlowResult:
        self.log.append(f"choose_plan {args['plan']}")
        return {"status": "success"}

    async def after_plan(self, args: FlowArgs, flow_manager: FlowManager) -> None:
        """The older callback signature: (args, flow_manager), with Flows' older
        set_node(name, node_config)."""
        self.log.append(f"after_plan {args['plan']}")
        flow_manager.state["plan"] = args["plan"]
        await flow_manager.set_node("confirm", self.confirm_node(str(args["plan"])))

    def confirm_node(self, plan: str) -> NodeConfig:
        return {
            "task_messages": [system(f"Read back the {plan} plan and ask to confirm.")],
            "functions": [
                {
                    "type": "function",
                    "function": {
                        "name": "confirm",
                        "description": "The caller confirmed.",
                        "parameters": {"type": "object", "properties": {}},
                        "transition_to": "end",
                    },
                }
            ],
        }

    def config(self) -> FlowConfig:
        return {
            "initial_node": "greeting",
            "nodes": {
                "greeting": {
                    "role_messages": [system("You are Asha, an insurance agent.")],
                    "task_messages": [system("Ask the caller's age.")],
                    "functions": [
                        {
                            "type": "function",
                            "function": {
                                "name": "record_age",
                                "handler": self.record_age,
                                "description": "Record the caller's age.",
                                "parameters": {
                                    "type": "object",
                                    "properties": {"age": {"type": "integer"}},
                                    "required": ["age"],
                                },
                                "transition_callback": self.after_age,
                            },
                        }
                    ],
                },
                "adult": {
                    "task_messages": [system("Offer the basic or the premium plan.")],
                    "functions": [
                        FlowsFunctionSchema(
                            name="choose_plan",
                            description="Record the plan the caller chose.",
                            properties={"plan": {"type": "string", "enum": ["basic", "premium"]}},
                            required=["plan"],
                            handler=self.choose_plan,
                            transition_callback=self.after_plan,
                        )
                    ],
                },
                "minor": {
                    "task_messages": [system("Say a guardian must call; then say goodbye.")],
                    "functions": [],
                    "post_actions": [{"type": "end_conversation"}],
                },
                "end": {
                    "task_messages": [system("Thank the caller and say goodbye.")],
                    "functions": [],
                    "post_actions": [{"type": "end_conversation"}],
                },
            },
        }


@pytest.mark.parametrize("silent", [False, True], ids=["voice", "text"])
async def test_a_static_flow_with_transition_callbacks_runs_to_its_end(silent: bool) -> None:
    flows = Insurance()
    llm = ScriptedLLMService(
        [
            "How old are you?",
            call("record_age", age=34),
            "Basic or premium?",
            call("choose_plan", plan="premium"),
            "Premium: is that right?",
            call("confirm"),
            "Thank you, goodbye.",
        ]
    )
    async with FlowRig(llm=llm, flow=None, flow_config=flows.config()) as rig:
        rig.speaker.silent = silent
        await rig.manager.initialize()
        await rig.settle()
        for said in ("I am 34.", "Premium, please.", "Yes."):
            await rig.user_says(said)
            await rig.settle()
        assert rig.finished  # the end node ended the call by itself
    assert rig.transitions == [
        (None, "greeting"),
        ("greeting", "adult"),
        ("adult", "confirm"),
        ("confirm", "end"),
    ]
    # The callbacks ran after their handlers, in the node that offered them, with the result.
    assert flows.log == [
        "record_age 34",
        "after_age 34 34 in greeting",
        "choose_plan premium",
        "after_plan premium",
    ]
    assert rig.manager.state == {"age": 34, "plan": "premium"}
    assert llm.request_tools == [
        ["record_age"],
        ["record_age"],
        ["choose_plan"],
        ["choose_plan"],
        ["confirm"],
        ["confirm"],
        [],
    ]
    role = system("You are Asha, an insurance agent.")
    for messages, _choice in llm.requests:
        assert messages[0] == role
    # After each move the LLM runs once, on the new node's prompt, after the tool's result.
    after_age = llm.requests[2][0]
    assert after_age[-1] == system("Offer the basic or the premium plan.")
    assert after_age[-2]["role"] == "tool"
    assert "34" in str(after_age[-2]["content"])
    assert llm.requests[4][0][-1] == system("Read back the premium plan and ask to confirm.")
    assert llm.requests[6][0][-1] == system("Thank the caller and say goodbye.")


async def test_a_transition_callback_choosing_the_other_branch() -> None:
    flows = Insurance()
    llm = ScriptedLLMService(["How old are you?", call("record_age", age=12), "Sorry, bye."])
    async with FlowRig(llm=llm, flow=flows.config()) as rig:  # flow= takes a FlowConfig too
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Twelve.")
        await rig.settle()
        assert rig.finished
    assert [to for _from, to in rig.transitions] == ["greeting", "minor"]
    assert llm.request_tools[-1] == []


async def test_a_callback_that_chooses_no_node_stays_and_the_llm_answers() -> None:
    seen: list[str | None] = []

    async def stay(args: FlowArgs, flow_manager: FlowManager) -> None:
        seen.append(flow_manager.current_node)

    config: FlowConfig = {
        "initial_node": "a",
        "nodes": {
            "a": {
                "task_messages": [system("A.")],
                "functions": [
                    FlowsFunctionSchema(name="ping", description="Ping.", transition_callback=stay)
                ],
            }
        },
    }
    llm = ScriptedLLMService(["Hi.", call("ping"), "Still here."])
    async with FlowRig(llm=llm, flow=config) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Ping it.")
        await rig.settle()
        assert rig.manager.current_node == "a"
    assert seen == ["a"]
    assert len(llm.requests) == 3  # the LLM ran on the tool's result


def test_transition_to_and_transition_callback_together_are_refused() -> None:
    async def cb(args: FlowArgs, flow_manager: FlowManager) -> None:
        return None

    with pytest.raises(FlowError, match="both transition_to and transition_callback"):
        load_flow(
            {
                "initial_node": "a",
                "nodes": {
                    "a": {
                        "task_messages": [system("A.")],
                        "functions": [
                            FlowsFunctionSchema(
                                name="go", transition_to="a", transition_callback=cb
                            )
                        ],
                    }
                },
            }
        )


def test_a_transition_callback_must_be_async() -> None:
    def not_async(args: FlowArgs, flow_manager: FlowManager) -> None:
        return None

    with pytest.raises(FlowError, match="transition_callback to be an async function"):
        FlowsFunctionSchema(name="go", transition_callback=not_async).to_function()  # type: ignore[arg-type]


def test_static_flows_are_checked_like_any_flow() -> None:
    config = Insurance().config()
    config["nodes"]["adult"]["functions"] = [
        {
            "type": "function",
            "function": {"name": "choose_plan", "description": "x", "transition_to": "nowhere"},
        }
    ]
    with pytest.raises(FlowValidationError, match="unknown node 'nowhere'"):
        load_flow(config)  # type: ignore[arg-type]


async def test_flows_function_strings_are_bound_through_handlers() -> None:
    """Flows' "__function__:name" handler strings name a handler given to the FlowManager."""
    got: list[object] = []

    async def record(args: FlowArgs) -> FlowResult:
        got.append(args["x"])
        return {"status": "success"}

    config: FlowConfig = {
        "initial_node": "a",
        "nodes": {
            "a": {
                "task_messages": [system("A.")],
                "functions": [
                    {
                        "type": "function",
                        "function": {
                            "name": "record",
                            "handler": "__function__:record",
                            "description": "Record x.",
                            "parameters": {
                                "type": "object",
                                "properties": {"x": {"type": "integer"}},
                            },
                            "transition_to": "end",
                        },
                    }
                ],
            },
            "end": {
                "task_messages": [system("Bye.")],
                "post_actions": [{"type": "end_conversation"}],
            },
        },
    }
    with pytest.raises(FlowValidationError, match="no handler named 'record'"):
        load_flow(config, handlers={})  # type: ignore[arg-type]
    llm = ScriptedLLMService(["Hi.", call("record", x=7), "Bye."])
    async with FlowRig(llm=llm, flow=config, handlers={"record": record}) as rig:
        await rig.manager.initialize()
        await rig.settle()
        await rig.user_says("Seven.")
        await rig.settle()
        assert rig.finished
    assert got == [7]
    assert [to for _from, to in rig.transitions] == ["a", "end"]
