"""Refusals happen before any pipeline is built, and cost the process nothing that stays."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path
from urllib.parse import SplitResult

import httpx
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.server.client import CallClient
from tests.server.helpers import SECRET, running_server, start_call, vani_process, ws_url
from vani.server import Session, TokenAuthority, load_bot

ECHO_BOT = Path(__file__).parent / "bots" / "echo_bot.py"


class Spy:
    """A bot that counts the calls that reached it."""

    def __init__(self) -> None:
        self.calls: list[Session] = []

    async def __call__(self, session: Session) -> None:
        self.calls.append(session)


async def close_code(url: str, **kwargs: object) -> tuple[int | None, str]:
    async with connect(url, **kwargs) as ws:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return ws.close_code, ws.close_reason


async def test_a_socket_without_a_token_is_closed_with_4003_before_the_bot_runs() -> None:
    spy = Spy()
    async with running_server(spy) as running:
        code, reason = await close_code(ws_url(running))
        assert running.server.refusals == {"token-missing": 1}
    assert (code, reason) == (4003, "no token: call POST /start for one")
    assert spy.calls == []


async def test_a_calls_token_stays_in_no_cache_once_its_socket_opened() -> None:
    # urllib's urlsplit keeps its last 128 results: splitting the request's target with it
    # kept the tokens of the last 128 calls (and pinned the memory their strings sat in).
    spy = Spy()
    async with running_server(spy) as running:
        tokens = [(await start_call(running))["token"] for _ in range(2)]
        for url in (ws_url(running) + f"?token={tokens[0]}", ws_url(running, f"/ws/{tokens[1]}")):
            code, _ = await close_code(url)
            assert code == 1000
    assert len(spy.calls) == 2
    # The client's own parse of its URL (scheme "ws", a host) may be cached; the server's
    # would have neither.
    gc.collect()
    kept = [
        part
        for o in gc.get_objects()
        if isinstance(o, SplitResult) and not o.scheme
        for part in (o.path, o.query)
        if any(token in part for token in tokens)
    ]
    assert kept == []


async def test_an_expired_or_forged_token_is_closed_with_4003() -> None:
    spy = Spy()
    old = TokenAuthority(SECRET.encode(), ttl_secs=60, clock=lambda: time.time() - 120).issue()
    forged = TokenAuthority(b"another-secret-of-32-bytes-long!").issue()
    async with running_server(spy) as running:
        expired = await close_code(ws_url(running) + f"?token={old}")
        bad = await close_code(ws_url(running) + f"?token={forged}")
    assert expired[0] == 4003
    assert "expired" in expired[1]
    assert bad[0] == 4003
    assert "signature" in bad[1]
    assert spy.calls == []


async def test_a_token_works_once_from_the_query_the_header_or_the_path() -> None:
    spy = Spy()
    async with running_server(spy) as running:
        tokens = [(await start_call(running))["token"] for _ in range(3)]
        for url, headers in [
            (ws_url(running) + f"?token={tokens[0]}", None),
            (ws_url(running), {"Authorization": f"Bearer {tokens[1]}"}),
            (ws_url(running, f"/ws/{tokens[2]}"), None),
        ]:
            code, _ = await close_code(url, additional_headers=headers)
            assert code == 1000  # admitted: the bot ran (and returned at once)
        reused = await close_code(ws_url(running) + f"?token={tokens[0]}")
        assert running.server.refusals == {"token-used": 1}
    assert len(spy.calls) == 3
    assert reused[0] == 4003
    assert "already used" in reused[1]
    # The call's facts: no token or authorization header in what the bot sees.
    facts = spy.calls[1].call
    assert "authorization" not in facts.headers
    assert "token" not in facts.query
    assert facts.wire_format == "protobuf"
    assert facts.client_address is not None and facts.client_address.startswith("127.0.0.1:")


async def test_a_foreign_origin_is_refused_with_403() -> None:
    spy = Spy()
    async with running_server(spy) as running:
        token = (await start_call(running))["token"]
        with pytest.raises(InvalidStatus) as refused:
            await connect(ws_url(running) + f"?token={token}", origin="https://evil.example")
        # The token was not spent on the refused socket.
        code, _ = await close_code(ws_url(running) + f"?token={token}")
    assert refused.value.response.status_code == 403
    assert code == 1000
    assert len(spy.calls) == 1


async def test_an_unknown_path_is_404_and_a_bad_format_is_closed_with_1008() -> None:
    async with running_server() as running:
        with pytest.raises(InvalidStatus) as missing:
            await connect(ws_url(running, "/nowhere"))
        token = (await start_call(running))["token"]
        code, reason = await close_code(ws_url(running) + f"?token={token}&format=mp3")
    assert missing.value.response.status_code == 404
    assert code == 1008
    assert "format must be 'protobuf' or 'raw'" in reason


async def test_an_oversized_message_closes_that_call_with_1009_and_the_server_goes_on() -> None:
    async with running_server(load_bot(ECHO_BOT), max_message_bytes=64 * 1024) as running:
        started = await start_call(running)
        client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
        await client.client_ready()
        await client.wait_for("bot-ready")
        await client.ws.send(b"\x00" * (64 * 1024 + 1))
        await asyncio.wait_for(client._reader, 5)  # type: ignore[arg-type]
        assert client.close_code == 1009
        for _ in range(100):
            if running.server.admission.active == 0:
                break
            await asyncio.sleep(0.02)
        assert running.server.admission.active == 0
        # The next call is served normally: its audio comes back.
        started = await start_call(running)
        again = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
        await again.client_ready()
        await again.wait_for("bot-ready")
        await again.send_audio(b"\x10\x00" * 320)
        for _ in range(100):
            if again.pcm:
                break
            await asyncio.sleep(0.02)
        await again.close()
    assert again.pcm


async def _attempt(url: str, gate: asyncio.Semaphore) -> int | None:
    async with gate:
        try:
            async with connect(url, open_timeout=30) as ws:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 30)
                return ws.close_code
        except (OSError, InvalidStatus, TimeoutError):
            return -1


def _usage(pid: int) -> tuple[int, int]:
    proc = psutil.Process(pid)
    return proc.memory_info().rss, proc.num_fds()


async def test_a_burst_of_1000_calls_above_max_calls_is_refused_cleanly() -> None:
    async with vani_process(
        "run", str(ECHO_BOT), "--port", "0", "--secret", SECRET, "--max-calls", "2"
    ) as server:
        base = server.url
        ws = f"ws://127.0.0.1:{server.port}/ws"
        tokens = TokenAuthority(SECRET.encode())
        async with httpx.AsyncClient() as http:
            # Two calls hold the only two slots.
            held = []
            for _ in range(2):
                started = (await http.post(base + "/start", json={})).json()
                client = await CallClient.open(f"{ws}?token={started['token']}")
                await client.client_ready()
                await client.wait_for("bot-ready")
                held.append(client)
            full = await http.post(base + "/start", json={})
            assert full.status_code == 503
            assert (await http.get(base + "/ready")).status_code == 503
            # Warm up: a first round of refusals, so lazily created objects exist before the
            # measured burst.
            gate = asyncio.Semaphore(100)
            warm = [tokens.issue() for _ in range(100)]
            await asyncio.gather(*(_attempt(f"{ws}?token={t}", gate) for t in warm))
            before_health = (await http.get(base + "/health")).json()
            rss0, fds0 = _usage(server.proc.pid)

            burst = [tokens.issue() for _ in range(1000)]
            codes = await asyncio.gather(*(_attempt(f"{ws}?token={t}", gate) for t in burst))

            await asyncio.sleep(0.5)
            after_health = (await http.get(base + "/health")).json()
            rss1, fds1 = _usage(server.proc.pid)
            # Every attempt was refused with "try again later", none failed another way.
            assert codes.count(1013) == 1000, {c: codes.count(c) for c in set(codes)}
            assert after_health["active_calls"] == 2
            assert (
                after_health["refused"]["capacity"] - before_health["refused"]["capacity"] >= 1000
            )
            # Nothing stayed behind: no task, socket or memory per refused attempt.
            assert after_health["tasks"] <= before_health["tasks"]
            assert after_health["open_sockets"] == 2
            assert fds1 <= fds0 + 2
            assert rss1 - rss0 < 4 * 1024 * 1024, (rss0, rss1)  # < 4 KiB per attempt

            # The held calls end; a token refused for capacity was never spent and now works.
            for client in held:
                await client.close()
            for _ in range(100):
                if (await http.get(base + "/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.05)
            late = await CallClient.open(f"{ws}?token={burst[0]}")
            await late.client_ready()
            await late.wait_for("bot-ready")
            await late.close()


async def test_behind_a_local_proxy_the_callers_address_comes_from_x_forwarded_for() -> None:
    spy = Spy()
    async with running_server(spy) as running:
        token = (await start_call(running))["token"]
        headers = {"X-Forwarded-For": "203.0.113.9, 10.0.0.2"}
        await close_code(ws_url(running) + f"?token={token}", additional_headers=headers)
    assert spy.calls[0].call.client_address == "203.0.113.9"
