"""A fake OpenAI Chat Completions server on 127.0.0.1, for tests and benchmarks.

It speaks real HTTP/1.1 (keep-alive, chunked transfer encoding) and Server-Sent Events over
asyncio streams, so the official ``openai`` SDK (or any other client) talks to it exactly as it
talks to the real service. Every response is scripted: tests queue :class:`StreamResponse` and
:class:`ErrorResponse` objects (or give a ``responder`` function), which can produce every case
of protocols.md E.3 — status errors with ``retry-after``, pauses, keepalive comments, CRLF
framing, events split inside a multi-byte character, mid-stream error events, truncated JSON,
disconnects without ``[DONE]``, tool-call fragments (including Ollama's reuse of index 0).

Before a request reaches the script the server checks it like the real API does and answers
400 ``invalid_request_error`` for a malformed message history (see :func:`check_chat_request`),
so a client that breaks the tool-message order fails loudly in tests. Every request is recorded
(:attr:`FakeOpenAIServer.requests`), including whether the client hung up mid-stream.

Usage::

    async with FakeOpenAIServer() as server:
        server.enqueue(text_response("Hello", " there"))
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=server.base_url)

Not thread-safe: use it from the event loop that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from vani.frames import JSONObject, JSONValue

__all__ = [
    "Chunk",
    "Disconnect",
    "Done",
    "ErrorEvent",
    "ErrorResponse",
    "FakeOpenAIServer",
    "Finish",
    "Pause",
    "Raw",
    "RecordedRequest",
    "Response",
    "StreamPart",
    "StreamResponse",
    "Text",
    "ToolCallFragment",
    "Usage",
    "check_chat_request",
    "check_messages",
    "error_response",
    "text_response",
    "tool_call",
]

logger = logging.getLogger(__name__)

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


# ---------------------------------------------------------------------------------------------
# Recording


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server received it. ``headers`` has lowercase names."""

    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    body: JSONValue = None
    status: int = 0
    #: The client closed the connection before the scripted response ended (a barge-in).
    disconnected: bool = False
    #: The scripted response was written to the end.
    completed: bool = False

    @property
    def messages(self) -> list[JSONObject]:
        """The request's ``messages`` (empty if there were none)."""
        body = self.body
        messages = body.get("messages") if isinstance(body, dict) else None
        return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


Responder: TypeAlias = Callable[[RecordedRequest], Response]


class _Disconnected(Exception):
    """The client went away while we were writing."""


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class _Connection:
    """One client connection: a byte buffer over the reader plus hang-up detection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = bytearray()
        self.closed = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    async def read_request(self) -> tuple[str, str, dict[str, str], bytes] | None:
        while b"\r\n\r\n" not in self.buffer:
            data = await self.reader.read(65536)
            if not data:
                return None
            self.buffer += data
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = bytearray(rest)
        while len(body) < length:
            data = await self.reader.read(65536)
            if not data:
                return None
            body += data
        self.buffer = bytearray(body[length:])
        return method, path, headers, bytes(body[:length])

    def watch(self) -> None:
        """Start noticing a hang-up while a response is written."""

        async def watch() -> None:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    self.closed.set()
                    return
                self.buffer += data  # a pipelined request: keep it for read_request

        self._watcher = asyncio.get_running_loop().create_task(watch())

    async def unwatch(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def write(self, data: bytes) -> None:
        if self.closed.is_set() or self.writer.is_closing():
            raise _Disconnected
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise _Disconnected from exc

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), seconds)
        if self.closed.is_set():
            raise _Disconnected


class FakeOpenAIServer:
    """A scripted Chat Completions server on 127.0.0.1 (see the module docstring).

    ``responder`` answers requests when the queue of scripted responses is empty; without one,
    such a request gets a 400 saying the script ran out. ``validate`` turns the real API's
    request checks on (default). ``split_delay`` is the pause between split writes (seconds),
    so that the client really receives them separately.
    """

    def __init__(
        self,
        *,
        responder: Responder | None = None,
        validate: bool = True,
        split_delay: float = 0.001,
        port: int = 0,
    ) -> None:
        self.responder = responder
        self.validate = validate
        self.split_delay = split_delay
        self.requests: list[RecordedRequest] = []
        self._script: deque[Response] = deque()
        self._port = port
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._connections: set[_Connection] = set()
        self._request_seen = asyncio.Event()
        self._ids = itertools.count(1)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 (an ephemeral port unless one was given)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self._port)
        self._port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is None:
            return
        self._server.close()
        # Aborting the sockets lets each handler end on its own (a read returns EOF);
        # cancelling them instead would make asyncio log the cancellation.
        for connection in list(self._connections):
            connection.writer.transport.abort()
        handlers = list(self._handlers)
        if handlers:
            _done, stuck = await asyncio.wait(handlers, timeout=1.0)
            for task in stuck:
                task.cancel()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> FakeOpenAIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give the client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self._port}/v1"

    # -- script ------------------------------------------------------------------------------

    def enqueue(self, *responses: Response) -> None:
        """Answer the next requests with these responses, in order."""
        self._script.extend(responses)

    @property
    def pending(self) -> int:
        """Scripted responses not used yet."""
        return len(self._script)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """Requests to ``/chat/completions`` that passed validation."""
        return [r for r in self.requests if r.path.endswith("/chat/completions") and r.status]

    async def wait_for_requests(self, count: int, timeout_secs: float = 5.0) -> None:
        """Wait until at least ``count`` requests were received (``TimeoutError`` otherwise)."""
        async with asyncio.timeout(timeout_secs):
            while len(self.requests) < count:
                self._request_seen.clear()
                await self._request_seen.wait()

    # -- serving -----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        connection = _Connection(reader, writer)
        self._connections.add(connection)
        try:
            while True:
                parsed = await connection.read_request()
                if parsed is None:
                    break
                if not await self._handle(connection, *parsed):
                    break
        except (ConnectionError, _Disconnected, ValueError):
            pass
        finally:
            self._handlers.discard(task)
            self._connections.discard(connection)
            await connection.unwatch()
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _handle(
        self, connection: _Connection, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> bool:
        """Answer one request; False when the connection must close after it."""
        request = RecordedRequest(method, path.split("?", 1)[0], headers, raw)
        self.requests.append(request)
        self._request_seen.set()
        try:
            request.body = json.loads(raw) if raw else None
        except ValueError:
            request.body = None
        response = self._choose(request)
        if isinstance(response, ErrorResponse):
            return await self._write_error(connection, request, response)
        return await self._write_stream(connection, request, response)

    def _choose(self, request: RecordedRequest) -> Response:
        if request.method != "POST" or not request.path.endswith("/chat/completions"):
            return error_response(404, message=f"Unknown request URL: {request.path}.")
        if self.validate:
            problem = check_chat_request(request.body)
            if problem is not None:
                return error_response(400, message=problem)
        if self._script:
            return self._script.popleft()
        if self.responder is not None:
            return self.responder(request)
        return error_response(
            400, message=f"fake server: no scripted response left for request {len(self.requests)}"
        )

    async def _write_error(
        self, connection: _Connection, request: RecordedRequest, response: ErrorResponse
    ) -> bool:
        if response.headers_delay:
            await connection.pause(response.headers_delay)
        if isinstance(response.body, dict):
            body = json.dumps(response.body).encode()
        else:
            body = response.body or b""
        head = [
            f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Error')}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(body)}",
            f"x-request-id: req_{next(self._ids)}",
        ]
        head += [f"{k}: {v}" for k, v in response.headers.items()]
        request.status = response.status
        await connection.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        request.completed = True
        return True

    async def _write_stream(
        self, connection: _Connection, request: RecordedRequest, response: StreamResponse
    ) -> bool:
        body = request.body if isinstance(request.body, dict) else {}
        if body.get("stream") is not True:
            return await self._write_error(
                connection, request, ErrorResponse(200, _completion_object(response))
            )
        connection.watch()
        try:
            if response.headers_delay:
                await connection.pause(response.headers_delay)
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                f"Transfer-Encoding: chunked\r\nx-request-id: req_{next(self._ids)}\r\n\r\n"
            )
            request.status = 200
            await connection.write(head.encode("latin-1"))
            keep_alive = await self._write_events(connection, request, response, body)
        except _Disconnected:
            request.disconnected = not request.completed
            return False
        finally:
            await connection.unwatch()
        return keep_alive

    async def _write_events(
        self,
        connection: _Connection,
        request: RecordedRequest,
        response: StreamResponse,
        body: JSONObject,
    ) -> bool:
        pending = bytearray()

        async def flush() -> None:
            data = bytes(pending)
            pending.clear()
            if not data:
                return
            step = response.write_size or len(data)
            for start in range(0, len(data), step):
                piece = data[start : start + step]
                await connection.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                if response.write_size and self.split_delay:
                    await connection.pause(self.split_delay)

        for item in _events(response, body):
            if isinstance(item, Pause):
                await flush()
                await connection.pause(item.seconds)
            elif isinstance(item, Disconnect):
                await flush()
                connection.writer.transport.abort()
                return False
            else:
                pending += item
                if not response.coalesce:
                    await flush()
        await flush()
        # The client may hang up right after [DONE] without reading the end of the chunked
        # body (the SDK stops at [DONE]); that is a complete response, not a barge-in.
        request.completed = True
        try:
            await connection.write(b"0\r\n\r\n")
        except _Disconnected:
            return False
        return True


def _completion_object(response: StreamResponse) -> JSONObject:
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


def _events(response: StreamResponse, body: JSONObject) -> Iterator[bytes | Pause | Disconnect]:
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
