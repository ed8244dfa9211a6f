"""Pipecat Flows' spelling of a flow: ``NodeConfig`` dicts, direct functions,
``FlowsFunctionSchema``, ``ContextStrategyConfig`` and action dicts.

A Pipecat Flows program runs on Dhara when ``from pipecat.flows import ...`` becomes
``from vani.dhara import ...``: :class:`FlowManager` accepts a :data:`NodeConfig` wherever it
accepts a :class:`~vani.dhara.model.Node` (``initialize``, ``set_node_from_config``, the next
node a handler returns) and turns it into one with :func:`node_from_config`. What differs on
purpose is listed in ``docs/dhara.md`` ("Coming from Pipecat Flows").

The forms of function a node may list, as in Flows:

* a **direct function**, ``async def f(flow_manager, size: int) -> tuple[result, next]``: its
  name, docstring (first paragraph, Google ``Args:``) and type hints become the tool;
* a :class:`FlowsFunctionSchema` with ``handler(args, flow_manager)`` (or ``handler(args)`` or
  ``handler()``);
* an OpenAI tool dict whose ``function`` carries a ``handler``;
* a Dhara :class:`~vani.dhara.model.FlowFunction`.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias, TypedDict, TypeVar, cast

from vani.dhara.model import (
    Action,
    ContextStrategy,
    ContextStrategyKind,
    Flow,
    FlowFunction,
    Node,
    TransitionCallback,
)
from vani.errors import FlowError
from vani.frames import JSONObject, JSONValue

if TYPE_CHECKING:
    from vani.dhara.manager import FlowManager

__all__ = [
    "NO_RESPONSE",
    "ConsolidatedFunctionResult",
    "ContextStrategyConfig",
    "FlowArgs",
    "FlowConfig",
    "FlowResult",
    "FlowsDirectFunction",
    "FlowsFunctionSchema",
    "NodeConfig",
    "flow_from_config",
    "flows_direct_function",
    "flows_tool_options",
    "function_from_spec",
    "is_flows_config",
    "node_from_config",
]

#: The arguments the LLM passed to a function.
FlowArgs: TypeAlias = dict[str, JSONValue]

_F = TypeVar("_F", bound=Callable[..., object])

#: A direct function: ``async def f(flow_manager, ...) -> (result, next_node)``.
FlowsDirectFunction: TypeAlias = Callable[..., Awaitable[object]]


class FlowResult(TypedDict, total=False):
    """What a handler usually returns to the LLM (any JSON-able dict works)."""

    status: str
    error: str


class NodeConfig(TypedDict, total=False):
    """One node, as Pipecat Flows writes it (every key optional but ``task_messages``).

    ``role_message`` replaces the system instruction from this node on (it stays until a later
    node sets another); ``role_messages`` is the older list-of-messages form of the same thing.
    """

    name: str
    role_message: str
    role_messages: list[JSONObject]
    task_messages: list[JSONObject]
    functions: list[object]
    pre_actions: list[object]
    post_actions: list[object]
    context_strategy: object
    respond_immediately: bool


class FlowConfig(TypedDict):
    """A static flow, as Pipecat Flows wrote it before dynamic flows: every node up front, by
    name. ``FlowManager(flow_config=...)`` (or ``flow=``) runs one; ``initialize()`` enters
    ``initial_node``."""

    initial_node: str
    nodes: dict[str, NodeConfig]


class _NoResponse:
    """The type of :data:`NO_RESPONSE`."""

    def __repr__(self) -> str:
        return "NO_RESPONSE"


#: Return ``(result, NO_RESPONSE)`` to stay in the node without the LLM answering the result
#: now (the next answer waits for the user), as in Flows.
NO_RESPONSE = _NoResponse()

#: What a Flows handler returns: ``(result, next_node)``; either may be None.
ConsolidatedFunctionResult: TypeAlias = "tuple[FlowResult | JSONValue | None, NodeConfig | None]"


@dataclass(frozen=True, slots=True)
class ContextStrategyConfig:
    """``ContextStrategyConfig(strategy=ContextStrategy.RESET_WITH_SUMMARY, summary_prompt=...)``.

    ``strategy`` is one of ``ContextStrategy.APPEND`` / ``RESET`` / ``RESET_WITH_SUMMARY`` (or
    a :class:`ContextStrategyKind`)."""

    strategy: ContextStrategy | ContextStrategyKind
    summary_prompt: str | None = None

    def __post_init__(self) -> None:
        if self.kind is ContextStrategyKind.RESET_WITH_SUMMARY and not self.summary_prompt:
            raise FlowError("reset_with_summary needs a summary_prompt; got none")

    @property
    def kind(self) -> ContextStrategyKind:
        strategy = self.strategy
        return strategy.kind if isinstance(strategy, ContextStrategy) else strategy

    def to_strategy(self) -> ContextStrategy:
        if self.kind is ContextStrategyKind.RESET_WITH_SUMMARY:
            return ContextStrategy.reset_with_summary(self.summary_prompt or "")
        return ContextStrategy(self.kind)


@dataclass(frozen=True, slots=True)
class FlowsFunctionSchema:
    """A function with its JSON-schema parameters and handler, as Flows spells it.

    Unlike a Dhara :class:`FlowFunction`, ``cancel_on_interruption`` defaults to False here, as
    in Flows."""

    name: str
    description: str = ""
    properties: Mapping[str, JSONValue] = field(default_factory=dict)
    required: Sequence[str] = ()
    handler: Callable[..., Awaitable[object]] | None = None
    cancel_on_interruption: bool = False
    timeout_secs: float | None = None
    #: Static flows' next node (Flows' older spelling; a handler returning the node is the
    #: current one).
    transition_to: str | None = None
    #: ``async def cb(args, flow_manager)`` or ``async def cb(args, result, flow_manager)``:
    #: picks the next node at run time (Flows' older spelling).
    transition_callback: TransitionCallback | None = None

    @property
    def parameters(self) -> JSONObject:
        return {
            "type": "object",
            "properties": dict(self.properties),
            "required": list(self.required),
        }

    def to_function(self) -> FlowFunction:
        return FlowFunction(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            handler=_adapt_schema_handler(self.handler) if self.handler is not None else None,
            cancel_on_interruption=self.cancel_on_interruption,
            timeout_secs=self.timeout_secs,
            transition_to=self.transition_to,
            transition_callback=_checked_callback(
                self.name, self.transition_to, self.transition_callback
            ),
        )


def flows_direct_function(
    *, cancel_on_interruption: bool = False, timeout_secs: float | None = None
) -> Callable[[_F], _F]:
    """Decorate a direct function with its call options (Flows' spelling)."""

    def mark(fn: _F) -> _F:
        fn.__dict__["_dhara_options"] = (cancel_on_interruption, timeout_secs)
        return fn

    return mark


flows_tool_options = flows_direct_function


# -- functions -------------------------------------------------------------------------------------


def function_from_spec(spec: object) -> FlowFunction:
    """A :class:`FlowFunction` from any form a Flows node may list (see the module docstring)."""
    if isinstance(spec, FlowFunction):
        return spec
    if isinstance(spec, FlowsFunctionSchema):
        return spec.to_function()
    if isinstance(spec, Mapping):
        return _function_from_tool_dict(spec)
    if callable(spec):
        return _function_from_direct(cast(Callable[..., Awaitable[object]], spec))
    raise FlowError(
        "expected a direct function, a FlowsFunctionSchema, a FlowFunction or an OpenAI tool "
        f"dict, got {type(spec).__name__}"
    )


def _function_from_direct(fn: Callable[..., Awaitable[object]]) -> FlowFunction:
    from vani.processors.aggregators.function_schema import FunctionSchema

    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    if not params or params[0].name != "flow_manager":
        raise FlowError(
            f"direct function {fn.__name__!r} must take flow_manager as its first parameter; "
            f"got ({', '.join(p.name for p in params)})"
        )

    @functools.wraps(fn)
    def proxy(*args: object, **kwargs: object) -> object:  # pragma: no cover - never called
        raise NotImplementedError

    proxy.__signature__ = signature.replace(parameters=params[1:])  # type: ignore[attr-defined]
    proxy.__annotations__ = {
        k: v for k, v in getattr(fn, "__annotations__", {}).items() if k != "flow_manager"
    }
    schema = FunctionSchema.from_function(proxy, name=fn.__name__)
    cancel, timeout = fn.__dict__.get("_dhara_options", (False, None))

    async def handler(args: FlowArgs, flow_manager: FlowManager) -> object:
        return await fn(flow_manager, **args)

    handler.__name__ = fn.__name__
    return FlowFunction(
        name=schema.name,
        description=schema.description,
        parameters=schema.parameters,
        handler=handler,
        cancel_on_interruption=bool(cancel),
        timeout_secs=timeout,
    )


def _function_from_tool_dict(spec: Mapping[str, object]) -> FlowFunction:
    inner = spec.get("function", spec)
    if not isinstance(inner, Mapping) or not isinstance(inner.get("name"), str):
        raise FlowError(f"expected an OpenAI tool dict with a function name, got {dict(spec)!r}")
    name = str(inner["name"])
    handler = inner.get("handler")
    bound: str | Callable[..., Awaitable[object]] | None = None
    if callable(handler):
        bound = _adapt_schema_handler(cast(Callable[..., Awaitable[object]], handler))
    elif isinstance(handler, str) and handler:
        # Flows' "__function__:name" (a function of the main module in Flows): here a handler
        # name bound through FlowManager(handlers=...).
        bound = handler.removeprefix(_FUNCTION_PREFIX)
    elif handler is not None:
        raise FlowError(f"function {name!r}: expected a callable handler, got {handler!r}")
    target = inner.get("transition_to")
    if target is not None and not isinstance(target, str):
        raise FlowError(f"function {name!r}: expected transition_to to be a node name")
    callback = inner.get("transition_callback")
    parameters = inner.get("parameters") or {"type": "object", "properties": {}}
    return FlowFunction(
        name=name,
        description=str(inner.get("description", "")),
        parameters=cast(JSONObject, parameters),
        handler=bound,
        cancel_on_interruption=bool(inner.get("cancel_on_interruption", False)),
        transition_to=target,
        transition_callback=_checked_callback(name, target, callback),
    )


_FUNCTION_PREFIX = "__function__:"


def _checked_callback(name: str, target: object, callback: object) -> TransitionCallback | None:
    """``transition_callback`` as Flows accepts it: an async callable, never beside
    ``transition_to``."""
    if callback is None:
        return None
    if target is not None:
        raise FlowError(
            f"function {name!r} has both transition_to and transition_callback; expected one"
        )
    if not callable(callback) or not (
        inspect.iscoroutinefunction(callback)
        or inspect.iscoroutinefunction(getattr(callback, "__call__", None))  # noqa: B004
    ):
        raise FlowError(
            f"function {name!r}: expected transition_callback to be an async function, "
            f"got {callback!r}"
        )
    return cast(TransitionCallback, callback)


def _adapt_schema_handler(
    handler: Callable[..., Awaitable[object]],
) -> Callable[..., Awaitable[object]]:
    """Flows handlers take ``(args, flow_manager)``, ``(args)`` or nothing at all."""
    try:
        count = len(
            [
                p
                for p in inspect.signature(handler).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
        )
    except (TypeError, ValueError):
        count = 2
    if count != 0:
        return handler

    async def no_args(args: FlowArgs) -> object:
        return await handler()

    no_args.__name__ = getattr(handler, "__name__", "handler")
    return no_args


# -- actions ---------------------------------------------------------------------------------------


def action_from_spec(spec: object) -> Action:
    """An :class:`Action` from a Flows action dict (or an Action)."""
    if isinstance(spec, Action):
        return spec
    if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
        raise FlowError(f"expected an action dict with a 'type', got {spec!r}")
    kind = str(spec["type"])
    text = spec.get("text")
    handler = spec.get("handler")
    options = {k: cast(JSONValue, v) for k, v in spec.items() if k not in ("type", "handler")}
    if callable(handler):
        original = dict(spec)
        fn = cast(Callable[..., Awaitable[None]], handler)

        async def run(action: Action, flow_manager: FlowManager) -> None:
            await fn(original, flow_manager)

        return Action("function", text=None, handler=run, options=options)
    return Action(kind, text=text if isinstance(text, str) else None, options=options)


# -- nodes -----------------------------------------------------------------------------------------

_counter = itertools.count(1)
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def node_from_config(
    config: Mapping[str, object], *, default_strategy: ContextStrategy | None = None
) -> Node:
    """A :class:`Node` from a Flows ``NodeConfig``; nodes without a ``name`` get ``node_<n>``."""
    name = config.get("name")
    if not isinstance(name, str) or not name:
        name = f"node_{next(_counter)}"
    name = _BAD_NAME_CHARS.sub("_", name)[:64]
    task_messages = config.get("task_messages")
    if not isinstance(task_messages, list):
        raise FlowError(f"node {name!r}: expected task_messages to be a list of messages")
    role = config.get("role_message")
    role_messages = config.get("role_messages")
    if not isinstance(role, str) and isinstance(role_messages, list):
        role = "\n\n".join(
            str(m.get("content", "")) for m in role_messages if isinstance(m, Mapping)
        )
    strategy = config.get("context_strategy")
    if isinstance(strategy, ContextStrategyConfig):
        context_strategy = strategy.to_strategy()
    elif isinstance(strategy, ContextStrategy):
        context_strategy = strategy
    elif strategy is None:
        context_strategy = default_strategy or ContextStrategy()
    else:
        raise FlowError(
            f"node {name!r}: expected a ContextStrategyConfig, got {type(strategy).__name__}"
        )
    return Node(
        name=name,
        task_messages=[dict(m) for m in task_messages],
        functions=[function_from_spec(f) for f in _list(config.get("functions"))],
        context_strategy=context_strategy,
        pre_actions=[action_from_spec(a) for a in _list(config.get("pre_actions"))],
        post_actions=[action_from_spec(a) for a in _list(config.get("post_actions"))],
        respond_immediately=bool(config.get("respond_immediately", True)),
        role_message=role if isinstance(role, str) and role else None,
    )


def _list(value: object) -> list[object]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise FlowError(f"expected a list, got {type(value).__name__}")


# -- static flows ----------------------------------------------------------------------------------

_FLOWS_NODE_KEYS = frozenset({"name", "role_message", "role_messages"})


def is_flows_config(data: object) -> bool:
    """True when ``data`` is a Pipecat Flows ``FlowConfig`` rather than a Dhara flow document:
    a node uses Flows' keys (``role_messages``...), lists a function that is not a plain Dhara
    function dict (an OpenAI tool dict, a ``FlowsFunctionSchema``, a direct function), or
    carries a Python callable where a document has only names."""
    if not isinstance(data, Mapping) or not isinstance(data.get("nodes"), Mapping):
        return False
    for body in data["nodes"].values():
        if not isinstance(body, Mapping):
            continue
        if _FLOWS_NODE_KEYS & set(body):
            return True
        for key in ("functions", "pre_actions", "post_actions"):
            items = body.get(key)
            if not isinstance(items, list | tuple):
                continue
            for item in items:
                if not isinstance(item, Mapping):
                    return True
                if key == "functions" and ("function" in item or "type" in item):
                    return True
                if any(callable(v) for v in item.values()):
                    return True
    return False


def flow_from_config(
    config: Mapping[str, object], *, default_strategy: ContextStrategy | None = None
) -> Flow:
    """A :class:`~vani.dhara.model.Flow` from a Flows :class:`FlowConfig` (each node named by
    its key); functions may use ``transition_to`` and ``transition_callback``."""
    initial = config.get("initial_node")
    nodes = config.get("nodes")
    if not isinstance(initial, str) or not initial:
        raise FlowError(f"expected initial_node to be a node name, got {initial!r}")
    if not isinstance(nodes, Mapping) or not nodes:
        raise FlowError("expected nodes to be a mapping of node names to node configs")
    built: list[Node] = []
    for name, body in nodes.items():
        if not isinstance(body, Mapping):
            raise FlowError(f"node {name!r}: expected a node config, got {type(body).__name__}")
        built.append(
            node_from_config({**body, "name": str(name)}, default_strategy=default_strategy)
        )
    return Flow(initial_node=initial, nodes=built)
