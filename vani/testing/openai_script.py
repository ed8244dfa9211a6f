"""The script of the fake OpenAI server: what a response is made of, and its SSE encoding.

A :class:`StreamResponse` is a list of parts (text, tool-call fragments, pauses, raw bytes,
error events, endings) plus framing options; an :class:`ErrorResponse` is a status with a body.
:func:`stream_events` turns a stream response into the exact bytes the server writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from vani.frames import JSONObject

__all__ = [
    "Chunk",
    "Disconnect",
    "Done",
    "ErrorEvent",
    "ErrorResponse",
    "Finish",
    "Pause",
    "Raw",
    "Response",
    "StreamPart",
    "StreamResponse",
    "Text",
    "ToolCallFragment",
    "Usage",
    "completion_object",
    "error_response",
    "stream_events",
    "text_response",
    "tool_call",
]

# ---------------------------------------------------------------------------------------------
# Script


@dataclass(frozen=True, slots=True)
class Text:
    """One ``delta.content`` chunk."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallFragment:
    """One ``delta.tool_calls`` entry; fields left ``None`` are omitted from the chunk."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait this many seconds before the next part (the server notices a hang-up meanwhile)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Raw:
    """Bytes written as they are: comments, ``event:`` lines, truncated or invalid JSON."""

    data: bytes


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """A ``data: {"error": {...}}`` event in the middle of a 200 stream."""

    message: str = "The server had an error while processing your request."
    type: str = "server_error"
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """A chunk with an empty delta and this ``finish_reason``."""

    reason: str


@dataclass(frozen=True, slots=True)
class Usage:
    """A usage chunk (``choices: []``), as sent when ``stream_options.include_usage`` is set."""

    prompt_tokens: int = 10
    completion_tokens: int = 5
    cached_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """A whole chunk object written as one event (for shapes the other parts don't cover)."""

    data: JSONObject


@dataclass(frozen=True, slots=True)
class Done:
    """``data: [DONE]``."""


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Drop the connection at once, without ``[DONE]`` or the end of the chunked body."""


StreamPart: TypeAlias = (
    Text | ToolCallFragment | Pause | Raw | ErrorEvent | Finish | Usage | Chunk | Done | Disconnect
)


@dataclass(frozen=True, slots=True)
class StreamResponse:
    """A 200 ``text/event-stream`` response.

    ``finish``: ``"auto"`` appends ``Finish("tool_calls")`` when the parts hold a tool call and
    ``Finish("stop")`` otherwise; ``None`` sends no finish chunk; ignored when the parts already
    hold a :class:`Finish`. ``usage``: ``"auto"`` appends a :class:`Usage` chunk when the request
    asked for ``include_usage``. ``done`` appends ``[DONE]``. These endings are skipped when the
    parts hold a :class:`Disconnect`. ``role_chunk`` sends a first chunk carrying only the role.
    ``crlf`` ends lines with CRLF; ``write_size`` splits the byte stream into writes of that many
    bytes (anywhere, even inside a UTF-8 character); ``coalesce`` joins all events between pauses
    into one write. ``headers_delay`` waits before the status line is sent (seconds).
    """

    parts: Sequence[StreamPart] = ()
    finish: str | None = "auto"
    usage: Usage | Literal["auto"] | None = "auto"
    done: bool = True
    role_chunk: bool = True
    usage_null_field: bool = True
    obfuscation: bool = False
    crlf: bool = False
    write_size: int | None = None
    coalesce: bool = False
    headers_delay: float = 0.0
    model: str = "gpt-4o-mini-2024-07-18"


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """A non-200 response. ``body`` is JSON (dict), raw bytes (HTML, empty) or ``None``."""

    status: int
    body: JSONObject | bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    headers_delay: float = 0.0


Response: TypeAlias = StreamResponse | ErrorResponse


def text_response(*tokens: str, **options: object) -> StreamResponse:
    """A stream of these text tokens (``options`` as for :class:`StreamResponse`)."""
    return StreamResponse([Text(t) for t in tokens], **options)  # type: ignore[arg-type]


def tool_call(
    call_id: str, name: str, arguments: str, *, index: int = 0, split: int | None = None
) -> list[ToolCallFragment]:
    """Fragments of one tool call as the API streams them: a head with ``id``, ``name`` and
    ``arguments: ""``, then ``arguments`` in pieces of ``split`` characters (one piece if None)."""
    fragments = [ToolCallFragment(index, call_id, name, "")]
    step = split or max(1, len(arguments))
    for start in range(0, len(arguments), step):
        fragments.append(ToolCallFragment(index, arguments=arguments[start : start + step]))
    return fragments


_DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("invalid_request_error", "Bad request.", None),
    401: ("invalid_request_error", "Incorrect API key provided: sk-test.", "invalid_api_key"),
    403: ("invalid_request_error", "You are not allowed to use this model.", None),
    404: ("invalid_request_error", "The model `x` does not exist.", "model_not_found"),
    429: ("tokens", "Rate limit reached. Please try again in 1s.", "rate_limit_exceeded"),
    500: ("server_error", "The server had an error while processing your request.", None),
    502: ("server_error", "Bad gateway.", None),
    503: ("server_error", "The engine is currently overloaded.", None),
}


def error_response(
    status: int,
    *,
    message: str | None = None,
    type: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> ErrorResponse:
    """An API error with the usual ``{"error": {message, type, param, code}}`` body."""
    d_type, d_message, d_code = _DEFAULT_ERRORS.get(status, ("api_error", "Error.", None))
    body: JSONObject = {
        "error": {
            "message": message if message is not None else d_message,
            "type": type if type is not None else d_type,
            "param": None,
            "code": code if code is not None else d_code,
        }
    }
    return ErrorResponse(status, body, dict(headers or {}))


def completion_object(response: StreamResponse) -> JSONObject:
    """A non-streamed ``chat.completion`` carrying the same text and tool calls."""
    text = "".join(p.text for p in response.parts if isinstance(p, Text))
    calls: dict[int, dict[str, str]] = {}
    for p in response.parts:
        if isinstance(p, ToolCallFragment):
            call = calls.setdefault(p.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = p.id or call["id"]
            call["name"] = p.name or call["name"]
            call["arguments"] += p.arguments or ""
    message: JSONObject = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls.values()
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1767225600,
        "model": response.model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def stream_events(
    response: StreamResponse, body: JSONObject
) -> Iterator[bytes | Pause | Disconnect]:
    """The response as SSE event bytes, pauses and disconnects, endings appended."""
    eol = b"\r\n" if response.crlf else b"\n"
    envelope: JSONObject = {
        "id": "chatcmpl-fake1",
        "object": "chat.completion.chunk",
        "created": 1767225600,
        "model": response.model,
        "system_fingerprint": "fp_fake",
        "service_tier": "default",
    }

    def event(payload: str) -> bytes:
        return b"data: " + payload.encode() + eol + eol

    def chunk(delta: JSONObject | None, finish: str | None = None) -> bytes:
        data: JSONObject = dict(envelope)
        data["choices"] = [
            {"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}
        ]
        if response.usage_null_field:
            data["usage"] = None
        if response.obfuscation:
            data["obfuscation"] = "Qx9"
        return event(json.dumps(data, ensure_ascii=False))

    parts = list(response.parts)
    stream_options = body.get("stream_options")
    include_usage = isinstance(stream_options, dict) and stream_options.get("include_usage") is True
    if not any(isinstance(p, Disconnect) for p in parts):
        if response.finish is not None and not any(isinstance(p, Finish) for p in parts):
            has_tools = any(isinstance(p, ToolCallFragment) for p in parts)
            parts.append(
                Finish(
                    response.finish
                    if response.finish != "auto"
                    else ("tool_calls" if has_tools else "stop")
                )
            )
        if response.usage == "auto":
            if include_usage and not any(isinstance(p, Usage) for p in parts):
                count = sum(isinstance(p, Text | ToolCallFragment) for p in parts)
                parts.append(Usage(prompt_tokens=10, completion_tokens=count))
        elif response.usage is not None:
            parts.append(response.usage)
        if response.done and not any(isinstance(p, Done) for p in parts):
            parts.append(Done())

    if response.role_chunk:
        yield chunk({"role": "assistant", "content": "", "refusal": None})
    for part in parts:
        if isinstance(part, Text):
            yield chunk({"content": part.text})
        elif isinstance(part, ToolCallFragment):
            fragment: JSONObject = {"index": part.index}
            if part.id is not None:
                fragment["id"] = part.id
                fragment["type"] = "function"
            function: JSONObject = {}
            if part.name is not None:
                function["name"] = part.name
            if part.arguments is not None:
                function["arguments"] = part.arguments
            if function:
                fragment["function"] = function
            yield chunk({"tool_calls": [fragment]})
        elif isinstance(part, Finish):
            yield chunk({}, part.reason)
        elif isinstance(part, Usage):
            usage: JSONObject = {
                "prompt_tokens": part.prompt_tokens,
                "completion_tokens": part.completion_tokens,
                "total_tokens": part.prompt_tokens + part.completion_tokens,
            }
            if part.cached_tokens is not None:
                usage["prompt_tokens_details"] = {"cached_tokens": part.cached_tokens}
            data = dict(envelope)
            data["choices"] = []
            data["usage"] = usage
            yield event(json.dumps(data))
        elif isinstance(part, ErrorEvent):
            error = {"message": part.message, "type": part.type, "param": None, "code": part.code}
            yield event(json.dumps({"error": error}))
        elif isinstance(part, Chunk):
            yield event(json.dumps(part.data, ensure_ascii=False))
        elif isinstance(part, Raw):
            yield part.data
        elif isinstance(part, Done):
            yield event("[DONE]")
        else:
            yield part
