"""The connection interface the WebSocket transport runs over.

:class:`WebSocketConnection` is the whole of what :class:`~vani.transports.websocket.
WebSocketTransport` needs from a socket: receive one message, send one message, close with a code,
and the facts of the request that opened it (path, query, headers, peer address). Adapters wrap a
``websockets`` server connection (:class:`~vani.transports.websocket.WebsocketsConnection`) and a
Starlette/FastAPI ``WebSocket`` (:class:`~vani.transports.websocket.StarletteConnection`); any
other stack needs only a small subclass. See ``docs/websocket.md``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from vani.errors import VaniError

__all__ = [
    "CLOSE_GOING_AWAY",
    "ConnectionClosedError",
    "WebSocketConnection",
    "split_request_target",
]

# Close codes the transport uses (RFC 6455, section 7.4.1).
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008
CLOSE_MESSAGE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013


def split_request_target(target: str) -> tuple[str, str]:
    """The path and the query of an HTTP request target (``/ws?token=...`` → ``("/ws",
    "token=...")``); an absolute target (``ws://host/ws?...``) gives its path and query too.

    Not :func:`urllib.parse.urlsplit`: that keeps its last 128 results in a process-wide cache,
    and a call's target carries its one-use token: the cache kept the last 128 calls' tokens
    alive after those calls had ended (``docs/deployment.md``, "Reliability, measured").
    """
    if not target.startswith("/") and "://" in target:
        rest = target.split("://", 1)[1]
        ends = [i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0]
        target = rest[min(ends) :] if ends else ""
    path, _, query = target.partition("#")[0].partition("?")
    return path, query


class ConnectionClosedError(VaniError):
    """The WebSocket is closed: raised by :meth:`WebSocketConnection.recv` and ``send``.

    ``code`` and ``reason`` are the close frame's when one was received (``None`` when the peer
    vanished without a close handshake).
    """

    def __init__(self, code: int | None = None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        detail = "without a close frame" if code is None else f"with code {code}"
        super().__init__(f"the websocket closed {detail}" + (f": {reason}" if reason else ""))


class WebSocketConnection(ABC):
    """One accepted (or about to be accepted) WebSocket.

    Methods are called from the event loop that owns the socket; :meth:`recv` is called from one
    task only, :meth:`send` from one task only (the transport's writer), :meth:`send_nowait`
    only while no :meth:`send` is running, :meth:`close` from any.
    """

    @abstractmethod
    async def accept(self) -> None:
        """Complete the opening handshake if the stack has not already; idempotent."""

    @abstractmethod
    async def recv(self) -> bytes | str:
        """The next message (binary as ``bytes``, text as ``str``).

        Raises :class:`ConnectionClosedError` once the socket is closed, for whatever reason.
        """

    @abstractmethod
    async def send(self, message: bytes | str) -> None:
        """Send one message. Raises :class:`ConnectionClosedError` if the socket is closed."""

    def send_nowait(self, message: bytes | str) -> bool:
        """Hand one message to the socket now, without suspending, where the stack can do so
        safely (the socket open, no other message half-sent, its write buffer below its
        high-water mark); False leaves the message unsent, for :meth:`send`.

        Optional: the default returns False. The transport's writer calls it when it has
        nothing queued, so a message does not wait for the writer's task to be scheduled.
        """
        return False

    @abstractmethod
    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Start (and wait for) the close handshake; idempotent, never raises for a closed socket.

        The transport bounds the wait itself and then calls :meth:`abort`.
        """

    def abort(self) -> None:  # noqa: B027 - optional hook
        """Drop the TCP connection at once (after a close handshake that took too long)."""

    @property
    @abstractmethod
    def path(self) -> str:
        """The request path (``/ws``), without the query string."""

    @property
    @abstractmethod
    def query_params(self) -> Mapping[str, str]:
        """The request's query parameters (the last value of a repeated name)."""

    @property
    @abstractmethod
    def headers(self) -> Mapping[str, str]:
        """The request headers; names are case-insensitive."""

    @property
    @abstractmethod
    def remote_address(self) -> tuple[str, int] | None:
        """The peer's ``(host, port)``, when known."""

    def __repr__(self) -> str:
        peer = self.remote_address
        where = f"{peer[0]}:{peer[1]}" if peer else "?"
        return f"<{type(self).__name__} {self.path} from {where}>"
