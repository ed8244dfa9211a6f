"""Semantic validation of a flow: every problem at once, each with its location.

:func:`flow_problems` returns the list; :func:`validate_flow` raises
:class:`vani.errors.FlowValidationError` carrying it. Locations use the file layout
(``nodes.greet.functions[1].transition_to``) whether the flow came from a file or from Python, so
one message format serves both.

Checked: a missing or unknown initial node; duplicate node names; duplicate function names within
what one node offers (its functions plus the global ones); parameters that are not a valid JSON
Schema of an object; functions with neither handler nor ``transition_to``; handler names nobody
bound (only when the handlers are known); transitions to unknown nodes; unknown action types and
actions missing what their type needs.

Warnings (:func:`flow_warnings`) are what may be fine but often is a mistake: a node that no
``transition_to`` / ``may_transition_to`` names is reached only if a handler returns it, which
validation cannot see, so it is reported as a warning and never blocks loading.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from vani.dhara.model import (
    BUILTIN_ACTION_TYPES,
    Action,
    ContextStrategyKind,
    Flow,
    FlowFunction,
    Node,
)
from vani.errors import FlowValidationError

__all__ = [
    "flow_problems",
    "flow_warnings",
    "located_problems",
    "located_warnings",
    "node_problems",
    "validate_flow",
]

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ROLES = frozenset({"system", "developer", "user", "assistant"})


def validate_flow(
    flow: Flow,
    *,
    handlers: Mapping[str, object] | None = None,
    action_types: Iterable[str] = (),
) -> None:
    """Raise :class:`FlowValidationError` listing every problem of ``flow``, or return.

    ``handlers`` are the names bound at run time; when None, handler names are not checked (a
    file checked on its own). ``action_types`` are the user-registered action types.
    """
    problems = flow_problems(flow, handlers=handlers, action_types=action_types)
    if problems:
        raise FlowValidationError(problems)


def flow_problems(
    flow: Flow,
    *,
    handlers: Mapping[str, object] | None = None,
    action_types: Iterable[str] = (),
) -> list[str]:
    """Every problem of ``flow`` as ``"location: message"`` strings, in document order."""
    return [
        f"{location}: {message}"
        for location, message in located_problems(
            flow, handlers=handlers, action_types=action_types
        )
    ]


def located_problems(
    flow: Flow,
    *,
    handlers: Mapping[str, object] | None = None,
    action_types: Iterable[str] = (),
) -> list[tuple[str, str]]:
    """Like :func:`flow_problems`, as ``(location, message)`` pairs."""
    checker = _Checker(flow, handlers, frozenset(BUILTIN_ACTION_TYPES | set(action_types)))
    return checker.run()


def located_warnings(flow: Flow) -> list[tuple[str, str]]:
    """What may be wrong without stopping the flow from running, as ``(location, message)``:
    nodes no declared transition reaches (a handler may still return them)."""
    checker = _Checker(flow, None, frozenset(BUILTIN_ACTION_TYPES))
    checker.check_reachability()
    return checker.problems


def flow_warnings(flow: Flow) -> list[str]:
    """Like :func:`located_warnings`, as ``"location: message"`` strings."""
    return [f"{location}: {message}" for location, message in located_warnings(flow)]


def node_problems(
    node: Node,
    *,
    known_nodes: Collection[str],
    handlers: Mapping[str, object] | None = None,
    action_types: Iterable[str] = (),
) -> list[str]:
    """Problems of one node built at run time (a dynamic node), its targets checked against
    ``known_nodes``."""
    checker = _Checker(
        Flow(initial_node=node.name, nodes=[node]),
        handlers,
        frozenset(BUILTIN_ACTION_TYPES | set(action_types)),
    )
    checker._check_node(node, set(known_nodes), {})
    return [f"{location}: {message}" for location, message in checker.problems]


class _Checker:
    def __init__(
        self, flow: Flow, handlers: Mapping[str, object] | None, action_types: Collection[str]
    ) -> None:
        self.flow = flow
        self.handlers = handlers
        self.action_types = action_types
        self.problems: list[tuple[str, str]] = []

    def add(self, location: str, message: str) -> None:
        self.problems.append((location, message))

    def run(self) -> list[tuple[str, str]]:
        flow = self.flow
        names = flow.node_names
        if not flow.initial_node:
            self.add("initial_node", "missing; expected the name of one of the nodes")
        elif flow.initial_node not in names:
            self.add(
                "initial_node",
                f"{flow.initial_node!r} is not a node; expected one of {_listing(names)}",
            )
        if not flow.nodes:
            self.add("nodes", "the flow has no nodes; expected at least one")

        seen_nodes: dict[str, int] = {}
        for index, node in enumerate(flow.nodes):
            if node.name in seen_nodes:
                self.add(
                    f"nodes[{index}]",
                    f"duplicate node name {node.name!r} (first at nodes[{seen_nodes[node.name]}])",
                )
            else:
                seen_nodes[node.name] = index
            if not _NAME.match(node.name):
                self.add(
                    f"nodes[{index}]",
                    f"node name {node.name!r} must match {_NAME.pattern}",
                )

        global_seen: dict[str, str] = {}
        for index, function in enumerate(flow.global_functions):
            location = f"global_functions[{index}]"
            self._check_function(function, location, set(names))
            if function.name in global_seen:
                self.add(
                    f"{location}.name",
                    f"duplicate function name {function.name!r} "
                    f"(also {global_seen[function.name]})",
                )
            else:
                global_seen[function.name] = location

        for node in flow.nodes:
            self._check_node(node, set(names), global_seen)

        return self.problems

    def _check_node(self, node: Node, names: set[str], global_seen: Mapping[str, str]) -> None:
        base = f"nodes.{node.name}"
        for index, message in enumerate(node.task_messages):
            self._check_message(message, f"{base}.task_messages[{index}]")
        strategy = node.context_strategy
        if (
            strategy.kind is ContextStrategyKind.RESET_WITH_SUMMARY
            and not strategy.summary_prompt.strip()
        ):
            self.add(f"{base}.context_strategy", "reset_with_summary needs a summary_prompt")
        seen: dict[str, str] = dict(global_seen)
        for index, function in enumerate(node.functions):
            location = f"{base}.functions[{index}]"
            self._check_function(function, location, names)
            if function.name in seen:
                self.add(
                    f"{location}.name",
                    f"duplicate function name {function.name!r} (also {seen[function.name]})",
                )
            else:
                seen[function.name] = location
        for kind in ("pre_actions", "post_actions"):
            actions: list[Action] = getattr(node, kind)
            for index, action in enumerate(actions):
                self._check_action(action, f"{base}.{kind}[{index}]")

    def _check_message(self, message: object, location: str) -> None:
        if not isinstance(message, dict):
            self.add(location, f"expected a message object, got {type(message).__name__}")
            return
        role = message.get("role")
        if role not in _ROLES:
            self.add(
                f"{location}.role", f"expected one of {_listing(sorted(_ROLES))}, got {role!r}"
            )
        if not isinstance(message.get("content"), str):
            self.add(f"{location}.content", "expected a string")

    def _check_function(self, function: FlowFunction, location: str, names: set[str]) -> None:
        if not _NAME.match(function.name):
            self.add(
                f"{location}.name",
                f"function name {function.name!r} must match {_NAME.pattern}",
            )
        self._check_parameters(function.parameters, f"{location}.parameters")
        if function.transition_callback is not None and function.transition_to is not None:
            self.add(
                location,
                f"function {function.name!r} has both transition_to and transition_callback; "
                "expected one of them",
            )
        if (
            function.handler is None
            and function.transition_to is None
            and function.transition_callback is None
        ):
            self.add(
                location, f"function {function.name!r} has neither a handler nor transition_to"
            )
        self._check_handler_name(function.handler, f"{location}.handler")
        if function.transition_to is not None:
            target = function.transition_to
            if isinstance(target, str):
                self._check_target(target, names, f"{location}.transition_to")
            elif not target:
                self.add(f"{location}.transition_to", "empty mapping; expected value → node")
            else:
                for value, node_name in target.items():
                    self._check_target(node_name, names, f"{location}.transition_to.{value}")
        if function.transition_key is not None and not (
            function.transition_to is not None and not isinstance(function.transition_to, str)
        ):
            self.add(
                f"{location}.transition_key",
                "only meaningful with a transition_to mapping",
            )
        for index, node_name in enumerate(function.may_transition_to):
            self._check_target(node_name, names, f"{location}.may_transition_to[{index}]")
        if function.timeout_secs is not None and function.timeout_secs <= 0:
            self.add(
                f"{location}.timeout_secs",
                f"expected a positive number of seconds, got {function.timeout_secs}",
            )

    def _check_parameters(self, parameters: object, location: str) -> None:
        if not isinstance(parameters, dict):
            self.add(location, f"expected a JSON Schema object, got {type(parameters).__name__}")
            return
        if parameters.get("type") != "object":
            self.add(
                f"{location}.type",
                f"expected a JSON Schema of type 'object', got {parameters.get('type')!r}",
            )
        from jsonschema import exceptions, validators  # lazy: only when validating

        try:
            validators.validator_for(parameters).check_schema(parameters)
        except exceptions.SchemaError as exc:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.path)
            self.add(f"{location}{where}", f"not a valid JSON Schema: {exc.message}")

    def _check_handler_name(self, handler: object, location: str) -> None:
        if isinstance(handler, str) and self.handlers is not None and handler not in self.handlers:
            self.add(
                location,
                f"no handler named {handler!r} was given; "
                f"expected one of {_listing(sorted(self.handlers))}",
            )

    def _check_target(self, target: str, names: set[str], location: str) -> None:
        if target not in names:
            self.add(
                location,
                f"unknown node {target!r}; expected one of {_listing(sorted(names))}",
            )

    def _check_action(self, action: Action, location: str) -> None:
        if action.type not in self.action_types:
            self.add(
                f"{location}.type",
                f"unknown action type {action.type!r}; "
                f"expected one of {_listing(sorted(self.action_types))}",
            )
            return
        if action.type == "tts_say" and not action.text:
            self.add(f"{location}.text", "a tts_say action needs a non-empty text")
        if action.type == "function":
            if action.handler is None:
                self.add(f"{location}.handler", "a function action needs a handler")
            self._check_handler_name(action.handler, f"{location}.handler")

    def check_reachability(self) -> None:
        flow = self.flow
        by_name: dict[str, Node] = {}
        for node in flow.nodes:
            by_name.setdefault(node.name, node)  # a duplicate is reported; the first one counts
        if flow.initial_node not in by_name:
            return  # already reported; every node would look unreachable
        global_targets = [t for f in flow.global_functions for t in f.targets()]
        reached = {flow.initial_node}
        frontier = [flow.initial_node, *[t for t in global_targets if t in by_name]]
        reached.update(frontier)
        while frontier:
            node = by_name[frontier.pop()]
            for function in node.functions:
                for target in function.targets():
                    if target in by_name and target not in reached:
                        reached.add(target)
                        frontier.append(target)
        for node in flow.nodes:
            if node.name not in reached:
                self.add(
                    f"nodes.{node.name}",
                    f"not reached from the initial node {flow.initial_node!r} by any "
                    "transition_to or may_transition_to; it runs only if a handler returns it",
                )


def _listing(names: Iterable[str]) -> str:
    items = [repr(n) for n in names]
    return ", ".join(items) if items else "(none)"
