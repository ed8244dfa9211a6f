"""``VaniServer.app`` is a plain ASGI app: under uvicorn's own WebSocket protocol (no bridge), or
mounted inside another Starlette/FastAPI app, calls are admitted and refused the same way."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.server.client import CallClient
from tests.server.helpers import SECRET
from vani.server import ServerConfig, VaniServer, load_bot

ECHO_BOT = Path(__file__).parent / "bots" / "echo_bot.py"


@contextlib.asynccontextmanager
async def plain_uvicorn(app: ASGIApp) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, ws="websockets-sansio", lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        await task
        sock.close()


async def one_call(base: str, ws_base: str) -> CallClient:
    async with httpx.AsyncClient() as http:
        token = (await http.post(base + "/start", json={})).json()["token"]
    client = await CallClient.open(f"{ws_base}?token={token}")
    await client.client_ready()
    await client.wait_for("bot-ready")
    await client.send_audio(b"\x20\x00" * 320)
    for _ in range(100):
        if client.pcm:
            break
        await asyncio.sleep(0.02)
    await client.close()
    return client


async def test_the_app_serves_calls_under_uvicorns_own_websocket_protocol() -> None:
    server = VaniServer(load_bot(ECHO_BOT), ServerConfig(secret=SECRET))
    async with plain_uvicorn(server.app) as port:
        client = await one_call(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws")
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            with pytest.raises(ConnectionClosed):
                await ws.recv()
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://127.0.0.1:{port}/ws", origin="https://evil.example")
    assert client.pcm
    assert ws.close_code == 4003
    assert refused.value.response.status_code == 403
    assert server.refusals == {"token-missing": 1, "origin": 1}


async def test_the_app_mounts_inside_another_app() -> None:
    server = VaniServer(
        load_bot(ECHO_BOT), ServerConfig(secret=SECRET, public_url="ws://127.0.0.1:1/voice")
    )

    async def home(request: object) -> PlainTextResponse:
        return PlainTextResponse("the shop's own page")

    shop = Starlette(routes=[Route("/", home), Mount("/voice", app=server.app)])
    async with plain_uvicorn(shop) as port:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/")).text == "the shop's own page"
            health = await http.get(f"http://127.0.0.1:{port}/voice/health")
        client = await one_call(f"http://127.0.0.1:{port}/voice", f"ws://127.0.0.1:{port}/voice/ws")
    assert health.json()["status"] == "ok"
    assert client.pcm
