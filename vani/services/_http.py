"""A keep-alive HTTP/1.1 client for the streamed POSTs of LLM services (``docs/services.md``).

Why not httpx: a Chat Completions request sent through the ``openai`` SDK's client spends about
1 ms of CPU before its first streamed chunk reaches the service, on every turn of every call,
most of vani's own time between a transcript and the first audio; with this client the first
chunk is in after ~0.15 ms of CPU (measured against the local fake). It does only what a
streamed POST to a known server needs: one exchange at a time per connection, idle connections
kept for the next turn, TLS through :mod:`ssl`, and responses parsed by ``httptools`` (llhttp,
the parser of Node.js and of uvicorn), never by hand. Proxies are not spoken here: a service
whose server is behind one uses the SDK's client instead.
"""

from __future__ import annotations

import asyncio
import codecs
import ssl
import time
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import httptools

from vani.processors.timeouts import wait_bounded

__all__ = [
    "ConnectError",
    "Exchange",
    "HTTPClient",
    "HTTPError",
    "Origin",
    "ReadError",
    "Response",
]

# Unread body kept before the socket stops being read (a consumer that lags behind a fast
# server must not grow memory without bound), and where reading resumes.
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024


class HTTPError(Exception):
    """The exchange failed beneath HTTP: no connection, a reset, a cut or malformed answer, or
    no answer in time."""


class ConnectError(HTTPError):
    """No connection could be made (refused, unresolvable, TLS handshake failed, too slow)."""


class ReadError(HTTPError):
    """The connection broke, or the answer was malformed or late, after the request went out."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where requests go: ``scheme`` is ``"http"`` or ``"https"``."""

    scheme: str
    host: str
    port: int

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


class _Connection(asyncio.Protocol):
    """One socket and its parser; the state of the one response it is reading."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.idle_since = 0.0
        self.lost = False
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self._begin()

    def _begin(self) -> None:
        self.received = False  # any byte of this response yet
        self.status = 0
        self.headers: dict[str, str] = {}
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.head_done = False
        self.complete = False
        self.until_close = False
        self.keep_alive = False
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.error: HTTPError | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.error = ReadError(f"the server sent a malformed HTTP response: {exc}")
            self.close()
        else:
            if self.buffered > _HIGH_WATER and not self.paused and self.transport is not None:
                self.transport.pause_reading()
                self.paused = True
        self.wake()

    def eof_received(self) -> bool:
        return False  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.complete and self.error is None:
            if self.head_done and self.until_close:
                self.complete = True  # a body delimited by the end of the connection
            else:
                reason = f": {exc}" if exc is not None else ""
                self.error = ReadError(f"the server closed the connection{reason}")
        self.wake()

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        headers: dict[str, str] = {}
        for raw_name, raw_value in self.raw_headers:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers
        self.status = self.parser.get_status_code()
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self.until_close = not chunked and "content-length" not in headers
        # Read now: llhttp forgets it once the message is complete.
        self.keep_alive = self.parser.should_keep_alive() and not self.until_close
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # used by the client and the response

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, secs: float) -> None:
        """Until more arrives, the response ends or breaks, or ``secs`` seconds pass."""
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        # A bare timer on the future: cheaper than asyncio.timeout for a wait made per chunk.
        timer = loop.call_later(secs, _expire, waiter, secs)
        try:
            await waiter
        finally:
            timer.cancel()
            self.waiter = None

    def take(self) -> bytes:
        data = self.chunks.popleft()
        self.buffered -= len(data)
        if self.paused and self.buffered < _LOW_WATER and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    @property
    def reusable(self) -> bool:
        return (
            self.complete
            and not self.lost
            and self.error is None
            and self.transport is not None
            and not self.transport.is_closing()
            and self.keep_alive
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None], secs: float) -> None:
    if not waiter.done():
        waiter.set_exception(ReadError(f"no answer from the server within {secs:g} s"))


class Response:
    """A response whose head has arrived; its body streams. Close it (``aclose``) when done:
    a body read to its end gives the connection back for the next request, anything else
    closes it (the server sees the request abandoned)."""

    def __init__(self, client: HTTPClient, connection: _Connection, timeout_secs: float) -> None:
        self._client = client
        self._connection: _Connection | None = connection
        self._timeout = timeout_secs
        self.status = connection.status
        self.headers = connection.headers  # names in lower case; repeats joined by ", "

    async def aiter_bytes(self) -> AsyncGenerator[bytes, None]:
        """The body as it arrives; raises :class:`HTTPError` where it breaks off."""
        connection = self._connection
        if connection is None:
            raise HTTPError("the response is closed")
        while True:
            if connection.chunks:
                yield connection.take()
            elif connection.complete:
                return
            elif connection.error is not None:
                raise connection.error
            else:
                await connection.wait(self._timeout)

    async def aiter_lines(self) -> AsyncGenerator[str, None]:
        """The body as text lines (UTF-8), split at ``\\n``, ``\\r\\n`` or ``\\r`` only, as
        server-sent events are: a JSON string may hold other line separators."""
        async for batch in self.aiter_line_batches():
            for line in batch:
                yield line

    async def aiter_line_batches(self) -> AsyncGenerator[list[str], None]:
        """The body's lines (as :meth:`aiter_lines` splits them) in batches: each batch holds
        every whole line that had arrived when it was taken, so a reader can treat a burst as
        one (a stream's tokens read together). Never empty."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pending = ""
        batch: list[str] = []
        async for data in self.aiter_bytes():
            text = pending + decoder.decode(data)
            # A "\r" at the end may be half of a "\r\n" split across two chunks.
            held = text.endswith("\r")
            if held:
                text = text[:-1]
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            lines = text.split("\n")
            pending = lines.pop() + ("\r" if held else "")
            batch += lines
            connection = self._connection
            if batch and not (connection is not None and connection.chunks):
                yield batch
                batch = []
        text = pending + decoder.decode(b"", final=True)
        if text:
            batch.append(text.rstrip("\r"))
        if batch:
            yield batch

    async def aread(self, limit: int = 1 << 20) -> bytes:
        """The whole body, at most ``limit`` bytes of it (an error body, for its message)."""
        parts: list[bytes] = []
        size = 0
        async for data in self.aiter_bytes():
            parts.append(data)
            size += len(data)
            if size >= limit:
                break
        return b"".join(parts)[:limit]

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client._release(connection)


class Exchange:
    """A request on its way (see :meth:`HTTPClient.start`)."""

    def __init__(
        self, client: HTTPClient, origin: Origin, request: bytes, connection: _Connection | None
    ) -> None:
        self._client = client
        self._origin = origin
        self._request = request
        self._connection = connection
        self._used = False

    @property
    def sent(self) -> bool:
        """The request was written on a kept connection when the exchange was made."""
        return self._connection is not None

    async def response(self, timeout_secs: float) -> Response:
        """The response, once its head is in (see :meth:`HTTPClient.post`)."""
        if self._used:
            raise RuntimeError("an exchange gives one response")
        self._used = True
        client, connection = self._client, self._connection
        self._connection = None
        if connection is not None:
            try:
                return await client._head(connection, timeout_secs)
            except ReadError:
                if connection.received or not connection.lost:
                    raise
                # The server closed this idle connection as the request went out (before any
                # answer): the request never reached it, so it goes again on a new one.
        connection = await client._connect(self._origin, timeout_secs)
        if not client._write(connection, self._request):
            raise ReadError("the server closed the new connection at once")
        return await client._head(connection, timeout_secs)

    def abandon(self) -> None:
        """Never to be awaited: a request already written is given up (its connection closed,
        so the server stops working on it)."""
        self._used = True
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client._discard(connection)


class HTTPClient:
    """Connections to one or more origins, an idle one kept ``keepalive_secs`` for reuse.

    ``ssl_context`` is called for the first ``https`` connection. Not safe to share between
    event loops; one per service instance, closed with :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        keepalive_secs: float,
        ssl_context: Callable[[], ssl.SSLContext],
        max_idle: int = 4,
    ) -> None:
        self._keepalive = keepalive_secs
        self._ssl_factory = ssl_context
        self._ssl: ssl.SSLContext | None = None
        self._max_idle = max_idle
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self.connections_made = 0

    async def post(
        self, origin: Origin, target: str, head: bytes, body: bytes, timeout_secs: float
    ) -> Response:
        """Sends ``POST target`` with ``head`` (the header lines after Host, each ending in
        CRLF, Content-Length excluded) and ``body``; returns once the response's head is in.
        ``timeout_secs`` bounds the connect, the wait for the head and each wait for the body."""
        return await self.start(origin, target, head, body).response(timeout_secs)

    def start(self, origin: Origin, target: str, head: bytes, body: bytes) -> Exchange:
        """:meth:`post` in two steps: the request is written now if an idle connection is
        kept (so the server works while the caller does something else), else when
        :meth:`Exchange.response` has made one. An exchange never awaited must be abandoned."""
        request = b"".join(
            (
                f"POST {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n".encode("latin-1"),
                head,
                b"Content-Length: %d\r\n\r\n" % len(body),
                body,
            )
        )
        connection = self._take_idle(origin)
        if connection is not None and not self._write(connection, request):
            connection = None
        return Exchange(self, origin, request, connection)

    async def aclose(self) -> None:
        """Closes every connection, idle or not."""
        self._idle.clear()
        for connection in list(self._open):
            connection.close()
        self._open.clear()

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.reusable and now - connection.idle_since <= self._keepalive:
                return connection
            self._discard(connection)
        return None

    async def _connect(self, origin: Origin, secs: float) -> _Connection:
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = self._ssl_factory()
            context = self._ssl
        made: list[_Connection] = []

        async def connect() -> None:
            _, protocol = await loop.create_connection(
                lambda: _Connection(origin),
                origin.host,
                origin.port,
                ssl=context,
                server_hostname=origin.host if context is not None else None,
            )
            made.append(protocol)

        try:
            # wait_bounded, not asyncio.timeout: service code may run in the pusher's task
            # (docs/concepts.md), and a timeout there would cancel that task, not this wait.
            in_time = await wait_bounded(connect(), secs)
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"could not connect to {origin.host_header}: {exc}") from exc
        if not in_time:
            raise ConnectError(f"no connection to {origin.host_header} within {secs:g} s")
        protocol = made[0]
        self.connections_made += 1
        self._open.add(protocol)
        return protocol

    def _write(self, connection: _Connection, request: bytes) -> bool:
        """Writes ``request`` on ``connection``; False (and the connection dropped) when it
        turned out closed."""
        connection._begin()
        transport = connection.transport
        if transport is None or transport.is_closing():
            connection.lost = True
            self._discard(connection)
            return False
        transport.write(request)
        return True

    async def _head(self, connection: _Connection, secs: float) -> Response:
        try:
            while not connection.head_done:
                if connection.error is not None:
                    raise connection.error
                await connection.wait(secs)
        except BaseException:
            self._discard(connection)  # cancelled, broken or late: the connection is done
            raise
        return Response(self, connection, secs)

    def _release(self, connection: _Connection) -> None:
        if not connection.reusable:
            self._discard(connection)
            return
        idle = self._idle.setdefault(connection.origin, [])
        if len(idle) >= self._max_idle:
            self._discard(connection)
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)
