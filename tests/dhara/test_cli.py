"""``vani dhara check FILE`` prints every problem and sets the exit status."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pytest

from vani.dhara.cli import add_subparser, check

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "restaurant_flow.json"


def test_a_valid_flow_prints_ok_and_exits_zero() -> None:
    out = io.StringIO()
    assert check(str(EXAMPLE), out=out) == 0
    assert out.getvalue() == f"{EXAMPLE}: ok (4 nodes, 5 functions, starts at 'greet')\n"


def test_an_invalid_flow_prints_each_problem_and_exits_one(tmp_path: Path) -> None:
    doc = json.loads(EXAMPLE.read_text("utf-8"))
    doc["initial_node"] = "hello"
    doc["nodes"]["order"]["functions"][1]["transition_to"] = "nowhere"
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(doc), "utf-8")
    out = io.StringIO()
    assert check(str(path), out=out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == f"{path}: 2 problem(s)"
    assert lines[1].startswith(f"  {path}:1: error: initial_node: 'hello' is not a node")
    assert lines[2].startswith(
        f"  {path}:1: error: nodes.order.functions[1].transition_to: unknown node 'nowhere'"
    )


def test_locations_carry_the_line_and_unreached_nodes_are_warnings(tmp_path: Path) -> None:
    doc = json.loads(EXAMPLE.read_text("utf-8"))
    doc["nodes"]["orphan"] = {"task_messages": [{"role": "system", "content": "x"}]}
    doc["nodes"]["order"]["functions"][1]["transition_to"] = "nowhere"
    path = tmp_path / "flow.json"
    text = json.dumps(doc, indent=2)
    path.write_text(text, "utf-8")
    out = io.StringIO()
    assert check(str(path), out=out) == 1
    lines = text.splitlines()
    line = next(i for i, t in enumerate(lines, 1) if '"transition_to": "nowhere"' in t)
    assert f"{path}:{line}: error: nodes.order.functions[1].transition_to" in out.getvalue()
    doc["nodes"]["order"]["functions"][1]["transition_to"] = "confirm"
    path.write_text(json.dumps(doc, indent=2), "utf-8")
    out = io.StringIO()
    assert check(str(path), out=out) == 0
    orphan = next(
        i for i, t in enumerate(json.dumps(doc, indent=2).splitlines(), 1) if '"orphan"' in t
    )
    assert f"  {path}:{orphan}: warning: nodes.orphan: not reached" in out.getvalue()
    assert check(str(path), out=io.StringIO(), strict=True) == 1


def test_an_unreadable_file_exits_two(tmp_path: Path) -> None:
    out = io.StringIO()
    assert check(str(tmp_path / "none.json"), out=out) == 2
    assert "cannot read flow file" in out.getvalue()


def test_handlers_can_be_checked_from_a_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_handlers.py").write_text(
        "handlers = {'get_opening_hours': 1, 'get_menu': 1, 'record_order': 1}\n", "utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    out = io.StringIO()
    assert check(str(EXAMPLE), handlers_from="my_handlers", out=out) == 1
    assert "no handler named 'confirm_order' was given" in out.getvalue()
    assert check(str(EXAMPLE), handlers_from="my_handlers:nothing", out=io.StringIO()) == 2
    sys.modules.pop("my_handlers", None)


def test_the_subparser_parses_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="vani")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dhara", "check", str(EXAMPLE), "--action-type", "notify"])
    assert args.action_type == ["notify"]
    assert args.func(args) == 0
    assert capsys.readouterr().out.endswith("starts at 'greet')\n")


def test_yaml_locations_carry_the_line_too(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "initial_node: greet\n"
        "nodes:\n"
        "  greet:\n"
        "    task_messages:\n"
        "      - role: system\n"
        "        content: Greet.\n"
        "    functions:\n"
        "      - name: go\n"
        "        transition_to: nowhere\n"
        "  spare:\n"
        "    task_messages:\n"
        "      - role: system\n"
        "        content: Spare.\n",
        "utf-8",
    )
    out = io.StringIO()
    assert check(str(path), out=out) == 1
    assert f"  {path}:9: error: nodes.greet.functions[0].transition_to: unknown node" in (
        out.getvalue()
    )
