"""Adapter for a Starlette (or FastAPI) ``WebSocket``, so a vani call runs inside an existing app.

The ASGI server (uvicorn) owns the socket-level limits; :func:`uvicorn_ws_kwargs` turns
:class:`~vani.transports.websocket.WebSocketParams` into ``uvicorn.Config`` keyword arguments so
both agree. See ``docs/websocket.md`` and ``examples/fastapi_app.py``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from vani.transports.websocket.connection import (
    CLOSE_NORMAL,
    ConnectionClosedError,
    WebSocketConnection,
)

if TYPE_CHECKING:
    from vani.transports.websocket.transport import WebSocketParams

__all__ = ["StarletteConnection", "uvicorn_ws_kwargs"]


class StarletteConnection(WebSocketConnection):
    """A Starlette ``WebSocket`` (FastAPI's is the same class). :meth:`accept` accepts it if
    the route has not already."""

    def __init__(self, websocket: WebSocket, *, subprotocol: str | None = None) -> None:
        self._ws = websocket
        self._subprotocol = subprotocol
        self._closed: ConnectionClosedError | None = None

    @property
    def websocket(self) -> WebSocket:
        """The wrapped Starlette ``WebSocket``."""
        return self._ws

    async def accept(self) -> None:
        if self._ws.application_state is WebSocketState.CONNECTING:
            await self._ws.accept(subprotocol=self._subprotocol)

    async def recv(self) -> bytes | str:
        if self._closed is not None:
            raise self._closed
        try:
            message = await self._ws.receive()
        except WebSocketDisconnect as exc:
            raise self._mark(exc.code, exc.reason or "") from None
        except RuntimeError as exc:  # receive after a disconnect, or before accept
            raise self._mark(None, str(exc)) from None
        kind = message["type"]
        if kind == "websocket.disconnect":
            code = int(message.get("code", 1005))
            # 1006 is never sent on the wire: it means the TCP connection just dropped.
            raise self._mark(None if code == 1006 else code, str(message.get("reason") or ""))
        data = message.get("bytes")
        if data is not None:
            return bytes(data)
        text = message.get("text")
        if text is not None:
            return str(text)
        raise self._mark(None, f"unexpected asgi message {kind!r}")

    def _mark(self, code: int | None, reason: str) -> ConnectionClosedError:
        if self._closed is None:
            self._closed = ConnectionClosedError(code, reason)
        return self._closed

    async def send(self, message: bytes | str) -> None:
        if self._closed is not None:
            raise self._closed
        try:
            if isinstance(message, bytes):
                await self._ws.send_bytes(message)
            else:
                await self._ws.send_text(message)
        except WebSocketDisconnect as exc:
            raise self._mark(exc.code, exc.reason or "") from None
        except (RuntimeError, OSError) as exc:
            raise self._mark(None, str(exc)) from None

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        if self._ws.application_state is not WebSocketState.CONNECTED:
            return
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):  # already gone
            await self._ws.close(code, reason)

    @property
    def path(self) -> str:
        return self._ws.url.path

    @property
    def query_params(self) -> Mapping[str, str]:
        return dict(self._ws.query_params)

    @property
    def headers(self) -> Mapping[str, str]:
        return self._ws.headers

    @property
    def remote_address(self) -> tuple[str, int] | None:
        client = self._ws.client
        return None if client is None else (client.host, client.port)


def uvicorn_ws_kwargs(params: WebSocketParams) -> dict[str, float | int | None]:
    """Keyword arguments for ``uvicorn.Config`` (or ``uvicorn.run``) matching ``params``: the
    message size limit and the ping interval and timeout."""
    return {
        "ws_max_size": params.max_message_size,
        "ws_ping_interval": params.ping_interval_secs,
        "ws_ping_timeout": params.ping_timeout_secs,
    }
