"""Loading flows from dicts, JSON and YAML files, against the shipped JSON Schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from vani.dhara import (
    Action,
    ContextStrategy,
    ContextStrategyKind,
    Flow,
    FlowFunction,
    flow_from_dict,
    flow_schema,
    load_flow,
)
from vani.errors import FlowError, FlowValidationError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "restaurant_flow.json"


def example_doc() -> dict[str, object]:
    return json.loads(EXAMPLE.read_text("utf-8"))  # type: ignore[no-any-return]


def test_the_shipped_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(flow_schema())


def test_the_example_flow_loads_from_its_json_file() -> None:
    flow = load_flow(EXAMPLE)
    assert flow.initial_node == "greet"
    assert flow.node_names == ["greet", "order", "confirm", "end"]
    assert [f.name for f in flow.global_functions] == ["get_opening_hours"]
    confirm = flow.node("confirm")
    assert confirm is not None
    assert confirm.context_strategy.kind is ContextStrategyKind.RESET_WITH_SUMMARY
    assert confirm.context_strategy.summary_prompt.startswith("In two sentences")
    assert confirm.functions[0].transition_to == {"true": "end", "false": "order"}
    end = flow.node("end")
    assert end is not None
    assert end.is_end_node
    assert end.post_actions == [Action("end_conversation")]


def test_a_yaml_file_loads_to_the_same_flow_as_the_json_file(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(example_doc(), allow_unicode=True, sort_keys=False), "utf-8")
    assert load_flow(path) == load_flow(EXAMPLE)
    assert load_flow(str(path)) == load_flow(example_doc())


def test_handler_names_are_checked_when_handlers_are_given() -> None:
    handlers = {"get_opening_hours": 1, "get_menu": 1, "record_order": 1}
    with pytest.raises(FlowValidationError) as info:
        load_flow(EXAMPLE, handlers=handlers)
    assert info.value.problems == [
        "nodes.confirm.functions[0].handler: no handler named 'confirm_order' was given; "
        "expected one of 'get_menu', 'get_opening_hours', 'record_order'"
    ]


def test_structural_problems_are_located_by_json_path() -> None:
    doc = example_doc()
    nodes = doc["nodes"]
    assert isinstance(nodes, dict)
    nodes["order"]["functions"][1]["timeout_secs"] = -1
    nodes["order"]["respond_immediately"] = "yes"
    nodes["greet"]["colour"] = "blue"
    with pytest.raises(FlowValidationError) as info:
        flow_from_dict(doc)
    assert info.value.problems == [
        "nodes.greet: Additional properties are not allowed ('colour' was unexpected)",
        "nodes.order.functions[1].timeout_secs: -1 is less than or equal to the minimum of 0",
        "nodes.order.respond_immediately: 'yes' is not of type 'boolean'",
    ]


def test_structural_and_semantic_problems_are_reported_together() -> None:
    doc = example_doc()
    del doc["initial_node"]
    nodes = doc["nodes"]
    assert isinstance(nodes, dict)
    nodes["greet"]["functions"][0]["transition_to"] = "ordr"
    nodes["order"]["pre_actions"] = [{"type": "tts_say"}, {"type": "beep"}]
    nodes["order"]["functions"][0]["parameters"] = {"type": "object", "properties": 3}
    with pytest.raises(FlowValidationError) as info:
        flow_from_dict(doc)
    problems = info.value.problems
    assert "(document): 'initial_node' is a required property" in problems
    assert "nodes.order.pre_actions[0]: 'text' is a required property" in problems
    assert any(
        p.startswith("nodes.greet.functions[0].transition_to: unknown node 'ordr'")
        for p in problems
    )
    assert any(
        p.startswith("nodes.order.pre_actions[1].type: unknown action type 'beep'")
        for p in problems
    )
    assert any(
        p.startswith("nodes.order.functions[0].parameters.properties: not a valid JSON Schema")
        for p in problems
    )
    # The tts_say without text is reported once (by the schema), not twice.
    assert sum("pre_actions[0]" in p for p in problems) == 1


def test_a_broken_function_entry_does_not_hide_the_others_problems() -> None:
    doc = example_doc()
    nodes = doc["nodes"]
    assert isinstance(nodes, dict)
    nodes["order"]["functions"][0] = {"description": "no name"}
    nodes["order"]["functions"][1]["transition_to"] = "confirmm"
    with pytest.raises(FlowValidationError) as info:
        flow_from_dict(doc)
    assert info.value.problems[0] == "nodes.order.functions[0]: 'name' is a required property"
    assert info.value.problems[1].startswith(
        "nodes.order.functions[1].transition_to: unknown node 'confirmm'"
    )
    # Nothing about the broken entry; what the bad target cuts off is only a warning.
    assert len(info.value.problems) == 2


def test_a_json_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "initial_node": "a",\n  "nodes": {,}\n}\n', "utf-8")
    with pytest.raises(FlowValidationError) as info:
        load_flow(path)
    assert info.value.problems == [
        f"{path}:3:13: invalid JSON: Expecting property name enclosed in double quotes"
    ]


def test_a_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("initial_node: a\nnodes: [\n", "utf-8")
    with pytest.raises(FlowValidationError) as info:
        load_flow(path)
    assert info.value.problems[0].startswith(f"{path}:3:1: invalid YAML")


def test_an_unsupported_extension_or_missing_file_is_a_flow_error(tmp_path: Path) -> None:
    (tmp_path / "flow.toml").write_text("", "utf-8")
    with pytest.raises(FlowError, match=r"expected a \.json, \.yaml or \.yml flow file"):
        load_flow(tmp_path / "flow.toml")
    with pytest.raises(FlowError, match="cannot read flow file"):
        load_flow(tmp_path / "missing.json")


def test_a_document_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(FlowValidationError) as info:
        flow_from_dict([1, 2])
    assert info.value.problems == ["(document): [1, 2] is not of type 'object'"]


def test_context_strategy_accepts_a_name_or_an_object() -> None:
    doc = example_doc()
    nodes = doc["nodes"]
    assert isinstance(nodes, dict)
    nodes["order"]["context_strategy"] = "reset"
    nodes["greet"]["context_strategy"] = {"strategy": "append"}
    flow = flow_from_dict(doc)
    assert flow.nodes[0].context_strategy == ContextStrategy.append()
    assert flow.nodes[1].context_strategy == ContextStrategy.reset()
    nodes["greet"]["context_strategy"] = "forget"
    with pytest.raises(FlowValidationError) as info:
        flow_from_dict(doc)
    assert info.value.problems == [
        "nodes.greet.context_strategy: 'forget' is not one of "
        "['append', 'reset', 'reset_with_summary']"
    ]


def test_custom_action_fields_travel_in_options() -> None:
    doc = copy.deepcopy(example_doc())
    nodes = doc["nodes"]
    assert isinstance(nodes, dict)
    nodes["end"]["pre_actions"] = [{"type": "notify", "channel": "#orders", "level": 2}]
    flow = flow_from_dict(doc, action_types=["notify"])
    end = flow.node("end")
    assert end is not None
    assert end.pre_actions == [Action("notify", options={"channel": "#orders", "level": 2})]


def test_a_python_flow_is_validated_by_load_flow() -> None:
    flow = Flow(initial_node="a", nodes=[])
    with pytest.raises(FlowValidationError) as info:
        load_flow(flow)
    assert info.value.problems == [
        "initial_node: 'a' is not a node; expected one of (none)",
        "nodes: the flow has no nodes; expected at least one",
    ]
    assert FlowFunction(name="f").to_tool() == {
        "type": "function",
        "function": {
            "name": "f",
            "description": "",
            "parameters": {"type": "object", "properties": {}},
        },
    }
