"""One port, two stacks: uvicorn answers HTTP, ``websockets`` carries the calls.

uvicorn parses each HTTP request with h11 and, when it is a WebSocket upgrade, hands the TCP
connection to its ``ws`` protocol class. :class:`WebSocketBridge` is that class for vani: it
builds a ``websockets`` server connection for the socket, so a call's messages go through the
``websockets`` library directly, without an ASGI message per frame. ``benchmarks/README.md``
has the figures that chose this (CPU per message and memory per call, against uvicorn's own
WebSocket protocols); ``docs/server.md`` describes it.

The bridge reproduces the few steps of ``websockets.asyncio.server.serve``'s connection
handler: the opening handshake under a timeout (``process_request`` may refuse with an HTTP
response), keepalive pings, the handler, the closing handshake, and an abort if anything
fails, so no TCP connection outlives its task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol

__all__ = ["ProcessRequest", "WebSocketBridge", "WebSocketLimits"]

logger = logging.getLogger("vani.server")

ProcessRequest = Callable[[ServerConnection, Request], Awaitable[Response | None]]
Handler = Callable[[ServerConnection], Awaitable[None]]


class WebSocketLimits(Protocol):
    max_message_bytes: int
    ping_interval_secs: float | None
    ping_timeout_secs: float | None
    open_timeout_secs: float


async def _never() -> asyncio.Server:  # the bridge's Server object never listens itself
    raise RuntimeError("the WebSocket bridge does not listen; uvicorn does")


class _BridgeServer(Server):
    """websockets' server object, without a listening socket of its own: uvicorn listens."""

    serving = True

    def is_serving(self) -> bool:
        return self.serving


class WebSocketBridge:
    """Makes ``websockets`` connections for sockets that uvicorn upgrades.

    ``process_request`` runs on the upgrade request (return a response to refuse it, ``None``
    to accept); ``handler`` then owns the open connection. :meth:`protocol_factory` is what
    goes into ``uvicorn.Config(ws=...)``. :attr:`tasks` holds every connection's task, so a
    server can cancel them at shutdown.
    """

    def __init__(
        self,
        limits: WebSocketLimits,
        process_request: ProcessRequest,
        handler: Handler,
        *,
        close_timeout_secs: float = 0.5,
        write_limit_bytes: int = 1 << 16,
    ) -> None:
        self._limits = limits
        self._process_request = process_request
        self._handler = handler
        self._close_timeout = close_timeout_secs
        self._write_limit = write_limit_bytes
        self._server: _BridgeServer | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.connections: set[ServerConnection] = set()

    def _ws_server(self) -> _BridgeServer:
        if self._server is None:
            self._server = _BridgeServer(_never, self._run, logger)
        return self._server

    def protocol_factory(self, **_uvicorn: object) -> ServerConnection:
        """Called by uvicorn (with its config and state, unused) for each upgraded socket."""
        limits = self._limits
        protocol = ServerProtocol(max_size=limits.max_message_bytes, logger=logger)
        return ServerConnection(
            protocol,
            self._ws_server(),
            ping_interval=limits.ping_interval_secs,
            ping_timeout=limits.ping_timeout_secs,
            close_timeout=self._close_timeout,
            max_queue=16,
            write_limit=self._write_limit,
        )

    def stop_accepting(self) -> None:
        """Answer new upgrades with 503 from now on (shutdown)."""
        self._ws_server().serving = False

    async def _run(self, connection: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        server = self._ws_server()
        self.tasks.add(task)
        try:
            async with asyncio.timeout(self._limits.open_timeout_secs):
                await connection.handshake(self._process_request, None, None)
            if connection.protocol.state is not State.OPEN:
                connection.transport.abort()
                return
            self.connections.add(connection)
            connection.start_keepalive()
            try:
                async with connection:
                    await self._handler(connection)
            except ConnectionClosed:
                pass  # the peer went away mid-send: the handler's business, not an error
            except Exception:
                logger.exception("websocket handler failed")
            finally:
                self.connections.discard(connection)
        except Exception as exc:
            # A handshake that timed out or failed: never leak the TCP connection.
            logger.debug("websocket opening handshake failed: %r", exc)
            connection.transport.abort()
        finally:
            server.handler_tasks.discard(task)
            self.tasks.discard(task)
