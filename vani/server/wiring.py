"""Building a call's transport: the serializer the client asked for over its socket."""

from __future__ import annotations

from websockets.asyncio.server import ServerConnection

from vani.server.config import ServerConfig
from vani.server.session import CallInfo
from vani.transports.base import Transport

__all__ = ["make_transport"]


def make_transport(connection: ServerConnection, call: CallInfo, config: ServerConfig) -> Transport:
    raise NotImplementedError("the WebSocket transport arrives with the ws branch")
