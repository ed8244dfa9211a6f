"""LLMContext: the messages, tools and tool choice an LLM runs on."""

from __future__ import annotations

from collections.abc import Sequence

from vani.frames import JSONObject, JSONValue


class LLMContext:
    """The conversation so far (OpenAI message dicts), the tools offered and the tool choice."""

    def __init__(
        self,
        messages: list[JSONObject] | None = None,
        tools: Sequence[object] | None = None,
        tool_choice: JSONValue = None,
    ) -> None:
        self.messages: list[JSONObject] = list(messages or [])
        self.tools: list[object] = list(tools or [])
        self.tool_choice: JSONValue = tool_choice

    def add_message(self, message: JSONObject) -> None:
        self.messages.append(message)
