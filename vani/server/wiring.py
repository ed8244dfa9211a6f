"""Building a call's transport: the serializer the client asked for, over its socket."""

from __future__ import annotations

from collections.abc import Mapping

from vani.errors import ConfigurationError
from vani.serializers import FrameSerializer, ProtobufFrameSerializer, RawPCMSerializer
from vani.server.config import ServerConfig
from vani.server.session import WireFormat
from vani.transports.websocket import WebSocketConnection, WebSocketParams, WebSocketTransport

__all__ = ["make_serializer", "make_transport", "transport_params"]


def make_serializer(
    query: Mapping[str, str], config: ServerConfig
) -> tuple[WireFormat, FrameSerializer]:
    """The serializer the socket URL asks for: ``?format=raw`` (with ``sample_rate`` and
    ``num_channels``/``channels``) for raw PCM + RTVI JSON text, else Pipecat's protobuf.

    Raises :class:`~vani.errors.ConfigurationError` naming a bad value.
    """
    fmt = query.get("format", "protobuf").lower()
    if fmt == "protobuf":
        return "protobuf", ProtobufFrameSerializer(max_message_bytes=config.max_message_bytes)
    if fmt == "raw":
        return "raw", RawPCMSerializer.from_query(query, max_message_bytes=config.max_message_bytes)
    raise ConfigurationError(f"format must be 'protobuf' or 'raw', got {fmt!r}")


def transport_params(config: ServerConfig) -> WebSocketParams:
    return WebSocketParams(
        max_message_size=config.max_message_bytes,
        ping_interval_secs=config.ping_interval_secs,
        ping_timeout_secs=config.ping_timeout_secs,
    )


def make_transport(
    connection: WebSocketConnection, serializer: FrameSerializer, config: ServerConfig
) -> WebSocketTransport:
    return WebSocketTransport(connection, serializer, transport_params(config))
