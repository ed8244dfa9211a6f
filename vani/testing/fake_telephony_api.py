"""A fake of the providers' REST APIs (Twilio, Telnyx, Plivo) that records hang-ups and dials.

Answers like the real services on the paths vani uses (``vani.telephony.rest``), checks the
credentials each expects (Basic for Twilio and Plivo, Bearer for Telnyx), answers "already
ended" the provider's way (Twilio 404 code 20404, Telnyx 422 code 90018, Plivo 404) and records
every request. Listeners registered with :meth:`FakeTelephonyAPI.on_hang_up` hear of each call it
ends, so a :class:`~vani.testing.TelephonySimulator` can drop its stream as the provider would.

Use as ``async with FakeTelephonyAPI() as api:`` and point
:class:`~vani.telephony.TelephonyCredentials` at ``api.base_url`` (or :meth:`credentials`).
See ``docs/telephony.md``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Self

from vani.frames import JSONValue
from vani.telephony.rest import TelephonyCredentials

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["FakeTelephonyAPI", "RestRequest"]


@dataclass(slots=True)
class RestRequest:
    """One request the fake received."""

    provider: str
    action: str  # "hang_up" | "dial" | "unknown"
    method: str
    path: str
    call_id: str = ""
    body: dict[str, JSONValue] = field(default_factory=dict)
    authorized: bool = True
    status: int = 200


def _ed25519_pair() -> tuple[str, str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(private).decode("ascii"), base64.b64encode(public).decode("ascii")


HangUpListener = Callable[[str, str], Awaitable[None]]


class FakeTelephonyAPI:
    """Twilio, Telnyx and Plivo REST on one port of 127.0.0.1 (Starlette + uvicorn)."""

    def __init__(
        self,
        *,
        twilio_account_sid: str = "AC0000000000000000000000000000test",
        twilio_auth_token: str = "twilio-token",
        telnyx_api_key: str = "telnyx-key",
        plivo_auth_id: str = "MA0000000000000000test",
        plivo_auth_token: str = "plivo-token",
    ) -> None:
        self.twilio_account_sid = twilio_account_sid
        self.twilio_auth_token = twilio_auth_token
        self.telnyx_api_key = telnyx_api_key
        self.plivo_auth_id = plivo_auth_id
        self.plivo_auth_token = plivo_auth_token
        self.telnyx_signing_key, self.telnyx_public_key = _ed25519_pair()
        """The Telnyx account's webhook-signing key pair (base64 raw keys): hand the private one
        to a :class:`~vani.testing.TelephonySimulator` (``telnyx_signing_key``); the public one
        is in :meth:`credentials`."""
        self.requests: list[RestRequest] = []
        self.ended: set[str] = set()
        """Call ids that are over (hung up here, or marked with :meth:`end_call`)."""
        self.fail_status: int | None = None
        """Answer every request with this status (500, 503...) to test error handling."""
        self._listeners: list[HangUpListener] = []
        self._ids = itertools.count(1)
        self._server: object = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def credentials(self, *, telnyx_connection_id: str = "conn-test") -> TelephonyCredentials:
        """Credentials that this fake accepts, with every base URL pointed at it."""
        return TelephonyCredentials(
            twilio_account_sid=self.twilio_account_sid,
            twilio_auth_token=self.twilio_auth_token,
            telnyx_api_key=self.telnyx_api_key,
            telnyx_connection_id=telnyx_connection_id,
            telnyx_public_key=self.telnyx_public_key,
            plivo_auth_id=self.plivo_auth_id,
            plivo_auth_token=self.plivo_auth_token,
            twilio_base_url=self.base_url,
            telnyx_base_url=self.base_url,
            plivo_base_url=self.base_url,
        )

    def on_hang_up(self, listener: HangUpListener) -> None:
        """Call ``listener(provider, call_id)`` whenever a hang-up ends a call."""
        self._listeners.append(listener)

    def end_call(self, call_id: str) -> None:
        """Mark ``call_id`` as already over (the caller hung up first)."""
        self.ended.add(call_id)

    def of(self, action: str, provider: str | None = None) -> list[RestRequest]:
        return [
            r
            for r in self.requests
            if r.action == action and (provider is None or r.provider == provider)
        ]

    async def start(self) -> None:
        import uvicorn

        config = uvicorn.Config(
            self._app(), host="127.0.0.1", port=0, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)
        self._server = server
        self._task = asyncio.get_running_loop().create_task(server.serve(), name="fake-rest")
        while not server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        self.port = int(server.servers[0].sockets[0].getsockname()[1])

    async def stop(self) -> None:
        import uvicorn

        server, task = self._server, self._task
        self._task = None
        if isinstance(server, uvicorn.Server) and task is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5.0)

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

    # -- the app -------------------------------------------------------------------------------

    def _basic_ok(self, header: str | None, user: str, password: str) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except ValueError:
            return False
        return decoded == f"{user}:{password}"

    def _app(self) -> Starlette:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def record(
            request: Request, provider: str, action: str, call_id: str, authorized: bool
        ) -> RestRequest:
            body: dict[str, JSONValue] = {}
            if request.headers.get("content-type", "").startswith("application/json"):
                with contextlib.suppress(ValueError):
                    data = await request.json()
                    if isinstance(data, dict):
                        body = data
            elif request.method != "DELETE":
                form = await request.form()
                body = {k: str(v) for k, v in form.items()}
            rec = RestRequest(
                provider=provider,
                action=action,
                method=request.method,
                path=request.url.path,
                call_id=call_id,
                body=body,
                authorized=authorized,
            )
            self.requests.append(rec)
            return rec

        async def finish(rec: RestRequest, response: Response) -> Response:
            rec.status = response.status_code
            return response

        async def ended(provider: str, call_id: str) -> None:
            self.ended.add(call_id)
            for listener in list(self._listeners):
                await listener(provider, call_id)

        async def twilio_hangup(request: Request) -> Response:
            call_id = request.path_params["call"]
            ok = self._basic_ok(
                request.headers.get("authorization"),
                self.twilio_account_sid,
                self.twilio_auth_token,
            )
            rec = await record(request, "twilio", "hang_up", call_id, ok)
            if self.fail_status:
                return await finish(rec, JSONResponse({"code": 20500}, self.fail_status))
            if not ok or request.path_params["sid"] != self.twilio_account_sid:
                return await finish(rec, JSONResponse({"code": 20003, "status": 401}, 401))
            if call_id in self.ended:
                body = {"code": 20404, "message": "The requested resource was not found"}
                return await finish(rec, JSONResponse(body, 404))
            await ended("twilio", call_id)
            return await finish(rec, JSONResponse({"sid": call_id, "status": "completed"}))

        async def twilio_dial(request: Request) -> Response:
            ok = self._basic_ok(
                request.headers.get("authorization"),
                self.twilio_account_sid,
                self.twilio_auth_token,
            )
            rec = await record(request, "twilio", "dial", "", ok)
            if not ok:
                return await finish(rec, JSONResponse({"code": 20003}, 401))
            rec.call_id = f"CA{next(self._ids):032d}"
            return await finish(rec, JSONResponse({"sid": rec.call_id, "status": "queued"}, 201))

        def bearer_ok(request: Request) -> bool:
            return request.headers.get("authorization") == f"Bearer {self.telnyx_api_key}"

        async def telnyx_hangup(request: Request) -> Response:
            call_id = request.path_params["call"]
            ok = bearer_ok(request)
            rec = await record(request, "telnyx", "hang_up", call_id, ok)
            if self.fail_status:
                return await finish(rec, JSONResponse({"errors": []}, self.fail_status))
            if not ok:
                return await finish(rec, JSONResponse({"errors": [{"code": "10009"}]}, 401))
            if call_id in self.ended:
                body = {"errors": [{"code": "90018", "title": "Call has already ended"}]}
                return await finish(rec, JSONResponse(body, 422))
            await ended("telnyx", call_id)
            return await finish(rec, JSONResponse({"data": {"result": "ok"}}))

        async def telnyx_dial(request: Request) -> Response:
            ok = bearer_ok(request)
            rec = await record(request, "telnyx", "dial", "", ok)
            if not ok:
                return await finish(rec, JSONResponse({"errors": [{"code": "10009"}]}, 401))
            rec.call_id = f"v3:{next(self._ids):020d}"
            body = {"data": {"call_control_id": rec.call_id, "is_alive": True}}
            return await finish(rec, JSONResponse(body))

        def plivo_ok(request: Request) -> bool:
            return self._basic_ok(
                request.headers.get("authorization"), self.plivo_auth_id, self.plivo_auth_token
            ) and (request.path_params["auth_id"] == self.plivo_auth_id)

        async def plivo_hangup(request: Request) -> Response:
            call_id = request.path_params["call"]
            ok = plivo_ok(request)
            rec = await record(request, "plivo", "hang_up", call_id, ok)
            if self.fail_status:
                return await finish(rec, Response(status_code=self.fail_status))
            if not ok:
                return await finish(rec, JSONResponse({"error": "not authorized"}, 401))
            if call_id in self.ended:
                return await finish(rec, JSONResponse({"error": "not found"}, 404))
            await ended("plivo", call_id)
            return await finish(rec, Response(status_code=204))

        async def plivo_dial(request: Request) -> Response:
            ok = plivo_ok(request)
            rec = await record(request, "plivo", "dial", "", ok)
            if not ok:
                return await finish(rec, JSONResponse({"error": "not authorized"}, 401))
            rec.call_id = f"{next(self._ids):08d}-0000-0000-0000-000000000000"
            body = {"message": "call fired", "request_uuid": rec.call_id, "api_id": "x"}
            return await finish(rec, JSONResponse(body, 201))

        routes = [
            Route("/2010-04-01/Accounts/{sid}/Calls/{call}.json", twilio_hangup, methods=["POST"]),
            Route("/2010-04-01/Accounts/{sid}/Calls.json", twilio_dial, methods=["POST"]),
            Route("/v2/calls/{call}/actions/hangup", telnyx_hangup, methods=["POST"]),
            Route("/v2/calls", telnyx_dial, methods=["POST"]),
            Route("/v1/Account/{auth_id}/Call/{call}/", plivo_hangup, methods=["DELETE"]),
            Route("/v1/Account/{auth_id}/Call/", plivo_dial, methods=["POST"]),
        ]
        return Starlette(routes=routes)
