"""How handler results are read: the handler's arity, ``transition_to`` lookups, and asking the
LLM service not to run after a round of calls."""

from __future__ import annotations

import contextvars
import dataclasses
import inspect
import json
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, cast

from vani.dhara.model import FlowFunction
from vani.frames import JSONValue

if TYPE_CHECKING:
    from vani.dhara.manager import FlowManager
    from vani.services.llm.functions import FunctionCallParams

logger = logging.getLogger(__name__)

# Set while a transition_callback runs: (its manager, the nodes it chose with set_node).
_CHOSEN: contextvars.ContextVar[tuple[object, list[object]] | None] = contextvars.ContextVar(
    "dhara_transition_choice", default=None
)

__all__ = [
    "callback_takes_result",
    "declared_target",
    "record_choice",
    "result_value",
    "run_transition_callback",
    "takes_flow_manager",
    "without_llm_run",
]


def takes_flow_manager(handler: Callable[..., object]) -> bool:
    """True when ``handler`` takes ``(args, flow_manager)`` rather than ``(args)``."""
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in positional)


def callback_takes_result(callback: Callable[..., object]) -> bool:
    """True when a Flows ``transition_callback`` takes ``(args, result, flow_manager)``; False
    for the older ``(args, flow_manager)`` (Flows tells them apart by their parameter count)."""
    try:
        parameters = list(inspect.signature(callback).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return True
    return len(parameters) != 2


def declared_target(function: FlowFunction, result: object) -> str | None:
    """The node ``transition_to`` selects for this result, or None to stay."""
    target = function.transition_to
    if target is None or isinstance(target, str):
        return target
    value = result_value(result, function.transition_key)
    if value is None:
        return target.get("*")
    return target.get(value, target.get("*"))


def result_value(result: object, key: str | None) -> str | None:
    """The text a ``transition_to`` mapping is looked up with: the result (for a data handler,
    its summary, or its data when ``key`` is given), or its ``key`` field; JSON for non-strings
    (``true``, ``3``); None when the key is missing."""
    from vani.services.llm.functions import ToolResult

    value: object = result
    if isinstance(result, ToolResult):
        value = result.data if key is not None and isinstance(result.data, dict) else result.summary
    if key is not None:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    if isinstance(value, str):
        return value
    return json.dumps(value)


async def without_llm_run(result: object, params: FunctionCallParams) -> object:
    """The same result, asking the service not to run the LLM after this round.

    Awaiting ``result_callback`` never suspends, so no cancellation can land here."""
    from vani.services.llm.functions import FunctionCallResultProperties, ToolResult

    if isinstance(result, ToolResult):
        return dataclasses.replace(result, run_llm=False)
    properties = FunctionCallResultProperties(run_llm=False)
    await params.result_callback(cast(JSONValue, result), properties=properties)
    return None


def record_choice(manager: object, node: object) -> bool:
    """Inside a ``transition_callback`` of ``manager``: note ``node`` as its choice (True);
    elsewhere do nothing (False)."""
    chosen = _CHOSEN.get()
    if chosen is None or chosen[0] is not manager:
        return False
    chosen[1].append(node)
    return True


async def run_transition_callback(
    function: FlowFunction,
    arguments: Mapping[str, JSONValue],
    result: object,
    manager: FlowManager,
) -> object:
    """Run Flows' ``transition_callback`` of ``function``; the node it chose with
    ``manager.set_node`` (the last, if it chose several), or None to stay."""
    callback = function.transition_callback
    assert callback is not None
    chosen: list[object] = []
    token = _CHOSEN.set((manager, chosen))
    try:
        if callback_takes_result(callback):
            await callback(dict(arguments), result, manager)
        else:
            await callback(dict(arguments), manager)
    finally:
        _CHOSEN.reset(token)
    if len(chosen) > 1:
        logger.warning(
            "%s: transition_callback of %r chose %d nodes; entering the last",
            manager,
            function.name,
            len(chosen),
        )
    return chosen[-1] if chosen else None
