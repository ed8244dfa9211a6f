"""Loading a flow from a dict, a JSON file or a YAML file.

The file format is described by ``flow.schema.json`` (shipped in this package and returned by
:func:`flow_schema`). :func:`load_flow` checks a document against it, builds the model, then runs
the semantic checks of :mod:`vani.dhara.validate`, and raises one
:class:`vani.errors.FlowValidationError` listing every problem found by either pass.

To report structural and semantic problems together, the builder is tolerant: where the document
has the wrong shape it substitutes an empty value and remembers the location, and semantic
problems under such a location are dropped (the structural problem already names it).

``jsonschema`` is imported on first use and ``pyyaml`` only for YAML files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import cast

from vani.dhara.flows import flow_from_config, is_flows_config
from vani.dhara.model import (
    DEFAULT_SUMMARY_PROMPT,
    Action,
    ContextStrategy,
    ContextStrategyKind,
    Flow,
    FlowFunction,
    Node,
)
from vani.dhara.validate import located_problems
from vani.errors import FlowError, FlowValidationError
from vani.frames import JSONObject, JSONValue

__all__ = ["flow_from_dict", "flow_schema", "load_flow", "read_flow_file"]

FlowSource = Flow | Mapping[str, JSONValue] | str | os.PathLike[str]


@cache
def _schema_text() -> str:
    return resources.files("vani.dhara").joinpath("flow.schema.json").read_text("utf-8")


def flow_schema() -> JSONObject:
    """The JSON Schema of the flow file format (a fresh copy each call)."""
    return cast(JSONObject, json.loads(_schema_text()))


def load_flow(
    source: FlowSource,
    *,
    handlers: Mapping[str, object] | None = None,
    action_types: Iterable[str] = (),
) -> Flow:
    """Return a validated :class:`Flow` from a Flow, a dict, or a path to a JSON/YAML file.

    A Pipecat Flows ``FlowConfig`` (``{"initial_node", "nodes"}`` with Flows' node configs) is
    recognised and built by :func:`vani.dhara.flows.flow_from_config`.

    ``handlers`` (names bound at run time) and ``action_types`` (user-registered action types)
    widen what validation accepts; without ``handlers``, handler names are not checked.
    Raises :class:`FlowValidationError` listing every problem.
    """
    if isinstance(source, Flow):
        problems = located_problems(source, handlers=handlers, action_types=action_types)
        if problems:
            raise FlowValidationError([f"{loc}: {msg}" for loc, msg in problems])
        return source
    if isinstance(source, str | os.PathLike):
        data: object = read_flow_file(source)
    else:
        data = source
    if is_flows_config(data):
        # A Pipecat Flows FlowConfig (Python objects inside): built by Flows' rules, then
        # checked like any Flow.
        assert isinstance(data, Mapping)
        return load_flow(flow_from_config(data), handlers=handlers, action_types=action_types)
    return flow_from_dict(data, handlers=handlers, action_types=action_types)


def read_flow_file(path: str | os.PathLike[str]) -> object:
    """Parse a ``.json``, ``.yaml`` or ``.yml`` file; syntax errors become a
    :class:`FlowValidationError` naming the file, line and column."""
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except OSError as exc:
        raise FlowError(f"cannot read flow file {str(file)!r}: {exc.strerror}") from exc
    suffix = file.suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover - pyyaml is in the dev venv
            raise FlowError("reading a YAML flow needs pyyaml: pip install 'vani[dhara]'") from exc
        try:
            return cast(object, yaml.safe_load(text))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(file)
            problem = getattr(exc, "problem", None) or str(exc)
            raise FlowValidationError([f"{where}: invalid YAML: {problem}"]) from exc
    if suffix == ".json":
        try:
            return cast(object, json.loads(text))
        except json.JSONDecodeError as exc:
            raise FlowValidationError(
                [f"{file}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"]
            ) from exc
    raise FlowError(f"expected a .json, .yaml or .yml flow file, got {str(file)!r}")


def flow_from_dict(
    data: object,
    *,
    handlers: Mapping[str, object] | None = None,
    action_types: Iterable[str] = (),
) -> Flow:
    """Build and validate a :class:`Flow` from a parsed document (see ``flow.schema.json``)."""
    from jsonschema import Draft202012Validator  # lazy: only flows from documents need it

    validator = Draft202012Validator(flow_schema())
    structural: list[tuple[str, str]] = []
    # Semantic problems at these locations repeat a structural one and are dropped.
    schema_locations: set[str] = set()
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        location = _location(error.absolute_path)
        structural.append((location, _schema_message(error)))
        schema_locations.add(location)
        if error.validator == "required" and isinstance(error.instance, dict):
            for key in cast(list[str], error.validator_value):
                if key not in error.instance:
                    schema_locations.add(f"{location}.{key}")
    if not isinstance(data, dict):
        raise FlowValidationError([f"{loc}: {msg}" for loc, msg in structural])
    builder = _Builder()
    flow = builder.flow(data)
    semantic = [
        (loc, msg)
        for loc, msg in located_problems(flow, handlers=handlers, action_types=action_types)
        if loc not in schema_locations and not any(_under(loc, b) for b in builder.broken)
    ]
    problems = structural + semantic
    if problems:
        raise FlowValidationError([f"{loc}: {msg}" for loc, msg in problems])
    return flow


def _location(path: Iterable[object]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


def _schema_message(error: object) -> str:
    from jsonschema import ValidationError

    assert isinstance(error, ValidationError)
    if error.validator == "oneOf" and error.context:
        # The most specific sub-error says more than "is not valid under any of the schemas".
        best = min(error.context, key=lambda e: len(e.path))
        return str(best.message)
    return str(error.message)


def _under(location: str, prefix: str) -> bool:
    return location == prefix or location.startswith((prefix + ".", prefix + "["))


@dataclass
class _Builder:
    """Builds the model from a document, substituting empty values where the shape is wrong."""

    broken: list[str] = field(default_factory=list)

    def flow(self, data: Mapping[str, object]) -> Flow:
        initial = data.get("initial_node", "")
        if not isinstance(initial, str):
            self.broken.append("initial_node")
            initial = ""
        role = data.get("role_message")
        if role is not None and not isinstance(role, str):
            self.broken.append("role_message")
            role = None
        nodes_data = data.get("nodes")
        nodes: list[Node] = []
        if isinstance(nodes_data, dict):
            nodes = [self.node(str(name), body) for name, body in nodes_data.items()]
        else:
            self.broken.append("nodes")
        return Flow(
            initial_node=initial,
            nodes=nodes,
            role_message=role,
            global_functions=self.functions(data.get("global_functions"), "global_functions"),
        )

    def node(self, name: str, body: object) -> Node:
        base = f"nodes.{name}"
        if not isinstance(body, dict):
            self.broken.append(base)
            return Node(name=name)
        messages = body.get("task_messages", [])
        if not isinstance(messages, list):
            self.broken.append(f"{base}.task_messages")
            messages = []
        respond = body.get("respond_immediately", True)
        if not isinstance(respond, bool):
            self.broken.append(f"{base}.respond_immediately")
            respond = True
        return Node(
            name=name,
            task_messages=cast(list[JSONObject], messages),
            functions=self.functions(body.get("functions"), f"{base}.functions"),
            context_strategy=self.strategy(body.get("context_strategy"), base),
            pre_actions=self.actions(body.get("pre_actions"), f"{base}.pre_actions"),
            post_actions=self.actions(body.get("post_actions"), f"{base}.post_actions"),
            respond_immediately=respond,
        )

    def strategy(self, value: object, base: str) -> ContextStrategy:
        if value is None:
            return ContextStrategy()
        prompt = DEFAULT_SUMMARY_PROMPT
        name = value
        if isinstance(value, dict):
            name = value.get("strategy")
            custom = value.get("summary_prompt", prompt)
            prompt = custom if isinstance(custom, str) else prompt
        try:
            return ContextStrategy(ContextStrategyKind(name), prompt)
        except ValueError:
            self.broken.append(f"{base}.context_strategy")
            return ContextStrategy()

    def functions(self, value: object, base: str) -> list[FlowFunction]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.broken.append(base)
            return []
        return [self.function(item, f"{base}[{i}]") for i, item in enumerate(value)]

    def function(self, item: object, location: str) -> FlowFunction:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            self.broken.append(location)
            return FlowFunction(name="", handler="")
        kwargs: dict[str, object] = {"name": item["name"]}
        for key, kind in (
            ("description", str),
            ("parameters", dict),
            ("handler", str),
            ("transition_key", str),
            ("cancel_on_interruption", bool),
        ):
            if key in item:
                if isinstance(item[key], kind):
                    kwargs[key] = item[key]
                else:
                    self.broken.append(f"{location}.{key}")
        target = item.get("transition_to")
        if isinstance(target, str) or (
            isinstance(target, dict) and all(isinstance(v, str) for v in target.values())
        ):
            kwargs["transition_to"] = target
        elif target is not None:
            self.broken.append(f"{location}.transition_to")
        timeout = item.get("timeout_secs")
        if isinstance(timeout, int | float) and not isinstance(timeout, bool):
            kwargs["timeout_secs"] = float(timeout)
        elif timeout is not None:
            self.broken.append(f"{location}.timeout_secs")
        may = item.get("may_transition_to", [])
        if isinstance(may, list) and all(isinstance(v, str) for v in may):
            kwargs["may_transition_to"] = tuple(may)
        else:
            self.broken.append(f"{location}.may_transition_to")
        return FlowFunction(**kwargs)  # type: ignore[arg-type]  # keys/types checked above

    def actions(self, value: object, base: str) -> list[Action]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.broken.append(base)
            return []
        out: list[Action] = []
        for index, item in enumerate(value):
            location = f"{base}[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                self.broken.append(location)
                out.append(Action(type="tts_say", text="(broken)"))
                continue
            text = item.get("text")
            handler = item.get("handler")
            if text is not None and not isinstance(text, str):
                self.broken.append(f"{location}.text")
                text = None
            if handler is not None and not isinstance(handler, str):
                self.broken.append(f"{location}.handler")
                handler = None
            options = {k: v for k, v in item.items() if k not in ("type", "text", "handler")}
            out.append(Action(type=item["type"], text=text, handler=handler, options=options))
        return out
