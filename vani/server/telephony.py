"""Phone calls on the vani server: the providers' webhooks and media-stream sockets.

See ``docs/telephony.md``. Routes (installed on every :class:`~vani.server.app.VaniServer`):

===================================  ==========================================================
``POST /telephony/twilio``           Twilio voice webhook: checks ``X-Twilio-Signature``, answers
                                     TwiML ``<Connect><Stream url=".../telephony/twilio/<token>">``
``POST /telephony/telnyx``           Telnyx TeXML webhook: checks ``telnyx-signature-ed25519``,
                                     answers the same in TeXML
``POST /telephony/plivo``            Plivo answer URL: checks ``X-Plivo-Signature-V3``, answers
                                     ``<Stream bidirectional="true">``
``GET|POST /telephony/exotel``       Exotel Voicebot applet (dynamic URL): ``{"url": "wss://..."}``
``GET /telephony/<provider>/<tok>``  the media stream of one call (WebSocket)
``GET /telephony/<tok>``             the same, provider detected from the first messages
===================================  ==========================================================

A webhook issues a one-use call token (the server's HMAC tokens) that carries the call's facts
from the webhook (call id, from, to, the query string's custom parameters) and puts it in the
stream URL's path; the socket is refused (close 4003) without a valid one. The bot receives a
:class:`TelephonyCallInfo` in ``session.call`` and a
:class:`~vani.transports.telephony.TelephonyTransport` in ``session.transport``; RAVI is off
(RTVI JSON never goes into a phone line).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from vani.errors import ProtocolError, VaniError
from vani.frames import JSONValue
from vani.serializers.telephony import TelephonyFrameSerializer
from vani.server.app import CallRefused, CallRequest, VaniServer, WebSocketRoute
from vani.server.session import CallInfo, Session
from vani.telephony.markup import exotel_stream_answer, plivo_xml, telnyx_texml, twilio_twiml
from vani.telephony.rest import DialResult, TelephonyCredentials, dial
from vani.telephony.signature import (
    TELNYX_TIMESTAMP_TOLERANCE_SECS,
    telnyx_signature_problem,
    validate_plivo_signature,
    validate_twilio_signature,
)
from vani.transports.telephony import TelephonyParams, TelephonyTransport, read_call_start
from vani.transports.websocket import WebSocketConnection

__all__ = [
    "PROVIDERS",
    "TelephonyCallInfo",
    "TelephonySettings",
    "dial_out",
    "install_telephony_routes",
]

logger = logging.getLogger("vani.server")

PROVIDERS = ("twilio", "telnyx", "plivo", "exotel")
CLOSE_BAD_STREAM = 1008

# Webhook form fields that are call facts, per provider; everything else in the query string is
# a custom parameter.
# What providers themselves put in a webhook's fields (Exotel uses the query string): call facts,
# not the operator's custom parameters.
_WEBHOOK_FIELDS = frozenset(
    {
        "CallSid", "CallUUID", "AccountSid", "From", "To", "CallFrom", "CallTo", "Direction",
        "CallStatus", "CallType", "ApiVersion", "Caller", "Called", "DialWhomNumber",
        "StartTime", "CurrentTime", "CustomField", "flow_id", "tenant_id",
    }
)  # fmt: skip
_CALL_ID = {"twilio": "CallSid", "telnyx": "CallSid", "plivo": "CallUUID", "exotel": "CallSid"}


@dataclass(frozen=True, slots=True, kw_only=True)
class TelephonyCallInfo(CallInfo):
    """A phone call's facts (``session.call`` on telephony sockets).

    ``provider``: ``twilio``, ``telnyx``, ``plivo`` or ``exotel``. ``provider_call_id``: what the
    provider's REST API knows the call by (CallSid, call_control_id, CallUUID). ``from_number``,
    ``to_number``: as the provider reported them. ``stream_id``: the media stream's id.
    ``custom_parameters`` (inherited) merges the webhook URL's query parameters and the stream's
    custom parameters.
    """

    provider: str = ""
    provider_call_id: str = ""
    from_number: str = ""
    to_number: str = ""
    stream_id: str = ""


@dataclass(slots=True)
class TelephonySettings:
    """How the telephony routes behave.

    ``credentials``: provider API credentials (hang-up; from the environment by default), and
    what webhook signatures are checked with (Twilio's and Plivo's auth tokens, Telnyx's public
    key). ``verify_twilio_signature``, ``verify_plivo_signature``, ``verify_telnyx_signature``:
    refuse that provider's webhooks without a valid signature (on by default; with no credential
    configured every webhook of that provider is then refused, 403, and logged).
    ``telnyx_timestamp_tolerance_secs``: how far ``telnyx-timestamp`` may be from now.
    ``webhook_base_url``: the ``https://host`` the provider calls, when a proxy rewrites it
    (default: the request's own URL).
    ``stream_base_url``: the ``wss://host`` the providers should connect to (default: the
    server's ``public_url``, else the request's host). ``hang_up_on_end``: end the call through
    the provider's API when the bot's pipeline ends.
    """

    credentials: TelephonyCredentials = field(default_factory=TelephonyCredentials.from_env)
    verify_twilio_signature: bool = True
    verify_plivo_signature: bool = True
    verify_telnyx_signature: bool = True
    telnyx_timestamp_tolerance_secs: float = TELNYX_TIMESTAMP_TOLERANCE_SECS
    webhook_base_url: str | None = None
    stream_base_url: str | None = None
    hang_up_on_end: bool = True
    start_timeout_secs: float = 5.0

    @classmethod
    def from_env(cls) -> TelephonySettings:
        """Credentials from the environment; ``VANI_TELEPHONY_WEBHOOK_URL`` and
        ``VANI_TELEPHONY_STREAM_URL`` set the base URLs."""
        return cls(
            webhook_base_url=os.environ.get("VANI_TELEPHONY_WEBHOOK_URL") or None,
            stream_base_url=os.environ.get("VANI_TELEPHONY_STREAM_URL") or None,
        )


def _stream_base(server: VaniServer, settings: TelephonySettings, request: HTTPRequest) -> str:
    if settings.stream_base_url:
        return settings.stream_base_url.rstrip("/")
    if server.config.public_url:
        base = server.config.public_url.rstrip("/")
        return base[: -len("/ws")] if base.endswith("/ws") else base
    scheme = "wss" if request.url.scheme in ("https", "wss") else "ws"
    host = request.headers.get("host") or f"{server.config.host}:{server.config.port}"
    return f"{scheme}://{host}"


def _webhook_url(settings: TelephonySettings, request: HTTPRequest) -> str:
    if settings.webhook_base_url:
        base = settings.webhook_base_url.rstrip("/")
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{base}{request.url.path}{query}"
    return str(request.url)


def _signature_problem(
    provider: str,
    settings: TelephonySettings,
    request: HTTPRequest,
    form: Mapping[str, str],
    body: bytes,
) -> str | None:
    """Why this webhook is not the provider's (``None``: it is, or checks are off)."""
    creds = settings.credentials
    headers = request.headers
    if provider == "twilio" and settings.verify_twilio_signature:
        if not creds.twilio_auth_token:
            return "no TWILIO_AUTH_TOKEN configured"
        url = _webhook_url(settings, request)
        signature = headers.get("x-twilio-signature")
        if not validate_twilio_signature(creds.twilio_auth_token, url, form, signature):
            return "bad X-Twilio-Signature"
    elif provider == "plivo" and settings.verify_plivo_signature:
        if not creds.plivo_auth_token:
            return "no PLIVO_AUTH_TOKEN configured"
        url = _webhook_url(settings, request)
        ok = validate_plivo_signature(
            creds.plivo_auth_token,
            request.method,
            url,
            form,
            headers.get("x-plivo-signature-v3-nonce"),
            headers.get("x-plivo-signature-v3"),
        )
        if not ok:
            return "bad X-Plivo-Signature-V3"
    elif provider == "telnyx" and settings.verify_telnyx_signature:
        if not creds.telnyx_public_key:
            return "no TELNYX_PUBLIC_KEY configured"
        try:
            return telnyx_signature_problem(
                creds.telnyx_public_key,
                body,
                headers.get("telnyx-timestamp"),
                headers.get("telnyx-signature-ed25519"),
                tolerance_secs=settings.telnyx_timestamp_tolerance_secs,
            )
        except VaniError as exc:
            return str(exc)
    return None


def _issue(server: VaniServer, provider: str, facts: Mapping[str, str]) -> str:
    body: dict[str, JSONValue] = {"provider": provider, **facts}
    return server.tokens.issue(body)


def install_telephony_routes(
    server: VaniServer, settings: TelephonySettings | None = None
) -> TelephonySettings:
    """Add the webhook routes and media-stream sockets to ``server``; returns the settings."""
    settings = settings or TelephonySettings.from_env()

    async def webhook(request: HTTPRequest) -> Response:
        provider = request.path_params["provider"]
        if provider not in PROVIDERS:
            return JSONResponse({"error": f"unknown provider {provider!r}"}, status_code=404)
        form: dict[str, str] = {}
        body = b""
        if request.method == "POST":
            body = await request.body()  # Telnyx signs the raw body; form() reuses it
            raw_form = await request.form()
            form = {k: str(v) for k, v in raw_form.multi_items()}
        problem = _signature_problem(provider, settings, request, form, body)
        if problem is not None:
            server.refuse("webhook-signature")
            logger.warning("refused a %s webhook: %s", provider, problem)
            return Response("invalid signature\n", status_code=403)
        if not server.admission.ready:
            server.refuse("capacity")
            return Response("busy\n", status_code=503, headers={"Retry-After": "1"})
        fields = {**dict(request.query_params), **form}
        call_id = fields.get(_CALL_ID[provider], "")
        facts: dict[str, str] = {
            "call_id": call_id,
            "from": fields.get("From", fields.get("CallFrom", "")),
            "to": fields.get("To", fields.get("CallTo", "")),
        }
        custom = {k: v for k, v in request.query_params.items() if k not in _WEBHOOK_FIELDS}
        facts.update({f"param:{k}": v for k, v in custom.items()})
        try:
            token = _issue(server, provider, facts)
        except VaniError as exc:
            return JSONResponse({"error": str(exc)}, status_code=413)
        stream_url = f"{_stream_base(server, settings, request)}/telephony/{provider}/{token}"
        params = {"From": facts["from"], "To": facts["to"], **custom}
        params = {k: v for k, v in params.items() if v}
        if provider == "twilio":
            return Response(twilio_twiml(stream_url, params), media_type="application/xml")
        if provider == "telnyx":
            return Response(telnyx_texml(stream_url, params), media_type="application/xml")
        if provider == "plivo":
            return Response(plivo_xml(stream_url, params), media_type="application/xml")
        return Response(exotel_stream_answer(stream_url), media_type="application/json")

    route = Route("/telephony/{provider}", webhook, methods=["GET", "POST"])
    # Before the static mount at "/", which would otherwise answer these paths.
    server.app.router.routes.insert(0, route)

    async def stream(srv: VaniServer, request: CallRequest) -> None:
        path = request.path
        if request.route_token:
            path = path[: -len(request.route_token) - 1]
        provider = path.rsplit("/", 1)[-1] if path != "/telephony" else None
        await handle_telephony_socket(srv, request, settings, provider)

    for provider in PROVIDERS:
        server.add_websocket_route(WebSocketRoute(f"/telephony/{provider}", stream))
    server.add_websocket_route(WebSocketRoute("/telephony", stream))
    return settings


async def handle_telephony_socket(
    server: VaniServer,
    request: CallRequest,
    settings: TelephonySettings,
    provider: str | None,
) -> None:
    """One media stream: admit its token, read up to ``start``, run the bot on it."""
    connection = request.socket
    try:
        claims = server.admit(request)
    except CallRefused as exc:
        await connection.close(exc.code, exc.reason[:120])
        return
    try:
        body = dict(claims.body)
        named = body.get("provider")
        if provider is None and isinstance(named, str) and named in PROVIDERS:
            provider = named
        if isinstance(named, str) and provider is not None and named != provider:
            server.refuse("provider-mismatch")
            await connection.close(CLOSE_BAD_STREAM, f"this token is for {named}")
            return
        conn = connection
        try:
            serializer = await read_call_start(
                conn, provider=provider, timeout_secs=settings.start_timeout_secs
            )
        except (ProtocolError, VaniError) as exc:
            server.refuse("no-start")
            logger.warning("telephony socket from %s: %s", request.client_address, exc)
            await connection.close(CLOSE_BAD_STREAM, str(exc)[:120])
            return
        await _run(server, request, conn, settings, serializer, body)
    finally:
        server.admission.release()


def _call_info(
    request: CallRequest, serializer: TelephonyFrameSerializer, body: Mapping[str, JSONValue]
) -> TelephonyCallInfo:
    facts = serializer.call
    custom: dict[str, JSONValue] = {
        k.removeprefix("param:"): v for k, v in body.items() if k.startswith("param:")
    }
    custom.update(facts.custom_parameters)
    webhook_call_id = body.get("call_id")
    return TelephonyCallInfo(
        client_address=request.client_address,
        custom_parameters=custom,
        wire_format="telephony",
        input_sample_rate=facts.sample_rate,
        input_channels=1,
        path=request.path.rsplit("/", 1)[0] if request.route_token else request.path,
        query=dict(request.query),
        headers={k: v for k, v in request.headers.items() if k not in ("authorization", "cookie")},
        provider=facts.provider,
        provider_call_id=facts.call_id
        or (webhook_call_id if isinstance(webhook_call_id, str) else ""),
        from_number=facts.from_number or str(body.get("from") or ""),
        to_number=facts.to_number or str(body.get("to") or ""),
        stream_id=facts.stream_id,
    )


async def _run(
    server: VaniServer,
    request: CallRequest,
    conn: WebSocketConnection,
    settings: TelephonySettings,
    serializer: TelephonyFrameSerializer,
    body: Mapping[str, JSONValue],
) -> None:
    call = _call_info(request, serializer, body)
    if not serializer.call.call_id and call.provider_call_id:
        serializer.call.call_id = call.provider_call_id
    params = TelephonyParams(
        credentials=settings.credentials,
        hang_up_on_end=settings.hang_up_on_end,
        max_message_size=server.config.max_message_bytes,
        ping_interval_secs=server.config.ping_interval_secs,
        ping_timeout_secs=server.config.ping_timeout_secs,
    )
    transport = TelephonyTransport(conn, serializer, params)
    session = Session(call, transport, ravi=False)
    server.calls[call.call_id] = call
    logger.info(
        "call %s: %s %s from %s to %s started",
        call.call_id,
        call.provider,
        call.provider_call_id,
        call.from_number or "?",
        call.to_number or "?",
    )
    try:
        if server.bot is None:
            logger.error("call %s: this server has no bot", call.call_id)
            return
        await server.bot(session)
    except Exception:
        logger.exception("call %s: the bot failed", call.call_id)
    finally:
        server.calls.pop(call.call_id, None)
        logger.info("call %s ended", call.call_id)


async def dial_out(
    server: VaniServer,
    settings: TelephonySettings,
    provider: str,
    *,
    to: str,
    from_: str,
    public_url: str,
    custom_parameters: Mapping[str, str] | None = None,
) -> DialResult:
    """Have ``provider`` call ``to`` and connect the answered call to this server's bot.

    ``public_url``: the ``https://host`` the provider reaches this server at. Twilio and Plivo
    fetch ``/telephony/<provider>`` when the callee answers (the same webhook as inbound
    calls; ``custom_parameters`` ride in its query string and reach ``session.call``); Telnyx's
    dial takes the media-stream URL itself, with a one-use token issued here. Raises
    :class:`~vani.errors.ServiceError` when the provider refuses.
    """
    custom = dict(custom_parameters or {})
    base = public_url.rstrip("/")
    if provider == "telnyx":
        facts = {"call_id": "", "from": from_, "to": to}
        facts.update({f"param:{k}": v for k, v in custom.items()})
        token = _issue(server, provider, facts)
        stream = settings.stream_base_url or base.replace("https://", "wss://", 1).replace(
            "http://", "ws://", 1
        )
        answer_url = f"{stream.rstrip('/')}/telephony/telnyx/{token}"
    else:
        query = f"?{urlencode(custom)}" if custom else ""
        answer_url = f"{base}/telephony/{provider}{query}"
    return await dial(
        provider, to=to, from_=from_, answer_url=answer_url, creds=settings.credentials
    )
