"""Helpers for the operations tests: ``vani run`` as a real process, and a call's client."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.server.client import CallClient

TONE_BOT = Path(__file__).with_name("tone_bot.py")
ROOT = Path(__file__).parents[2]
SECRET = "ops-test-secret-" + "y" * 24


@dataclass
class VaniProcess:
    """``vani run BOT`` in a child process; :attr:`url` once it listens."""

    proc: subprocess.Popen[str]
    url: str = ""
    lines: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    @classmethod
    def start(
        cls,
        *args: str,
        bot: Path = TONE_BOT,
        port: int = 0,
        workers: int = 1,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> VaniProcess:
        command = [
            sys.executable,
            "-m",
            "vani.cli",
            "run",
            str(bot),
            f"--port={port}",
            f"--workers={workers}",
            *args,
        ]
        full_env = {
            **os.environ,
            "VANI_SECRET": SECRET,
            "PYTHONPATH": os.pathsep.join([*sys.path, str(ROOT)]),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        me = cls(proc)
        ready = threading.Event()

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                me.lines.append(line.rstrip())
                found = re.search(r" on (http://\S+)", line)
                if found and not me.url:
                    me.url = found.group(1)
                    ready.set()
            ready.set()

        me._reader = threading.Thread(target=read, daemon=True)
        me._reader.start()
        if not ready.wait(timeout) or not me.url:
            me.kill()
            raise AssertionError("vani run did not start:\n" + "\n".join(me.lines))
        me.wait_healthy(timeout)
        return me

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError("no /health:\n" + "\n".join(self.lines))

    def signal(self, sig: int = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> VaniProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


async def start_token(base_url: str, body: object = None) -> dict[str, str]:
    async with httpx.AsyncClient() as client:
        response = await client.post(base_url + "/start", json=body or {})
    response.raise_for_status()
    data: dict[str, str] = response.json()
    return data


async def open_call(base_url: str, ws_base: str | None = None) -> CallClient:
    """``/start`` on ``base_url``, then the socket (on ``ws_base`` when given), ready."""
    started = await start_token(base_url)
    ws_url = started["wsUrl"] if ws_base is None else ws_base.rstrip("/") + "/ws"
    client = await CallClient.open(f"{ws_url}?token={started['token']}")
    await client.client_ready()
    await client.wait_for("bot-ready", timeout=20)
    return client


async def whoami(client: CallClient) -> int:
    count = len(client.of_type("server-response"))
    await client.send_rtvi("client-message", {"t": "whoami", "d": {}})
    reply = await client.wait_for("server-response", count=count + 1, timeout=20)
    return int(reply["data"]["d"]["pid"])


async def say(client: CallClient, text: str, timeout: float = 20.0) -> None:
    """Type ``text`` and wait until the bot has spoken its whole answer."""
    count = len(client.of_type("bot-stopped-speaking"))
    await client.send_rtvi("send-text", {"content": text, "options": {"audio_response": True}})
    await client.wait_for("bot-stopped-speaking", count=count + 1, timeout=timeout)


async def wait_until(predicate: object, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(step)
    return bool(predicate())  # type: ignore[operator]
