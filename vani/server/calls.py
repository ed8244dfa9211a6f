"""One call on ``/ws``: admission, the serializer the client asked for, the transport, the bot.

See ``docs/server.md``. No transport or pipeline is built before the call is admitted: a
refused socket costs a handshake and a close frame.
"""

from __future__ import annotations

import logging

from vani.errors import ConfigurationError
from vani.serializers import FrameSerializer
from vani.server.app import CallRefused, CallRequest, VaniServer
from vani.server.session import CallInfo, Session
from vani.server.wiring import make_serializer, make_transport

__all__ = ["CLOSE_BAD_REQUEST", "handle_bot_socket", "run_call"]

logger = logging.getLogger("vani.server")

CLOSE_BAD_REQUEST = 1008  # policy violation: the URL asks for something this server refuses


def _reason(text: str) -> str:
    # A close reason is at most 123 bytes of UTF-8.
    return text.encode()[:120].decode(errors="ignore")


async def handle_bot_socket(server: VaniServer, request: CallRequest) -> None:
    """The ``/ws`` route: admit the socket, build the call's transport and run the bot."""
    connection = request.socket
    try:
        fmt, serializer = make_serializer(request.query, server.config)
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
        input_sample_rate=getattr(serializer, "sample_rate", None),
        input_channels=getattr(serializer, "num_channels", 1),
        path=request.path,
        query={k: v for k, v in request.query.items() if k != "token"},
        headers=server.headers_without_secrets(request),
    )
    server.calls[call.call_id] = call
    try:
        await run_call(server, request, call, serializer)
    finally:
        server.calls.pop(call.call_id, None)
        server.admission.release()


async def run_call(
    server: VaniServer,
    request: CallRequest,
    call: CallInfo,
    serializer: FrameSerializer,
    *,
    ravi: bool = True,
) -> None:
    """Build the transport for an admitted ``call`` and run the server's bot on it; returns
    when the bot does. Other WebSocket routes (telephony) call this after
    ``server.admit(request)`` with their own serializer and ``CallInfo`` subclass, and release
    the slot (``server.admission.release()``) afterwards. ``ravi=False`` for sockets that must
    never carry RTVI messages."""
    if server.bot is None:
        logger.error("call %s: this server has no bot", call.call_id)
        return
    transport = make_transport(request.socket, serializer, server.config)
    session = Session(call, transport, ravi=ravi)
    server.sessions[call.call_id] = session
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
        server.sessions.pop(call.call_id, None)
        logger.info("call %s ended", call.call_id)
