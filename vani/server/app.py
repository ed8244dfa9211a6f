"""The vani server: routes, tokens, admission, and one pipeline per admitted call.

See ``docs/server.md``. :class:`VaniServer` is the whole application; :func:`vani.server.serve`
runs it under uvicorn. HTTP routes are Starlette's; WebSocket upgrades go to the
``websockets`` library through :class:`~vani.server.wsbridge.WebSocketBridge`.

=========================  ==============================================================
``POST /start``            ``{"wsUrl", "token"}`` for one call (503 when full)
``GET /ws``                the call (token as ``?token=``, ``Authorization: Bearer`` or
                           ``/ws/<token>``); ``?format=raw&sample_rate=16000`` for raw PCM
``GET /health``            200 while the process runs, with its counters
``GET /ready``             200 while it has room for another call, else 503
``GET /``                  the static web client
=========================  ==============================================================
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request as HTTPRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.routing import WebSocketRoute as StarletteWebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request
from websockets.http11 import Response as WSResponse

from vani.errors import VaniError
from vani.frames import JSONValue
from vani.server.admission import Admission
from vani.server.config import ServerConfig, is_loopback
from vani.server.session import CallInfo, Session
from vani.server.tokens import TokenAuthority, TokenClaims, TokenError
from vani.server.wiring import transport_params
from vani.server.wsbridge import WebSocketBridge
from vani.transports.websocket.connection import WebSocketConnection, split_request_target

if TYPE_CHECKING:
    from vani.server.balance import BalancedMember
    from vani.server.telephony import TelephonySettings

__all__ = [
    "CLOSE_REFUSED",
    "CLOSE_TRY_AGAIN_LATER",
    "CallRefused",
    "CallRequest",
    "VaniServer",
    "WebSocketRoute",
]

logger = logging.getLogger("vani.server")

CLOSE_REFUSED = 4003  # bad, expired or reused token (Pipecat's runner uses the same code)
CLOSE_TRY_AGAIN_LATER = 1013  # above --max-calls: retry later or elsewhere
_FOREIGN_TRANSPORTS = frozenset({"webrtc", "daily", "livekit", "smallwebrtc", "moq"})
_HIDDEN_HEADERS = frozenset({"authorization", "cookie"})
_LOOPBACK_ORIGIN = r"https?://(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?"


class CallRefused(VaniError):
    """A WebSocket call was refused: ``code`` is the close code to send."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A WebSocket upgrade that passed the origin check: what a route handler receives.

    ``connection``: the stack's own socket object — a ``websockets`` ``ServerConnection`` when
    served by :func:`~vani.server.serve`, a Starlette ``WebSocket`` when :attr:`VaniServer.app`
    runs under another ASGI server. ``socket``: the same socket behind the transport's
    connection interface (what :class:`~vani.transports.websocket.WebSocketTransport` takes;
    use it to close or to build a transport, whichever the stack). ``headers``: lowercase
    names. ``route_token``: the token found in the URL path, if the route takes one.
    """

    connection: ServerConnection | WebSocket
    socket: WebSocketConnection
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    client_address: str | None
    route_token: str | None

    def token(self) -> str | None:
        """The token from the path, ``Authorization: Bearer`` or ``?token=``, in that order."""
        if self.route_token:
            return self.route_token
        auth = self.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return self.query.get("token") or None


WebSocketHandler = Callable[["VaniServer", CallRequest], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class WebSocketRoute:
    """A WebSocket path: ``path`` exactly, or ``path/<token>`` when ``token_in_path``."""

    path: str
    handler: WebSocketHandler
    token_in_path: bool = True


class VaniServer:
    """The server application: HTTP routes and ``/ws`` as an ASGI app (:attr:`app`), and the
    WebSocket bridge for uvicorn's ``ws`` setting (:attr:`bridge`). ``bot``: the user's
    ``async def bot(session)``, called once per admitted call (``None``: calls are admitted and
    closed, for a server that only hosts other routes). :attr:`sessions` holds the running
    calls; :attr:`admission` and :attr:`tokens` decide which calls run.

    Extra WebSocket routes (telephony providers) are added with :meth:`add_websocket_route`;
    extra HTTP routes with ``server.app.add_route``. Use from one event loop.
    """

    def __init__(
        self,
        bot: Callable[..., Awaitable[None]] | None,
        config: ServerConfig | None = None,
        *,
        static_dir: str | Path | None = None,
        telephony: TelephonySettings | None = None,
    ) -> None:
        self.config = config or ServerConfig()
        self.bot = bot
        self.tokens = TokenAuthority(
            self.config.secret_bytes(), ttl_secs=self.config.token_ttl_secs
        )
        self.admission = Admission(self.config.max_calls)
        # Set when this process is one of several workers (vani.server.balance).
        self.balance: BalancedMember | None = None
        self.started_at = time.time()
        self.refusals: dict[str, int] = {}
        self.calls: dict[str, CallInfo] = {}
        self.sessions: dict[str, Session] = {}
        self.open_sockets = 0
        self._ws_routes: list[WebSocketRoute] = []
        # The socket limits the call's transport expects (close handshake bound, write buffer).
        limits = transport_params(self.config)
        self.bridge = WebSocketBridge(
            self.config,
            self._process_request,
            self._on_socket,
            close_timeout_secs=limits.close_timeout_secs,
            write_limit_bytes=limits.write_buffer_bytes,
        )
        static = static_dir or self.config.static_dir or _package_static()
        self.app = Starlette(
            middleware=[self._cors()],
            routes=[
                Route("/start", self._start, methods=["POST"]),
                Route("/health", self._health, methods=["GET"]),
                Route("/ready", self._ready, methods=["GET"]),
                Mount("/", StaticFiles(directory=str(static), html=True), name="static"),
            ],
        )
        from vani.server.calls import handle_bot_socket

        self.add_websocket_route(WebSocketRoute("/ws", handle_bot_socket))
        # Phone calls: provider webhooks and media streams (docs/telephony.md).
        from vani.server.telephony import install_telephony_routes

        install_telephony_routes(self, telephony)
        from vani.server.ops import ServerOps

        self.ops = ServerOps(self)

    def _cors(self) -> Middleware:
        """Browsers on the allowed origins may call ``/start`` from pages served elsewhere
        (a preflighted JSON POST)."""
        allowed = self.config.allowed_origins
        return Middleware(
            CORSMiddleware,
            allow_origins=list(allowed or ()),
            allow_origin_regex=None if allowed else _LOOPBACK_ORIGIN,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            max_age=600,
        )

    # -- routes ----------------------------------------------------------------------------

    def add_websocket_route(self, route: WebSocketRoute) -> None:
        """Serve WebSocket upgrades for ``route.path`` (and ``route.path/<token>``), through
        the bridge and through :attr:`app` as ASGI."""
        path = "/" + route.path.strip("/")
        route = WebSocketRoute(path, route.handler, token_in_path=route.token_in_path)
        self._ws_routes.append(route)

        async def endpoint(websocket: WebSocket) -> None:
            await self._asgi_socket(websocket, route)

        asgi = [StarletteWebSocketRoute(path, endpoint)]
        if route.token_in_path:
            asgi.append(StarletteWebSocketRoute(path + "/{token}", endpoint))
        # Before the static Mount at "/", which would otherwise take the socket.
        self.app.router.routes[0:0] = asgi

    def _match(self, path: str) -> tuple[WebSocketRoute, str | None] | None:
        for route in self._ws_routes:
            if path == route.path:
                return route, None
            if route.token_in_path and path.startswith(route.path + "/"):
                rest = path[len(route.path) + 1 :]
                if rest and "/" not in rest:
                    return route, rest
        return None

    def refuse(self, reason: str) -> None:
        """Count a refusal (shown by ``/health``)."""
        self.refusals[reason] = self.refusals.get(reason, 0) + 1
        self.ops.refused(reason)

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """``None`` origin (not a browser) is allowed; otherwise the configured list, or by
        default the server's own origin and pages on this machine."""
        if origin is None:
            return True
        allowed = self.config.allowed_origins
        if allowed:
            return "*" in allowed or origin.rstrip("/") in {o.rstrip("/") for o in allowed}
        parts = urlsplit(origin)
        if host is not None and parts.netloc == host:
            return True
        return parts.hostname is not None and is_loopback(parts.hostname)

    def ws_url(self, request: HTTPRequest) -> str:
        if self.config.public_url:
            return self.config.public_url.rstrip("/") + "/ws"
        scheme = "wss" if request.url.scheme in ("https", "wss") else "ws"
        host = request.headers.get("host") or f"{self.config.host}:{self.config.port}"
        return f"{scheme}://{host}/ws"

    async def _start(self, request: HTTPRequest) -> Response:
        origin = request.headers.get("origin")
        if not self.origin_allowed(origin, request.headers.get("host")):
            self.refuse("origin")
            return JSONResponse({"error": f"origin {origin} is not allowed"}, status_code=403)
        if not self.admission.ready:
            self.refuse("capacity")
            return JSONResponse(
                {"error": "the server is at capacity; try again later"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        raw = await request.body()
        data: JSONValue = {}
        if raw.strip():
            try:
                data = json.loads(raw)
            except ValueError:
                return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        if not isinstance(data, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=400)
        transport = data.get("transport")
        if isinstance(transport, str) and transport.lower() in _FOREIGN_TRANSPORTS:
            return JSONResponse(
                {"error": f"transport {transport!r} is not served here; use 'websocket'"},
                status_code=400,
            )
        body = data.get("body")
        params: dict[str, JSONValue] = (
            body if isinstance(body, dict) else {k: v for k, v in data.items() if k != "transport"}
        )
        try:
            token = self.tokens.issue(params)
        except TokenError as exc:
            return JSONResponse({"error": str(exc)}, status_code=413)
        return JSONResponse({"wsUrl": self.ws_url(request), "token": token})

    def health(self) -> dict[str, JSONValue]:
        workers: dict[str, JSONValue] = {}
        if self.balance is not None:
            # Every worker's calls (-1: takes none), so one request shows how they spread.
            workers = {
                "worker": self.balance.index,
                "worker_calls": list(self.balance.calls()),
                "passed_to_siblings": self.balance.passed,
                "taken_from_siblings": self.balance.taken,
            }
        return {
            **workers,
            "status": "ok",
            "active_calls": self.admission.active,
            "max_calls": self.admission.max_calls,
            "admitted": self.admission.admitted,
            "refused": dict(self.refusals),
            "open_sockets": self.open_sockets,
            "tasks": len(asyncio.all_tasks()),
            "uptime_secs": round(time.time() - self.started_at, 3),
        }

    async def _health(self, request: HTTPRequest) -> Response:
        return JSONResponse(self.health())

    async def _ready(self, request: HTTPRequest) -> Response:
        ready = self.admission.ready
        body = {
            "ready": ready,
            "active_calls": self.admission.active,
            "max_calls": self.admission.max_calls,
            "draining": self.admission.draining,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    # -- WebSocket calls ---------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> WSResponse | None:
        path, _query = split_request_target(request.path)
        if self._match(path) is None:
            self.refuse("path")
            return connection.respond(404, f"no WebSocket route at {path}\n")
        origin = request.headers.get("Origin")
        if not self.origin_allowed(origin, request.headers.get("Host")):
            self.refuse("origin")
            logger.warning("refused a WebSocket from origin %s", origin)
            return connection.respond(403, f"origin {origin} is not allowed\n")
        return self.ops.handshake_refusal(connection, request)

    async def _on_socket(self, connection: ServerConnection) -> None:
        """A socket upgraded through the bridge (origin and path already checked)."""
        from vani.transports.websocket.websockets_adapter import WebsocketsConnection

        conn = WebsocketsConnection(connection)
        matched = self._match(conn.path)
        assert matched is not None
        route, route_token = matched
        await self._dispatch(route, connection, conn, route_token)

    async def _asgi_socket(self, websocket: WebSocket, route: WebSocketRoute) -> None:
        """A socket that reached :attr:`app` as ASGI (the app runs under another server)."""
        from vani.transports.websocket.starlette_adapter import StarletteConnection

        origin = websocket.headers.get("origin")
        if not self.origin_allowed(origin, websocket.headers.get("host")):
            self.refuse("origin")
            logger.warning("refused a WebSocket from origin %s", origin)
            await websocket.close(code=1008)  # before accept: the server answers HTTP 403
            return
        conn = StarletteConnection(websocket)
        await conn.accept()
        token = websocket.path_params.get("token")
        await self._dispatch(route, websocket, conn, str(token) if token else None)

    async def _dispatch(
        self,
        route: WebSocketRoute,
        raw: ServerConnection | WebSocket,
        conn: WebSocketConnection,
        route_token: str | None,
    ) -> None:
        self.open_sockets += 1
        try:
            headers = {k.lower(): v for k, v in conn.headers.items()}
            call = CallRequest(
                connection=raw,
                socket=conn,
                path=conn.path,
                query=dict(conn.query_params),
                headers=headers,
                client_address=_client_address(conn.remote_address, headers),
                route_token=route_token,
            )
            await route.handler(self, call)
        finally:
            self.open_sockets -= 1

    def admit(self, call: CallRequest) -> TokenClaims:
        """Check the call's token and take a call slot (release it with
        ``server.admission.release()`` when the call ends). The token is checked first but
        consumed only once the call is admitted, so a caller refused for capacity may retry
        with the same token elsewhere.

        Raises :class:`CallRefused` with the close code: 4003 for a bad token, 1013 when full.
        """
        claims = TokenClaims(jti="", exp=0.0)
        token = call.token()
        checked = self.config.require_token or token is not None
        if checked:
            try:
                claims = self.tokens.check(token)
            except TokenError as exc:
                self.refuse(f"token-{exc.reason}")
                logger.info("refused a call from %s: %s", call.client_address, exc)
                raise CallRefused(CLOSE_REFUSED, str(exc)) from None
        if not self.admission.try_admit():
            self.refuse("capacity")
            raise CallRefused(CLOSE_TRY_AGAIN_LATER, "the server is at capacity")
        if checked:
            try:
                self.tokens.consume(claims)
            except TokenError as exc:
                self.admission.release()
                self.refuse(f"token-{exc.reason}")
                raise CallRefused(CLOSE_REFUSED, str(exc)) from None
        return claims

    def headers_without_secrets(self, call: CallRequest) -> dict[str, str]:
        """The request's headers for :class:`CallInfo`: no ``authorization``, no ``cookie``."""
        return {k: v for k, v in call.headers.items() if k not in _HIDDEN_HEADERS}

    async def shutdown(
        self, reason: str = "server shutting down", *, grace_secs: float = 3.0
    ) -> None:
        """Refuse new calls, end the running ones (each pipeline is cancelled: its services
        close and its socket is closed with 1001), and after ``grace_secs`` cancel whatever
        is left."""
        self.admission.drain()
        self.bridge.stop_accepting()
        sessions = list(self.sessions.values())
        if sessions:
            logger.info("ending %d call(s): %s", len(sessions), reason)
            await asyncio.gather(*(s.cancel(reason) for s in sessions), return_exceptions=True)
        pending = [t for t in self.bridge.tasks if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace_secs)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)


def _client_address(peer: tuple[str, int] | None, headers: Mapping[str, str]) -> str | None:
    """``ip:port`` of the peer; behind a proxy on this machine (as uvicorn trusts by default),
    the first address of ``X-Forwarded-For`` instead."""
    if peer is None:
        return None
    forwarded = headers.get("x-forwarded-for")
    if forwarded and is_loopback(peer[0]):
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    return f"{peer[0]}:{peer[1]}"


def _package_static() -> Path:
    return Path(str(resources.files("vani.server").joinpath("static")))
