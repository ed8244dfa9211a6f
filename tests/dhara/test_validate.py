"""Semantic validation reports every class of problem, all at once, with its location."""

from __future__ import annotations

import pytest

from vani.dhara import (
    Action,
    ContextStrategy,
    Flow,
    FlowFunction,
    Node,
    flow_problems,
    flow_warnings,
    validate_flow,
)
from vani.errors import FlowValidationError


def _system(text: str) -> dict[str, object]:
    return {"role": "system", "content": text}


def good_flow() -> Flow:
    return Flow(
        initial_node="greet",
        role_message="You are a helpful assistant.",
        global_functions=[FlowFunction(name="help", handler="help")],
        nodes=[
            Node(
                name="greet",
                task_messages=[_system("Greet the user.")],  # type: ignore[list-item]
                functions=[FlowFunction(name="done_greeting", transition_to="ask")],
            ),
            Node(
                name="ask",
                task_messages=[_system("Ask.")],  # type: ignore[list-item]
                functions=[
                    FlowFunction(
                        name="answer",
                        handler="answer",
                        transition_to={"yes": "end", "no": "ask"},
                    )
                ],
            ),
            Node(name="end", post_actions=[Action.end_conversation("Bye.")]),
        ],
    )


def test_a_good_flow_has_no_problems() -> None:
    assert flow_problems(good_flow(), handlers={"help": 1, "answer": 1}) == []
    validate_flow(good_flow())


def test_a_missing_initial_node_is_reported() -> None:
    flow = good_flow()
    flow.initial_node = "welcome"
    problems = flow_problems(flow)
    assert problems == [
        "initial_node: 'welcome' is not a node; expected one of 'greet', 'ask', 'end'"
    ]


def test_an_empty_initial_node_is_reported() -> None:
    flow = good_flow()
    flow.initial_node = ""
    assert flow_problems(flow)[0].startswith("initial_node: missing")


def test_an_unknown_target_node_is_reported_with_its_location() -> None:
    flow = good_flow()
    flow.nodes[0].functions[0] = FlowFunction(name="done_greeting", transition_to="aks")
    problems = flow_problems(flow)
    assert "nodes.greet.functions[0].transition_to: unknown node 'aks'" in problems[0]
    # ask is no longer reached by a declared transition: a warning, not an error.
    assert len(problems) == 1
    warnings = flow_warnings(flow)
    assert [w.split(":")[0] for w in warnings] == ["nodes.ask", "nodes.end"]


def test_an_unknown_node_in_a_transition_mapping_names_the_value() -> None:
    flow = good_flow()
    flow.nodes[1].functions[0] = FlowFunction(
        name="answer", handler="answer", transition_to={"yes": "ende", "no": "ask"}
    )
    problems = flow_problems(flow)
    assert problems[0].startswith("nodes.ask.functions[0].transition_to.yes: unknown node 'ende'")


def test_a_node_only_a_handler_returns_is_valid_and_warned_about() -> None:
    flow = good_flow()
    flow.nodes.append(Node(name="orphan", task_messages=[_system("x")]))  # type: ignore[list-item]
    assert flow_problems(flow) == []
    assert flow_warnings(flow) == [
        "nodes.orphan: not reached from the initial node 'greet' by any transition_to or "
        "may_transition_to; it runs only if a handler returns it"
    ]


def test_a_node_named_in_may_transition_to_is_reachable() -> None:
    flow = good_flow()
    flow.nodes.append(Node(name="side", task_messages=[_system("x")]))  # type: ignore[list-item]
    flow.global_functions = [FlowFunction(name="help", handler="help", may_transition_to=["side"])]
    assert flow_problems(flow) == []


def test_a_function_without_a_bound_handler_is_reported() -> None:
    problems = flow_problems(good_flow(), handlers={"help": 1})
    assert problems == [
        "nodes.ask.functions[0].handler: no handler named 'answer' was given; "
        "expected one of 'help'"
    ]


def test_a_function_with_neither_handler_nor_transition_is_reported() -> None:
    flow = good_flow()
    flow.nodes[0].functions.append(FlowFunction(name="noop"))
    assert flow_problems(flow) == [
        "nodes.greet.functions[1]: function 'noop' has neither a handler nor transition_to"
    ]


def test_duplicate_function_names_in_a_node_are_reported() -> None:
    flow = good_flow()
    flow.nodes[0].functions.append(FlowFunction(name="done_greeting", transition_to="end"))
    assert flow_problems(flow) == [
        "nodes.greet.functions[1].name: duplicate function name 'done_greeting' "
        "(also nodes.greet.functions[0])"
    ]


def test_a_node_function_shadowing_a_global_one_is_a_duplicate() -> None:
    flow = good_flow()
    flow.nodes[2].functions.append(FlowFunction(name="help", handler="help"))
    assert flow_problems(flow) == [
        "nodes.end.functions[0].name: duplicate function name 'help' (also global_functions[0])"
    ]


def test_duplicate_node_names_are_reported() -> None:
    flow = good_flow()
    flow.nodes.append(Node(name="ask"))
    assert flow_problems(flow) == ["nodes[3]: duplicate node name 'ask' (first at nodes[1])"]


def test_bad_json_schema_in_parameters_is_reported_at_its_path() -> None:
    flow = good_flow()
    flow.nodes[0].functions[0] = FlowFunction(
        name="done_greeting",
        transition_to="ask",
        parameters={"type": "object", "properties": {"size": {"type": "sizeish"}}},
    )
    problems = flow_problems(flow)
    assert len(problems) == 1
    assert problems[0].startswith(
        "nodes.greet.functions[0].parameters.properties.size.type: not a valid JSON Schema"
    )


def test_parameters_that_are_not_an_object_schema_are_reported() -> None:
    flow = good_flow()
    flow.nodes[0].functions[0] = FlowFunction(
        name="done_greeting", transition_to="ask", parameters={"type": "string"}
    )
    assert flow_problems(flow) == [
        "nodes.greet.functions[0].parameters.type: expected a JSON Schema of type 'object', "
        "got 'string'"
    ]


def test_an_unknown_action_type_is_reported_unless_registered() -> None:
    flow = good_flow()
    flow.nodes[1].pre_actions.append(Action("notify_slack", options={"channel": "#ops"}))
    problems = flow_problems(flow)
    assert problems == [
        "nodes.ask.pre_actions[0].type: unknown action type 'notify_slack'; expected one of "
        "'end_conversation', 'function', 'tts_say'"
    ]
    assert flow_problems(flow, action_types=["notify_slack"]) == []


def test_actions_missing_their_fields_are_reported() -> None:
    flow = good_flow()
    flow.nodes[1].pre_actions.extend([Action("tts_say"), Action("function")])
    assert flow_problems(flow) == [
        "nodes.ask.pre_actions[0].text: a tts_say action needs a non-empty text",
        "nodes.ask.pre_actions[1].handler: a function action needs a handler",
    ]


def test_a_function_action_handler_name_is_checked_against_the_handlers() -> None:
    flow = good_flow()
    flow.nodes[1].post_actions.append(Action.function("log_it"))
    problems = flow_problems(flow, handlers={"help": 1, "answer": 1})
    assert problems == [
        "nodes.ask.post_actions[0].handler: no handler named 'log_it' was given; "
        "expected one of 'answer', 'help'"
    ]


def test_an_empty_summary_prompt_is_reported() -> None:
    flow = good_flow()
    flow.nodes[1].context_strategy = ContextStrategy.reset_with_summary("  ")
    assert flow_problems(flow) == [
        "nodes.ask.context_strategy: reset_with_summary needs a summary_prompt"
    ]


def test_every_problem_is_reported_at_once() -> None:
    flow = good_flow()
    flow.initial_node = "nowhere"
    flow.nodes[0].functions.append(FlowFunction(name="done_greeting"))
    flow.nodes[1].pre_actions.append(Action("teleport"))
    flow.nodes[2].functions.append(
        FlowFunction(name="x", handler="x", parameters={"type": "object", "required": "a"})
    )
    with pytest.raises(FlowValidationError) as info:
        validate_flow(flow, handlers={"help": 1, "answer": 1})
    problems = info.value.problems
    locations = [p.split(":")[0] for p in problems]
    assert locations == [
        "initial_node",
        "nodes.greet.functions[1]",
        "nodes.greet.functions[1].name",
        "nodes.ask.pre_actions[0].type",
        "nodes.end.functions[0].parameters.required",
        "nodes.end.functions[0].handler",
    ]
    assert str(info.value).startswith("the flow has 6 problem(s):\n  - initial_node: ")


def test_an_end_node_has_no_functions_and_ends_the_conversation() -> None:
    flow = good_flow()
    assert [n.is_end_node for n in flow.nodes] == [False, False, True]
