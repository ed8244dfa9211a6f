"""The flow model: plain dataclasses describing a Dhara flow.

A :class:`Flow` is a set of named :class:`Node` objects and the name of the node to start in.
Each node carries the prompt the LLM sees while the conversation is in it (``task_messages``),
the tools it may call (:class:`FlowFunction`), what happens to the context on entry
(:class:`ContextStrategy`), and :class:`Action` objects run on entry (``pre_actions``) and after
the bot has finished speaking its first response there (``post_actions``).

The same model is built directly in Python or loaded from a dict / JSON / YAML file by
:func:`vani.dhara.load_flow`; :func:`vani.dhara.validate_flow` checks it. Objects here are inert
data: nothing in this module runs a handler or touches a pipeline.

Handlers are referred to either by name (bound at run time through ``FlowManager(handlers=...)``,
which is the only form a JSON file can use) or by the callable itself (Python flows).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from vani.frames import JSONObject, JSONValue

if TYPE_CHECKING:
    from vani.dhara.manager import FlowManager

__all__ = [
    "BUILTIN_ACTION_TYPES",
    "Action",
    "ActionHandler",
    "ContextStrategy",
    "ContextStrategyKind",
    "Flow",
    "FlowFunction",
    "FlowHandler",
    "Node",
    "TransitionCallback",
    "TransitionTarget",
]

# A function handler: ``async def h(args)`` or ``async def h(args, flow_manager)``. It returns a
# result (a JSON-able value, or a ``ToolResult`` for a data handler) to stay in the node, or a
# ``(result, next_node)`` tuple to move: ``next_node`` a node name or a Node built at run time.
# The result's shape is decided at run time, hence ``object``.
FlowHandler: TypeAlias = Callable[..., Awaitable[object]]

# Pipecat Flows' ``transition_callback``: ``async def cb(args, flow_manager)`` or
# ``async def cb(args, result, flow_manager)``, run once the handler has returned; it picks the
# next node by calling ``flow_manager.set_node(...)`` / ``set_node_from_config(...)``.
TransitionCallback: TypeAlias = Callable[..., Awaitable[None]]

# An action handler: ``async def h(action, flow_manager)``; used by ``{"type": "function"}``
# actions and by user-registered action types.
ActionHandler: TypeAlias = "Callable[[Action, FlowManager], Awaitable[None]]"

# ``transition_to`` of a function: one node name, or a mapping from a value of the handler's
# result (as text) to a node name; the key ``"*"`` matches any other value.
TransitionTarget: TypeAlias = "str | Mapping[str, str]"

BUILTIN_ACTION_TYPES = frozenset({"tts_say", "end_conversation", "function"})


class ContextStrategyKind(enum.Enum):
    """What a transition does to the conversation held in the LLM context.

    * ``APPEND``: keep every message; the new node's task messages are appended.
    * ``RESET``: drop the conversation; the context becomes the role message (if any) followed by
      the new node's task messages.
    * ``RESET_WITH_SUMMARY``: like ``RESET``, with one system message carrying a summary of the
      conversation so far, written by the LLM, between the role message and the task messages.
    """

    APPEND = "append"
    RESET = "reset"
    RESET_WITH_SUMMARY = "reset_with_summary"


DEFAULT_SUMMARY_PROMPT = (
    "Summarise the conversation so far in a few sentences for the assistant that continues it. "
    "Keep every fact the user gave (names, numbers, choices) and what is still open."
)


@dataclass(slots=True, frozen=True)
class ContextStrategy:
    """How entering a node changes the context; ``summary_prompt`` only matters for
    ``RESET_WITH_SUMMARY`` (it is the instruction given to the LLM that writes the summary)."""

    kind: ContextStrategyKind = ContextStrategyKind.APPEND
    summary_prompt: str = DEFAULT_SUMMARY_PROMPT

    # Pipecat Flows' enum spelling, for ContextStrategyConfig(strategy=ContextStrategy.RESET).
    APPEND: ClassVar[ContextStrategy]
    RESET: ClassVar[ContextStrategy]
    RESET_WITH_SUMMARY: ClassVar[ContextStrategy]

    @classmethod
    def append(cls) -> ContextStrategy:
        return cls(ContextStrategyKind.APPEND)

    @classmethod
    def reset(cls) -> ContextStrategy:
        return cls(ContextStrategyKind.RESET)

    @classmethod
    def reset_with_summary(cls, summary_prompt: str = DEFAULT_SUMMARY_PROMPT) -> ContextStrategy:
        return cls(ContextStrategyKind.RESET_WITH_SUMMARY, summary_prompt)


ContextStrategy.APPEND = ContextStrategy(ContextStrategyKind.APPEND)
ContextStrategy.RESET = ContextStrategy(ContextStrategyKind.RESET)
ContextStrategy.RESET_WITH_SUMMARY = ContextStrategy(ContextStrategyKind.RESET_WITH_SUMMARY)


@dataclass(slots=True, frozen=True)
class Action:
    """Something the flow does on entering a node (pre) or after the bot has spoken (post).

    Built-in types: ``tts_say`` (speak ``text`` as is), ``end_conversation`` (optionally say
    ``text``, then end the pipeline), ``function`` (await ``handler``). Any other ``type`` must be
    registered on the FlowManager; its extra fields are in ``options``.
    """

    type: str
    text: str | None = None
    handler: str | ActionHandler | None = None
    options: Mapping[str, JSONValue] = field(default_factory=dict)

    @classmethod
    def tts_say(cls, text: str) -> Action:
        return cls("tts_say", text=text)

    @classmethod
    def end_conversation(cls, text: str | None = None) -> Action:
        return cls("end_conversation", text=text)

    @classmethod
    def function(cls, handler: str | ActionHandler) -> Action:
        return cls("function", handler=handler)


@dataclass(slots=True, frozen=True)
class FlowFunction:
    """A tool offered to the LLM while the flow is in a node.

    ``parameters`` is the JSON Schema of the arguments (an ``object`` schema). ``handler`` is a
    handler name bound at run time or the callable itself; a function may have no handler when it
    only transitions (``transition_to``). ``transition_to`` names the node to move to once the
    handler has returned (a name, or a mapping from the result value to names; with
    ``transition_key`` the value is read from that key of a dict result).
    ``may_transition_to`` declares the nodes a handler may choose itself by returning
    ``(result, "node")``: it is what validation uses to see that those nodes are reachable.
    ``transition_callback`` (Pipecat Flows' older spelling, instead of ``transition_to``) picks
    the next node at run time once the handler has returned (``docs/dhara.md``).
    """

    name: str
    description: str = ""
    parameters: JSONObject = field(default_factory=lambda: {"type": "object", "properties": {}})
    handler: str | FlowHandler | None = None
    transition_to: TransitionTarget | None = None
    transition_key: str | None = None
    may_transition_to: Sequence[str] = ()
    cancel_on_interruption: bool = True
    timeout_secs: float | None = None
    transition_callback: TransitionCallback | None = None

    def targets(self) -> list[str]:
        """Every node name this function may move to (declared statically)."""
        out: list[str] = []
        if isinstance(self.transition_to, str):
            out.append(self.transition_to)
        elif self.transition_to is not None:
            out.extend(self.transition_to.values())
        out.extend(self.may_transition_to)
        return out

    def to_tool(self) -> JSONObject:
        """The OpenAI-format tool dict offered to the LLM."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


@dataclass(slots=True)
class Node:
    """One state of the conversation: its prompt, tools, context strategy and actions.

    ``task_messages`` are OpenAI-format messages (usually one ``system`` message) and may contain
    ``{{key}}`` placeholders filled from ``FlowManager.state`` on entry. ``respond_immediately``
    runs the LLM on entry; when False the flow waits for the user to speak. A node without
    functions whose actions include ``end_conversation`` is an end node.
    """

    name: str
    task_messages: list[JSONObject] = field(default_factory=list)
    functions: list[FlowFunction] = field(default_factory=list)
    context_strategy: ContextStrategy = field(default_factory=ContextStrategy)
    pre_actions: list[Action] = field(default_factory=list)
    post_actions: list[Action] = field(default_factory=list)
    respond_immediately: bool = True
    role_message: str | None = None
    #: Set on the nodes of an :class:`~vani.dhara.agents.Agent`: entering one from another
    #: agent's node is a handoff (LLM and TTS settings change, the client is told).
    agent: str | None = None
    llm_settings: Mapping[str, JSONValue] = field(default_factory=dict)
    tts_settings: Mapping[str, JSONValue] = field(default_factory=dict)

    @property
    def is_end_node(self) -> bool:
        actions = [*self.pre_actions, *self.post_actions]
        return not self.functions and any(a.type == "end_conversation" for a in actions)


@dataclass(slots=True)
class Flow:
    """A whole flow: its nodes, the node to start in, and what every node shares.

    ``role_message`` is a system instruction kept at the top of the context in every node (also
    through ``reset`` transitions); ``global_functions`` are offered in every node besides the
    node's own functions.
    """

    initial_node: str
    nodes: list[Node] = field(default_factory=list)
    role_message: str | None = None
    global_functions: list[FlowFunction] = field(default_factory=list)

    def node(self, name: str) -> Node | None:
        """The node called ``name``, or None."""
        for node in self.nodes:
            if node.name == name:
                return node
        return None

    @property
    def node_names(self) -> list[str]:
        return [node.name for node in self.nodes]
