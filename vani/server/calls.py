"""One call on ``/ws``: admission, the serializer the client asked for, the transport, the bot.

See ``docs/server.md``. Nothing here is built before the call is admitted: a refused socket
costs a handshake and a close frame.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from vani.errors import ConfigurationError
from vani.server.app import CallRefused, CallRequest, VaniServer
from vani.server.session import CallInfo, Session, WireFormat

__all__ = ["CLOSE_BAD_REQUEST", "handle_bot_socket", "wire_format"]

logger = logging.getLogger("vani.server")

CLOSE_BAD_REQUEST = 1008  # policy violation: the URL asks for something this server refuses
_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})


def wire_format(query: Mapping[str, str]) -> tuple[WireFormat, int | None, int]:
    """``(format, input_sample_rate, input_channels)`` from the socket URL's query:
    ``?format=raw&sample_rate=16000&channels=1`` for raw PCM + JSON text, nothing (or
    ``format=protobuf``) for Pipecat's protobuf framing.

    Raises :class:`~vani.errors.ConfigurationError` naming the bad value.
    """
    fmt = query.get("format", "protobuf").lower()
    if fmt not in ("protobuf", "raw"):
        raise ConfigurationError(f"format must be 'protobuf' or 'raw', got {fmt!r}")
    rate: int | None = None
    channels = 1
    if "sample_rate" in query:
        text = query["sample_rate"]
        if not text.isdigit() or int(text) not in _RATES:
            raise ConfigurationError(f"sample_rate must be one of {sorted(_RATES)}, got {text!r}")
        rate = int(text)
    if "channels" in query:
        if query["channels"] not in ("1", "2"):
            raise ConfigurationError(f"channels must be 1 or 2, got {query['channels']!r}")
        channels = int(query["channels"])
    return ("raw" if fmt == "raw" else "protobuf"), rate, channels


def _reason(text: str) -> str:
    # A close reason is at most 123 bytes of UTF-8.
    return text.encode()[:120].decode(errors="ignore")


async def handle_bot_socket(server: VaniServer, request: CallRequest) -> None:
    """The ``/ws`` route: admit the socket, build the call's transport and run the bot."""
    connection = request.connection
    try:
        fmt, rate, channels = wire_format(request.query)
    except ConfigurationError as exc:
        server.refuse("bad-request")
        await connection.close(CLOSE_BAD_REQUEST, _reason(str(exc)))
        return
    try:
        claims = server.admit(request)
    except CallRefused as exc:
        await connection.close(exc.code, _reason(exc.reason))
        return
    call = CallInfo(
        client_address=request.client_address,
        custom_parameters=dict(claims.body),
        wire_format=fmt,
        input_sample_rate=rate,
        input_channels=channels,
        path=request.path,
        query={k: v for k, v in request.query.items() if k != "token"},
        headers=server.headers_without_secrets(request),
    )
    server.calls[call.call_id] = call
    try:
        await run_call(server, request, call)
    finally:
        server.calls.pop(call.call_id, None)
        server.admission.release()


async def run_call(server: VaniServer, request: CallRequest, call: CallInfo) -> None:
    """Build the serializer and transport for ``call`` and run the server's bot on them."""
    from vani.server.wiring import make_transport

    if server.bot is None:
        logger.error("call %s: this server has no bot", call.call_id)
        return
    transport = make_transport(request.connection, call, server.config)
    session = Session(call, transport)
    logger.info(
        "call %s from %s started (%s%s)",
        call.call_id,
        call.client_address,
        call.wire_format,
        f" {call.input_sample_rate} Hz" if call.input_sample_rate else "",
    )
    try:
        await server.bot(session)
    except Exception:
        logger.exception("call %s: the bot failed", call.call_id)
    finally:
        logger.info("call %s ended", call.call_id)
