"""Several agents in one call, and handing the call from one to another (``docs/dhara.md``,
"Agents and handoff").

An :class:`Agent` is a node with a persona: its own system prompt (``instructions``, kept at the
top of the context while it talks), tools, LLM settings (``model``, ``temperature``, ...) and TTS
voice. A tool hands the call over by returning the agent as the next node — usually through
:meth:`Agent.handoff_function`, which builds a ``transfer_to_<name>`` tool. What the new agent
sees of the conversation is its ``context_strategy``: the whole of it (``append``), a summary
(``reset_with_summary``) or nothing (``reset``).

On a handoff the FlowManager, in this order: runs the new agent's pre-actions; sends a
``TTSUpdateSettingsFrame`` with its voice downstream (so the caller hears the new voice from the
next sentence); then, in one synchronous step, rebuilds the context and the tools and applies its
LLM settings; then tells the client with a RAVI ``server-message``
``{"type": "agent-handoff", "from": ..., "to": ..., "reason": ...}`` and fires
``on_handoff(flow_manager, handoff: Handoff)``.

Warm transfer to a person is a transport's job; the :class:`Handoff` record and the
``on_handoff`` event are where it hooks in (a telephony transport can bridge the call there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vani.dhara.model import Action, ContextStrategy, FlowFunction, Node
from vani.frames import JSONObject, JSONValue

if TYPE_CHECKING:
    from vani.dhara.manager import FlowManager

__all__ = ["Agent", "Handoff", "handoff_message"]


@dataclass(frozen=True, slots=True)
class Handoff:
    """One handoff: from which agent (None at the start of the call) to which, and why."""

    from_agent: str | None
    to_agent: str
    reason: str = ""


def handoff_message(handoff: Handoff) -> JSONObject:
    """The RAVI ``server-message`` announcing ``handoff`` to the client (see
    ``docs/protocol.md``)."""
    return {
        "label": "rtvi-ai",
        "type": "server-message",
        "data": {
            "type": "agent-handoff",
            "from": handoff.from_agent,
            "to": handoff.to_agent,
            "reason": handoff.reason,
        },
    }


@dataclass(slots=True)
class Agent:
    """One agent of a call (see the module docstring).

    ``functions`` take any form a Flows node lists (direct functions, ``FlowsFunctionSchema``,
    ``FlowFunction``). ``task_messages`` are optional extra instructions after the history.
    ``model`` / ``temperature`` / ``llm_settings`` go to ``LLMService.update_settings``;
    ``voice`` / ``tts_settings`` to the TTS service (``TTSUpdateSettingsFrame``). An agent that
    leaves one of them unset keeps what the previous agent used.
    """

    name: str
    instructions: str
    functions: Sequence[object] = ()
    task_messages: Sequence[JSONObject] = ()
    model: str | None = None
    temperature: float | None = None
    llm_settings: Mapping[str, JSONValue] = field(default_factory=dict)
    voice: str | None = None
    tts_settings: Mapping[str, JSONValue] = field(default_factory=dict)
    context_strategy: ContextStrategy = field(default_factory=ContextStrategy)
    greeting: str | None = None

    def node(self) -> Node:
        """The node the agent talks in (a fresh one each call)."""
        from vani.dhara.flows import function_from_spec

        llm: dict[str, JSONValue] = dict(self.llm_settings)
        if self.model is not None:
            llm["model"] = self.model
        if self.temperature is not None:
            llm["temperature"] = self.temperature
        tts: dict[str, JSONValue] = dict(self.tts_settings)
        if self.voice is not None:
            tts["voice"] = self.voice
        return Node(
            name=self.name,
            task_messages=[dict(m) for m in self.task_messages],
            functions=[function_from_spec(f) for f in self.functions],
            context_strategy=self.context_strategy,
            pre_actions=[Action.tts_say(self.greeting)] if self.greeting else [],
            role_message=self.instructions,
            agent=self.name,
            llm_settings=llm,
            tts_settings=tts,
        )

    def handoff_function(
        self, *, name: str | None = None, description: str | None = None
    ) -> FlowFunction:
        """A tool that hands the call to this agent; the LLM gives a short ``reason``."""
        target = self

        async def transfer(args: dict[str, JSONValue], flow_manager: FlowManager) -> object:
            reason = str(args.get("reason") or "")
            flow_manager.handoff_reason = reason
            return {"status": "transferred", "to": target.name}, target

        return FlowFunction(
            name=name or f"transfer_to_{self.name}",
            description=description or f"Hand the call to the {self.name} agent.",
            parameters={
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "Why, in a few words."}},
                "required": [],
            },
            handler=transfer,
        )
