"""A fake OpenAI Chat Completions server on 127.0.0.1, for tests and benchmarks.

It speaks real HTTP/1.1 (keep-alive, chunked transfer encoding) and Server-Sent Events over
asyncio streams, so the official ``openai`` SDK (or any other client) talks to it exactly as it
talks to the real service. Every response is scripted: tests queue :class:`StreamResponse` and
:class:`ErrorResponse` objects (or give a ``responder`` function), which can produce every case
of ``docs/services.md`` — status errors with ``retry-after``, pauses, keepalive comments, CRLF
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

The script types live in :mod:`vani.testing.openai_script` and the request checks in
:mod:`vani.testing.openai_rules`; both are re-exported here.

Not thread-safe: use it from the event loop that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from vani.frames import JSONObject, JSONValue
from vani.testing.openai_rules import check_chat_request, check_messages
from vani.testing.openai_script import (
    Chunk,
    Disconnect,
    Done,
    ErrorEvent,
    ErrorResponse,
    Finish,
    Pause,
    Raw,
    Response,
    StreamPart,
    StreamResponse,
    Text,
    ToolCallFragment,
    Usage,
    completion_object,
    error_response,
    stream_events,
    text_response,
    tool_call,
)

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
                try:
                    data = await self.reader.read(65536)
                except ConnectionError:
                    data = b""
                if not data:
                    self.closed.set()
                    return
                self.buffer += data  # a pipelined request: keep it for read_request

        self._watcher = asyncio.get_running_loop().create_task(watch())

    async def unwatch(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
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
                connection, request, ErrorResponse(200, completion_object(response))
            )
        connection.watch()
        try:
            if response.headers_delay:
                await connection.pause(response.headers_delay)
            request.status = 200
            await connection.write(self._stream_head())
            keep_alive = await self._write_events(connection, request, response, body)
        except _Disconnected:
            request.disconnected = not request.completed
            return False
        finally:
            await connection.unwatch()
        return keep_alive

    def _stream_head(self) -> bytes:
        """The status line and headers of a streamed (chunked, server-sent events) answer."""
        return (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            f"Transfer-Encoding: chunked\r\nx-request-id: req_{next(self._ids)}\r\n\r\n"
        ).encode("latin-1")

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

        for item in stream_events(response, body):
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
