"""Dhara (धारा, "flow"): node-based conversation flows on top of the LLM service.

A conversation is split into nodes, each with its own prompt, tools and context strategy; a tool
handler either stays in its node or moves the flow to another. The LLM only ever sees the prompt
and tools of the node the conversation is in.

* :class:`Flow`, :class:`Node`, :class:`FlowFunction`, :class:`Action`,
  :class:`ContextStrategy`: the model, built in Python or loaded with :func:`load_flow` from a
  dict or a JSON/YAML file validated against ``flow.schema.json`` (:func:`flow_schema`).
* :func:`validate_flow` / :func:`flow_problems`: every problem of a flow at once, with locations.
* :class:`FlowManager`: runs a flow against a pipeline task, an LLM and a context aggregator.
* Pipecat Flows' spelling (:mod:`vani.dhara.flows`): ``NodeConfig``, direct functions,
  ``FlowsFunctionSchema``, ``ContextStrategyConfig``: a Flows program runs by changing its
  imports (``docs/dhara.md``).
* Agents (:mod:`vani.dhara.agents`): several personas in one call, each with its prompt, tools,
  LLM settings and voice; a tool hands the call from one to another.
* Sub-tasks (:mod:`vani.dhara.tasks`): node groups that return a typed value to the node that
  started them (name, phone number, date, confirmation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vani.dhara.agents import Agent, Handoff
from vani.dhara.flows import (
    NO_RESPONSE,
    ConsolidatedFunctionResult,
    ContextStrategyConfig,
    FlowArgs,
    FlowConfig,
    FlowResult,
    FlowsDirectFunction,
    FlowsFunctionSchema,
    NodeConfig,
    flow_from_config,
    flows_direct_function,
    flows_tool_options,
    node_from_config,
)
from vani.dhara.load import flow_from_dict, flow_schema, load_flow, read_flow_file
from vani.dhara.model import (
    BUILTIN_ACTION_TYPES,
    Action,
    ContextStrategy,
    ContextStrategyKind,
    Flow,
    FlowFunction,
    Node,
)
from vani.dhara.tasks import (
    CollectDate,
    CollectName,
    CollectPhoneNumber,
    Confirm,
    FlowTask,
    PersonName,
    PhoneNumber,
    TaskDone,
)
from vani.dhara.validate import flow_problems, flow_warnings, validate_flow
from vani.errors import FlowError, FlowValidationError

if TYPE_CHECKING:
    from vani.dhara.manager import FlowManager

__all__ = [
    "BUILTIN_ACTION_TYPES",
    "NO_RESPONSE",
    "Action",
    "Agent",
    "CollectDate",
    "CollectName",
    "CollectPhoneNumber",
    "Confirm",
    "ConsolidatedFunctionResult",
    "ContextStrategy",
    "ContextStrategyConfig",
    "ContextStrategyKind",
    "Flow",
    "FlowArgs",
    "FlowConfig",
    "FlowError",
    "FlowFunction",
    "FlowManager",
    "FlowResult",
    "FlowTask",
    "FlowValidationError",
    "FlowsDirectFunction",
    "FlowsFunctionSchema",
    "Handoff",
    "Node",
    "NodeConfig",
    "PersonName",
    "PhoneNumber",
    "TaskDone",
    "flow_from_config",
    "flow_from_dict",
    "flow_problems",
    "flow_schema",
    "flow_warnings",
    "flows_direct_function",
    "flows_tool_options",
    "load_flow",
    "node_from_config",
    "read_flow_file",
    "validate_flow",
]


def __getattr__(name: str) -> object:
    # The manager pulls in the pipeline and LLM layers; loading or checking a flow does not.
    if name == "FlowManager":
        from vani.dhara.manager import FlowManager

        return FlowManager
    raise AttributeError(f"module 'vani.dhara' has no attribute {name!r}")
