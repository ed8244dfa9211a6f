"""Plumbing shared by the fake Sarvam servers: a ``websockets`` server on 127.0.0.1 that checks
the key like Sarvam does, can refuse or delay the upgrade, and records every connection.

Not public: use :mod:`vani.testing.fake_sarvam_stt` and :mod:`vani.testing.fake_sarvam_tts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from vani.frames import JSONValue

logger = logging.getLogger(__name__)

AUTH_HEADER = "api-subscription-key"
AUTH_SUBPROTOCOL_PREFIX = "api-subscription-key."


@dataclass(slots=True)
class ConnectionRecord:
    """What one client connection sent and how it ended. Times are ``loop.time()`` seconds."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]
    opened_at: float
    messages: list[JSONValue | bytes] = field(default_factory=list)
    """Every frame received: parsed JSON, the raw string when it was not JSON, or bytes."""
    anomalies: list[str] = field(default_factory=list)
    """Protocol mistakes the client made (the real service would refuse or mishandle them)."""
    closed_at: float | None = None
    close_code: int | None = None
    closed_by_client: bool = False

    def messages_of_type(self, type_: str) -> list[dict[str, JSONValue]]:
        """Received JSON objects whose ``type`` is ``type_``."""
        return [m for m in self.messages if isinstance(m, dict) and m.get("type") == type_]


def _first_param(query: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


class FakeWebSocketServer:
    """Base of the fakes: lifecycle, handshake checks, rejection and recording.

    Use as ``async with Fake(...) as fake:``; ``fake.base_url`` is ``ws://127.0.0.1:PORT``.
    Every attribute documented as a switch may be changed between (or during) connections.
    """

    path = "/"

    def __init__(self, *, api_key: str = "test-key") -> None:
        self.api_key = api_key
        self.reject_status: int | None = None
        """Refuse every upgrade with this HTTP status (403 bad key, 401, 429, 400...)."""
        self.reject_body = ""
        self.auth_status = 403
        """Status used when the key is wrong: Sarvam REST says 403, the SDK expects 401."""
        self.handshake_delay_s = 0.0
        """Delay before answering the upgrade (a slow handshake)."""
        self.connections: list[ConnectionRecord] = []
        self.rejected: list[tuple[int, str]] = []
        """(status, reason) of every refused upgrade."""
        self._server: Server | None = None
        self._live: dict[ServerConnection, ConnectionRecord] = {}
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1:``port`` (0 picks a free port; see :attr:`port`)."""
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            port,
            process_request=self._process_request,
            compression=None,
            max_size=None,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- handshake -----------------------------------------------------------------------------

    def _validate_params(self, params: dict[str, str]) -> str | None:
        """Return why the query is unacceptable (answered with 400), or None."""
        return None

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if self.handshake_delay_s:
            await asyncio.sleep(self.handshake_delay_s)
        url = urlsplit(request.path)
        if self.reject_status is not None:
            return self._reject(connection, self.reject_status, self.reject_body or "rejected")
        if url.path.rstrip("/") != self.path:
            return self._reject(connection, 404, f"unknown path {url.path}")
        if not self._key_ok(request.headers):
            return self._reject(connection, self.auth_status, "invalid api-subscription-key")
        problem = self._validate_params(_first_param(url.query))
        if problem is not None:
            return self._reject(connection, 400, problem)
        return None

    def _key_ok(self, headers: Headers) -> bool:
        # Sarvam's SDK sends the key header twice when the key is also given to connect()
        # (``api-subscription-key`` and ``Api-Subscription-Key``, the same value): accept
        # repeats, as long as every copy carries the right key.
        keys = headers.get_all(AUTH_HEADER)
        if keys:
            return all(key == self.api_key for key in keys)
        for value in headers.get_all("Sec-WebSocket-Protocol"):
            for proto in value.split(","):
                if proto.strip() == AUTH_SUBPROTOCOL_PREFIX + self.api_key:
                    return True
        return False

    def _reject(self, connection: ServerConnection, status: int, reason: str) -> Response:
        self.rejected.append((status, reason))
        body = json.dumps({"error": {"message": reason, "code": HTTPStatus(status).phrase}})
        return connection.respond(status, body + "\n")

    # -- connections ---------------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        url = urlsplit(request.path)
        record = ConnectionRecord(
            path=url.path,
            params=_first_param(url.query),
            headers={k.lower(): v for k, v in request.headers.raw_items()},
            opened_at=asyncio.get_running_loop().time(),
        )
        self.connections.append(record)
        self._live[ws] = record
        try:
            await self.serve_connection(ws, record)
        except ConnectionClosed:
            pass
        finally:
            self._live.pop(ws, None)
            record.closed_at = asyncio.get_running_loop().time()
            if record.close_code is None:
                rcvd = ws.protocol.close_rcvd
                sent = ws.protocol.close_sent
                if rcvd is not None and (sent is None or ws.protocol.close_rcvd_then_sent):
                    record.closed_by_client = True
                    record.close_code = rcvd.code
                elif sent is not None:
                    record.close_code = sent.code

    async def serve_connection(self, ws: ServerConnection, record: ConnectionRecord) -> None:
        raise NotImplementedError

    @property
    def live_connections(self) -> list[tuple[ServerConnection, ConnectionRecord]]:
        return list(self._live.items())

    async def close_all(self, code: int = 1011, reason: str = "internal error") -> None:
        """Close every open connection with ``code`` (1003, 1008, 1011, 4000...)."""
        for ws, record in self.live_connections:
            record.close_code = code
            await ws.close(code, reason)

    def abort_all(self) -> None:
        """Drop every open connection's TCP stream with no close frame."""
        for ws, record in self.live_connections:
            record.close_code = 1006
            ws.transport.abort()

    async def send_raw_all(self, message: str | bytes) -> None:
        """Send ``message`` as is to every open connection (protocol noise)."""
        for ws, _ in self.live_connections:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(message)


async def serve_until_cancelled(fake: FakeWebSocketServer, port: int) -> None:
    """Run ``fake`` on ``port``, announcing ``READY <port>`` on stdout, until cancelled."""
    await fake.start(port)
    sys.stdout.write(f"READY {fake.port}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await fake.stop()


def parse_message(raw: str | bytes, record: ConnectionRecord) -> dict[str, JSONValue] | None:
    """Record ``raw`` and return it as a JSON object, or None (recorded as an anomaly)."""
    if isinstance(raw, bytes):
        record.messages.append(raw)
        record.anomalies.append(f"binary frame of {len(raw)} bytes")
        return None
    try:
        value: JSONValue = json.loads(raw)
    except ValueError:
        record.messages.append(raw)
        record.anomalies.append(f"non-json text frame {raw[:40]!r}")
        return None
    record.messages.append(value)
    if not isinstance(value, dict):
        record.anomalies.append(f"json that is not an object: {raw[:40]!r}")
        return None
    return value
