"""Live calls over WebSocket: :class:`WebSocketTransport` over a small connection interface.

Adapters: :class:`StarletteConnection` (Starlette/FastAPI ``WebSocket``) and
:class:`WebsocketsConnection` (the ``websockets`` asyncio server); each is imported on first use,
so using one never imports the other library. See ``docs/websocket.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vani.transports.websocket.connection import ConnectionClosedError, WebSocketConnection
from vani.transports.websocket.transport import WebSocketParams, WebSocketTransport

if TYPE_CHECKING:
    from vani.transports.websocket.starlette_adapter import (
        StarletteConnection,
        uvicorn_ws_kwargs,
    )
    from vani.transports.websocket.websockets_adapter import (
        WebsocketsConnection,
        websockets_serve_kwargs,
    )

__all__ = [
    "ConnectionClosedError",
    "StarletteConnection",
    "WebSocketConnection",
    "WebSocketParams",
    "WebSocketTransport",
    "WebsocketsConnection",
    "uvicorn_ws_kwargs",
    "websockets_serve_kwargs",
]

_LAZY = {
    "StarletteConnection": "starlette_adapter",
    "uvicorn_ws_kwargs": "starlette_adapter",
    "WebsocketsConnection": "websockets_adapter",
    "websockets_serve_kwargs": "websockets_adapter",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
