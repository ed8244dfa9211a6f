"""Adapter for a connection of the ``websockets`` asyncio server (``websockets.asyncio.server``).

The server's limits (message size, pings, close timeout, write buffer) are set where the server
is created; :func:`websockets_serve_kwargs` turns :class:`~vani.transports.websocket.
WebSocketParams` into ``serve()`` keyword arguments so both agree. See ``docs/websocket.md``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from vani.transports.websocket.connection import (
    CLOSE_NORMAL,
    ConnectionClosedError,
    WebSocketConnection,
    split_request_target,
)

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from vani.transports.websocket.transport import WebSocketParams

__all__ = ["WebsocketsConnection", "websockets_serve_kwargs"]


def _closed(exc: ConnectionClosed) -> ConnectionClosedError:
    # The peer's close frame if it sent one, else ours (a limit the library enforced: 1009).
    close = exc.rcvd or exc.sent
    if close is None:
        return ConnectionClosedError(None, "")
    return ConnectionClosedError(close.code, close.reason)


class _Headers(Mapping[str, str]):
    """Case-insensitive read-only view of the request headers."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._d: dict[str, str] = {}
        for k, v in items:
            self._d[k.lower()] = v

    def __getitem__(self, key: str) -> str:
        return self._d[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._d


class WebsocketsConnection(WebSocketConnection):
    """A ``websockets.asyncio.server.ServerConnection`` (already accepted by the server)."""

    def __init__(self, connection: ServerConnection) -> None:
        self._ws = connection
        request = connection.request
        target = request.path if request is not None else "/"
        path, query = split_request_target(target)
        self._path = path or "/"
        self._query = dict(parse_qsl(query, keep_blank_values=True))
        raw = list(request.headers.raw_items()) if request is not None else []
        self._headers = _Headers(raw)

    @property
    def websocket(self) -> ServerConnection:
        """The wrapped ``websockets`` connection."""
        return self._ws

    async def accept(self) -> None:
        return None  # the websockets server accepts before calling the handler

    async def recv(self) -> bytes | str:
        try:
            return await self._ws.recv()
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    async def send(self, message: bytes | str) -> None:
        try:
            await self._ws.send(message)
        except ConnectionClosed as exc:
            raise _closed(exc) from None

    def send_nowait(self, message: bytes | str) -> bool:
        # What the library's own send does before its first possible suspension, done only
        # when that send would not suspend: the socket open, no fragmented message in
        # progress, the transport's buffer not over its limit. A version of the library
        # without these attributes gets the writer's path (False).
        ws = self._ws
        if (
            ws.protocol.state is not State.OPEN
            or getattr(ws, "send_in_progress", True) is not None
            or getattr(ws, "paused", True)
            or ws.transport.is_closing()
        ):
            return False
        send_data = getattr(ws, "send_data", None)
        if send_data is None:
            return False
        if isinstance(message, str):
            ws.protocol.send_text(message.encode())
        else:
            ws.protocol.send_binary(message)
        send_data()
        return True

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        await self._ws.close(code, reason)

    def abort(self) -> None:
        self._ws.transport.abort()

    @property
    def path(self) -> str:
        return self._path

    @property
    def query_params(self) -> Mapping[str, str]:
        return self._query

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def remote_address(self) -> tuple[str, int] | None:
        peer = self._ws.remote_address
        if isinstance(peer, tuple) and len(peer) >= 2:
            return str(peer[0]), int(peer[1])
        return None


def websockets_serve_kwargs(params: WebSocketParams) -> dict[str, float | int | None]:
    """Keyword arguments for ``websockets.asyncio.server.serve`` matching ``params``: message
    size limit, ping interval and timeout, close timeout, and the write buffer's high-water mark
    (so a client that stops reading is seen by the transport's send timeout)."""
    return {
        "max_size": params.max_message_size,
        "ping_interval": params.ping_interval_secs,
        "ping_timeout": params.ping_timeout_secs,
        "close_timeout": params.close_timeout_secs,
        "write_limit": params.write_buffer_bytes,
    }
