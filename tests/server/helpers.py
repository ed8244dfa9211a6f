"""Shared by the server tests: an in-process server on a port chosen at run time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from vani.server import RunningServer, ServerConfig, Session, VaniServer

SECRET = "test-secret-" + "x" * 24


async def idle_bot(session: Session) -> None:
    """A bot that builds nothing (for tests of the routes and refusals)."""


@contextlib.asynccontextmanager
async def running_server(
    bot: Callable[[Session], Awaitable[None]] = idle_bot, **options: object
) -> AsyncIterator[RunningServer]:
    config = ServerConfig(port=0, secret=SECRET, **options)  # type: ignore[arg-type]
    async with RunningServer(VaniServer(bot, config)) as running:
        yield running


async def start_call(running: RunningServer, body: object = None) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        response = await client.post(running.url + "/start", json=body or {})
    response.raise_for_status()
    data: dict[str, str] = response.json()
    return data


def ws_url(running: RunningServer, path: str = "/ws") -> str:
    return f"ws://127.0.0.1:{running.port}{path}"
