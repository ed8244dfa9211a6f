"""deploy/nginx.conf with Debian's nginx in front of two ``vani run`` instances: calls spread over
both, a token from one instance opens a call on the other, and draining one moves new calls to
the other without failing the call it still holds. nginx runs from a temporary prefix on
127.0.0.1 (tools/ci/setup-40-nginx.sh installs it)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.client import CallClient
from tests.server_ops.live import VaniProcess, open_call, say, start_token, wait_until, whoami

CONF = Path(__file__).parents[2] / "deploy" / "nginx.conf"


def _nginx() -> str:
    found = os.environ.get("VANI_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        pytest.skip("nginx is not installed (apt-get install nginx; CI: setup-40-nginx.sh)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_config(upstreams: list[int], listen: int) -> str:
    """deploy/nginx.conf with the test's instances and port; nothing else changed."""
    text = CONF.read_text()
    servers = "".join(
        f"    server 127.0.0.1:{port} max_fails=2 fail_timeout=10s;\n" for port in upstreams
    )
    text, n = re.subn(
        r"(upstream vani \{\n(?:\s*(?:#.*|least_conn;)\n)*)(\s*server .*\n)+", rf"\1{servers}", text
    )
    assert n == 1, "the upstream block of deploy/nginx.conf changed shape"
    text, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen};", text)
    assert n == 1
    return text


@pytest.fixture
def nginx_with(tmp_path: Path) -> Iterator[object]:
    binary = _nginx()
    procs: list[subprocess.Popen[bytes]] = []

    def start(upstreams: list[int]) -> str:
        port = _free_port()
        (tmp_path / "vani.conf").write_text(site_config(upstreams, port))
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (tmp_path / sub).mkdir(exist_ok=True)
        (tmp_path / "nginx.conf").write_text(
            f"""
worker_processes 1;
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/vani.conf;
}}
"""
        )
        check = subprocess.run(
            [
                binary,
                "-t",
                "-p",
                str(tmp_path),
                "-c",
                str(tmp_path / "nginx.conf"),
                "-e",
                str(tmp_path / "error.log"),
            ],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
        proc = subprocess.Popen(
            [
                binary,
                "-p",
                str(tmp_path),
                "-c",
                str(tmp_path / "nginx.conf"),
                "-e",
                str(tmp_path / "error.log"),
            ]
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/health", timeout=1)
                return url
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start: " + (tmp_path / "error.log").read_text())

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_shipped_config_is_valid_for_nginx(nginx_with: object, tmp_path: Path) -> None:
    text = site_config([1, 2], 8080)
    assert "proxy_read_timeout 3600s" in text
    assert "http_503 non_idempotent" in text
    assert "least_conn;" in text


async def test_two_instances_behind_nginx_share_calls_tokens_and_drain(nginx_with: object) -> None:
    with VaniProcess.start() as a, VaniProcess.start() as b:
        lb = nginx_with([a.port, b.port])  # type: ignore[operator]
        # Calls made through nginx land on both instances.
        calls: dict[int, list[CallClient]] = {}
        for _ in range(6):
            client = await open_call(lb)
            calls.setdefault(await whoami(client), []).append(client)
        assert len(calls) == 2, calls.keys()
        pid_a, pid_b = a.proc.pid, b.proc.pid
        assert set(calls) == {pid_a, pid_b}
        for client in calls[pid_b]:
            await client.close()
        for client in calls[pid_a][1:]:
            await client.close()
        held = calls[pid_a][0]

        # A token from A's /start opens a call on B (one shared secret).
        token = (await start_token(a.url))["token"]
        direct = await CallClient.open(f"ws://127.0.0.1:{b.port}/ws?token={token}")
        await direct.client_ready()
        await direct.wait_for("bot-ready")
        assert await whoami(direct) == pid_b
        await direct.close()

        # Drain A: new calls through nginx all go to B; A's call in progress carries on.
        a.signal(signal.SIGTERM)
        async with httpx.AsyncClient() as http:
            assert await wait_until(lambda: not a.lines or any("draining" in x for x in a.lines))
            for _ in range(50):
                if (await http.get(a.url + "/ready")).status_code == 503:
                    break
                await asyncio.sleep(0.05)
            assert (await http.get(a.url + "/ready")).status_code == 503
        for _ in range(6):
            client = await open_call(lb)  # raises if a call fails
            assert await whoami(client) == pid_b
            await say(client, "new call")
            await client.close()
        await say(held, "are you still there")
        assert a.proc.poll() is None
        await held.close()
        assert await asyncio.to_thread(a.wait, 30) == 0
        # With A gone, nginx keeps serving from B.
        client = await open_call(lb)
        assert await whoami(client) == pid_b
        await client.close()
