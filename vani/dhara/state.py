"""``{{key}}`` placeholders in prompts, filled from ``FlowManager.state``.

``{{size}}`` is replaced by ``state["size"]``; ``{{order.size}}`` walks nested dicts. Strings are
inserted as they are, lists of scalars joined with ", ", anything else as JSON. A placeholder whose
key is missing is left as it is (and logged), so a typo shows up in the prompt rather than
crashing a live call.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping

from vani.frames import JSONObject, JSONValue

__all__ = ["render", "render_message"]

logger = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\s*\}\}")
_MISSING = object()


def _lookup(state: Mapping[str, object], key: str) -> object:
    value: object = state
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def render(text: str, state: Mapping[str, object]) -> str:
    """``text`` with every ``{{key}}`` whose key is in ``state`` replaced."""
    if "{{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        value = _lookup(state, match.group(1))
        if value is _MISSING:
            logger.warning("flow state has no %r; the placeholder stays in the prompt", match[1])
            return match.group(0)
        return _as_text(value)

    return _PLACEHOLDER.sub(replace, text)


def render_message(message: JSONObject, state: Mapping[str, object]) -> JSONObject:
    """A copy of ``message`` with placeholders in its text content (string or text parts)."""
    out: JSONObject = dict(message)
    content = message.get("content")
    if isinstance(content, str):
        out["content"] = render(content, state)
    elif isinstance(content, list):
        parts: list[JSONValue] = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                part = {**part, "text": render(str(part["text"]), state)}
            parts.append(part)
        out["content"] = parts
    return out
