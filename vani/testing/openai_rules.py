"""The request checks of the real Chat Completions API that a client can get wrong.

:func:`check_messages` returns the 400 message the API gives for a message history (tool-call
order, ``arguments`` as a string, roles, content types), or None when it is valid;
:func:`check_chat_request` does the same for a whole request body. Tests can call them directly
on an ``LLMContext``'s messages.
"""

from __future__ import annotations

import re

from vani.frames import JSONValue

__all__ = ["check_chat_request", "check_messages"]

# ---------------------------------------------------------------------------------------------
# Request validation (the rules the real API enforces that a client can get wrong)

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _is_text_content(value: JSONValue) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, list) and all(isinstance(p, dict) for p in value)


def check_messages(messages: JSONValue) -> str | None:
    """The error message the real API gives for this history, or None if it is valid.

    Checks roles, content types, the shape of ``tool_calls`` (``arguments`` must be a string)
    and the tool-message order: an assistant message with ``tool_calls`` must be followed by
    one tool message per id before any other message, and a tool message must answer a pending
    id of the assistant message just before it.
    """
    if not isinstance(messages, list) or not messages:
        return "Invalid 'messages': expected a non-empty array."
    pending: set[str] = set()
    pending_at = -1
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"Invalid type for 'messages[{i}]': expected an object."
        role = message.get("role")
        if role not in _ROLES:
            return f"Invalid value for 'messages[{i}].role': {role!r}."
        if pending and role != "tool":
            return (
                "An assistant message with 'tool_calls' must be followed by tool messages"
                " responding to each 'tool_call_id'. The following tool_call_ids did not have"
                f" response messages: {', '.join(sorted(pending))}"
                f" (messages[{pending_at}])"
            )
        content = message.get("content")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or call_id not in pending:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a"
                    f" preceeding message with 'tool_calls' (messages[{i}])."
                )
            pending.discard(call_id)
            if not _is_text_content(content):
                return f"Invalid type for 'messages[{i}].content': expected a string."
        elif role == "assistant":
            tool_calls = message.get("tool_calls")
            if tool_calls is None:
                if not _is_text_content(content):
                    return f"Invalid 'messages[{i}]': content is required without tool_calls."
                continue
            if content is not None and not _is_text_content(content):
                return f"Invalid type for 'messages[{i}].content'."
            if not isinstance(tool_calls, list) or not tool_calls:
                return f"Invalid 'messages[{i}].tool_calls': expected a non-empty array."
            ids: set[str] = set()
            for j, call in enumerate(tool_calls):
                where = f"messages[{i}].tool_calls[{j}]"
                if not isinstance(call, dict) or call.get("type") != "function":
                    return f"Invalid value for '{where}.type': expected 'function'."
                call_id = call.get("id")
                function = call.get("function")
                if not isinstance(call_id, str) or not call_id or call_id in ids:
                    return f"Invalid value for '{where}.id': expected a unique string."
                if not isinstance(function, dict) or not isinstance(function.get("name"), str):
                    return f"Missing required parameter: '{where}.function.name'."
                if not isinstance(function.get("arguments"), str):
                    return (
                        f"Invalid type for '{where}.function.arguments': expected a string,"
                        " but got an object instead."
                    )
                ids.add(call_id)
            pending, pending_at = ids, i
        elif not _is_text_content(content):
            return f"Invalid type for 'messages[{i}].content': expected a string or an array."
    if pending:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages"
            " responding to each 'tool_call_id'. The following tool_call_ids did not have"
            f" response messages: {', '.join(sorted(pending))} (messages[{pending_at}])"
        )
    return None


def check_chat_request(body: JSONValue) -> str | None:
    """The 400 message for this Chat Completions request body, or None if it is acceptable."""
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    if not isinstance(body.get("model"), str):
        return "Missing required parameter: 'model'."
    error = check_messages(body.get("messages"))
    if error is not None:
        return error
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            return "Invalid type for 'tools': expected an array."
        for j, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or tool.get("type") != "function":
                return f"Invalid value for 'tools[{j}].type': expected 'function'."
            name = function.get("name") if isinstance(function, dict) else None
            if not isinstance(name, str) or not _NAME_RE.match(name):
                return f"Invalid 'tools[{j}].function.name': string does not match pattern."
    if body.get("tool_choice") is not None and not tools:
        return (
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools'"
            " are specified."
        )
    return None
