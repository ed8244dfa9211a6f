"""Shared by the server tests: an in-process server on a port chosen at run time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

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


@contextlib.asynccontextmanager
async def vani_process(
    *args: str, env: dict[str, str] | None = None
) -> AsyncIterator[ServerProcess]:
    """``vani <args>`` in a child process (the installed command's module, this interpreter);
    yields once it printed the URL it serves on, and stops it with SIGTERM at the end."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vani.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    try:
        url = ""
        lines: list[str] = []
        while not url:
            raw = await asyncio.wait_for(proc.stdout.readline(), 60)
            if not raw:
                err = await proc.stderr.read() if proc.stderr else b""
                raise AssertionError(f"vani exited: {lines} {err.decode()[-2000:]}")
            line = raw.decode()
            lines.append(line)
            match = re.search(r"on (http://\S+)", line)
            if match:
                url = match.group(1)
        yield ServerProcess(proc, url)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@dataclass
class ServerProcess:
    proc: asyncio.subprocess.Process
    url: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


async def start_call_at(base: str, body: object = None) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        response = await client.post(base + "/start", json=body or {})
    response.raise_for_status()
    data: dict[str, str] = response.json()
    return data
