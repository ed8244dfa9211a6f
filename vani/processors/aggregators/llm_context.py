"""The conversation an LLM sees: messages, tools and ``tool_choice``.

One :class:`LLMContext` is shared by the context aggregators and the LLM service of a session
(the user aggregator adds user turns, the service adds the assistant's replies, tool calls and
their results). Messages are OpenAI Chat Completions dicts; the service translates them for
other APIs.

Two invariants hold at every moment, so that any request built from the context is valid:

* an assistant message with ``tool_calls`` is followed by exactly one tool message per id,
  before any other message: :meth:`add_tool_calls` writes a placeholder tool message for each
  call at once, and :meth:`set_tool_result` later fills it in (with the result, an error, or
  "cancelled");
* the assistant's text is what the user heard: an assistant aggregator placed after the output
  transport cuts a reply that was interrupted down to the part that was played
  (:meth:`cut_response`), whether the service finished writing it before or after the cut.

Not thread-safe: use one context from one event loop.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass

from vani.frames import FunctionCallFromLLM, JSONObject, JSONValue
from vani.processors.aggregators.function_schema import (
    FunctionSchema,
    ToolsSchema,
    normalize_tools,
)

__all__ = ["TOOL_CALL_IN_PROGRESS", "LLMContext", "ToolsInput"]

#: The content of a tool message whose call is still running.
TOOL_CALL_IN_PROGRESS = json.dumps({"status": "in_progress"})

ToolsInput = Sequence[object] | ToolsSchema | None
"""Tools as users give them: schemas, OpenAI tool dicts, typed functions, or a ToolsSchema."""


@dataclass(slots=True)
class _Response:
    """Bookkeeping of one streamed reply, while it may still be cut by an interruption."""

    message: JSONObject | None = None
    written: bool = False
    heard: str | None = None


class LLMContext:
    """Messages, tools and ``tool_choice`` for an LLM (see the module docstring).

    ``tools`` accepts :class:`FunctionSchema` objects, OpenAI tool dicts
    (``{"type": "function", "function": {...}}``), typed functions, or a :class:`ToolsSchema`.
    ``tool_choice`` is ``"none"``, ``"auto"``, ``"required"``, a function selector, or None to
    leave it to the server.
    """

    def __init__(
        self,
        messages: Sequence[JSONObject] | None = None,
        tools: ToolsInput = None,
        tool_choice: JSONValue = None,
    ) -> None:
        self._messages: list[JSONObject] = [dict(m) for m in messages or ()]
        self._tools: list[FunctionSchema] = normalize_tools(tools)
        self._tool_choice: JSONValue = tool_choice
        self._responses: dict[int, _Response] = {}
        #: Set by an assistant aggregator: replies are tracked so they can be cut.
        self.track_responses = False
        #: The last reply an interruption cut, as (all its text written, the part heard); read
        #: by an InterruptionGate to resume after a false alarm. A new reply clears it.
        self.last_cut: tuple[str, str] | None = None

    # -- messages ----------------------------------------------------------------------------

    @property
    def messages(self) -> list[JSONObject]:
        """The live message list (mutating it changes the context)."""
        return self._messages

    def get_messages(self) -> list[JSONObject]:
        """A deep copy of the messages, safe to send while the context keeps changing."""
        return copy.deepcopy(self._messages)

    def add_message(self, message: JSONObject) -> None:
        self._messages.append(message)

    def add_messages(self, messages: Sequence[JSONObject]) -> None:
        self._messages.extend(messages)

    def set_messages(self, messages: Sequence[JSONObject]) -> None:
        """Replace the history. Replies still being tracked are forgotten."""
        self._messages[:] = [dict(m) for m in messages]
        self._responses.clear()

    # -- tools -------------------------------------------------------------------------------

    @property
    def tools(self) -> list[FunctionSchema]:
        return list(self._tools)

    def set_tools(self, tools: ToolsInput) -> None:
        self._tools = normalize_tools(tools)

    @property
    def tool_choice(self) -> JSONValue:
        return self._tool_choice

    def set_tool_choice(self, tool_choice: JSONValue) -> None:
        self._tool_choice = tool_choice

    def tools_for_request(self) -> list[JSONObject]:
        """The tools in OpenAI's format (empty when there are none)."""
        return [t.to_openai() for t in self._tools]

    # -- tool calls --------------------------------------------------------------------------

    def add_tool_calls(
        self, calls: Sequence[FunctionCallFromLLM], *, content: str | None = None
    ) -> JSONObject:
        """Append the assistant message with these calls, then a placeholder tool message for
        each, so the history is valid while the calls run. Returns the assistant message."""
        message: JSONObject = {
            "role": "assistant",
            "content": content or None,
            "tool_calls": [
                {
                    "id": c.tool_call_id,
                    "type": "function",
                    "function": {"name": c.function_name, "arguments": c.arguments},
                }
                for c in calls
            ],
        }
        self._messages.append(message)
        for c in calls:
            self._messages.append(
                {"role": "tool", "tool_call_id": c.tool_call_id, "content": TOOL_CALL_IN_PROGRESS}
            )
        return message

    def set_tool_result(self, tool_call_id: str, content: str) -> bool:
        """Fill in the tool message of this call; False if the history no longer has it."""
        for message in reversed(self._messages):
            if message.get("role") == "tool" and message.get("tool_call_id") == tool_call_id:
                message["content"] = content
                return True
        return False

    # -- replies that an interruption may cut ------------------------------------------------

    def begin_response(self, key: int) -> None:
        """A reply identified by ``key`` (its ``LLMFullResponseStartFrame.id``) starts."""
        if self.track_responses:
            self._responses[key] = _Response()
        self.last_cut = None

    def write_response(self, key: int, text: str, calls: Sequence[FunctionCallFromLLM]) -> None:
        """Write a reply the service streamed (or the part streamed before an interruption).

        If the reply was already cut, only the heard part is written. Tool calls are written
        with their placeholders (see :meth:`add_tool_calls`).
        """
        record = self._responses.get(key)
        if record is not None and record.heard is not None:
            self.last_cut = (text, record.heard)
            text = record.heard
            self._responses.pop(key, None)
            record = None
        message: JSONObject | None = None
        if calls:
            message = self.add_tool_calls(calls, content=text or None)
        elif text:
            message = {"role": "assistant", "content": text}
            self._messages.append(message)
        if record is not None:
            record.message = message
            record.written = True

    def response_played(self, key: int) -> None:
        """The whole reply was played: it stays as written."""
        self._responses.pop(key, None)

    def open_responses(self) -> list[int]:
        """Keys of replies begun and not yet played or cut, oldest first."""
        return list(self._responses)

    def cut_response(self, key: int, heard: str) -> None:
        """The reply was interrupted after the user heard ``heard``: keep only that."""
        record = self._responses.get(key)
        if record is None:
            return
        if not record.written:
            record.heard = heard  # write_response will apply it
            return
        self._responses.pop(key, None)
        message = record.message
        if message is None:
            return
        content = message.get("content")
        self.last_cut = (content if isinstance(content, str) else "", heard)
        if message.get("tool_calls"):
            message["content"] = heard or None
        elif heard:
            message["content"] = heard
        else:
            for i, m in enumerate(self._messages):
                if m is message:
                    del self._messages[i]
                    break

    def __repr__(self) -> str:
        return (
            f"LLMContext(messages={len(self._messages)}, tools={[t.name for t in self._tools]},"
            f" tool_choice={self._tool_choice!r})"
        )
