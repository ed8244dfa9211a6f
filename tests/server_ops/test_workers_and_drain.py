"""``vani run --workers N`` and drain, as real processes with real sockets: calls spread over the
workers, a worker killed with SIGKILL takes only its own calls down and is replaced, metrics add
up across workers, SIGTERM drains (no new calls, calls in progress go on, then a goodbye)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections import Counter

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from tests.server.client import CallClient
from tests.server_ops.live import (
    VaniProcess,
    open_call,
    say,
    start_token,
    wait_until,
    whoami,
)


def _metric(url: str, name: str) -> float:
    body = httpx.get(url + "/metrics", timeout=5).text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    raise AssertionError(f"{name} not in /metrics")


async def _calls_on_every_worker(
    url: str, workers: int, per_worker: int
) -> dict[int, list[CallClient]]:
    by_pid: dict[int, list[CallClient]] = {}
    for _ in range(60):
        client = await open_call(url)
        by_pid.setdefault(await whoami(client), []).append(client)
        if len(by_pid) == workers and all(len(c) >= per_worker for c in by_pid.values()):
            break
    return by_pid


async def test_workers_share_calls_and_a_killed_worker_ends_only_its_calls() -> None:
    with VaniProcess.start(workers=2) as server:
        by_pid = await _calls_on_every_worker(server.url, 2, 2)
        assert len(by_pid) == 2, "the kernel gave every call to one worker"
        clients = [c for cs in by_pid.values() for c in cs]
        # Prometheus multiprocess mode: any worker's /metrics counts the whole server.
        assert _metric(server.url, "vani_active_calls") == len(clients)
        victim, survivor = sorted(by_pid)
        os.kill(victim, signal.SIGKILL)
        # The victim's calls end (their sockets drop); the survivor's calls go on talking.
        for client in by_pid[victim]:
            assert await wait_until(lambda c=client: c._reader is not None and c._reader.done())
        for client in by_pid[survivor]:
            await say(client, "still there")
        # The parent starts a replacement: a new pid takes calls.
        new_pids: set[int] = set()
        for _ in range(40):
            client = await open_call(server.url)
            pid = await whoami(client)
            await client.close()
            new_pids.add(pid)
            if pid not in by_pid:
                break
        assert new_pids - set(by_pid), "no replacement worker took a call"
        live = len(by_pid[survivor])
        assert await wait_until(lambda: _metric(server.url, "vani_active_calls") == live)
        for client in by_pid[survivor]:
            await client.close()
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0


def _worker_calls(url: str) -> list[int]:
    calls: list[int] = httpx.get(url + "/health", timeout=5).json()["worker_calls"]
    return sorted(calls)


async def test_calls_spread_evenly_over_workers_whatever_the_kernel_hashes() -> None:
    # Calls opened one after another: whichever worker the kernel gives a connection to, it
    # goes to the worker holding fewest calls, so no worker ever holds two more than another
    # (SO_REUSEPORT alone spreads them like coin tosses). Calls passed from a sibling are whole
    # calls: they answer and speak.
    with VaniProcess.start(workers=3) as server:
        clients: list[tuple[CallClient, int]] = []
        try:
            await _spread_evenly(server, clients)
        finally:
            for client, _ in clients:
                await client.close()
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0


async def _spread_evenly(server: VaniProcess, clients: list[tuple[CallClient, int]]) -> None:
    for _ in range(12):
        client = await open_call(server.url)
        clients.append((client, await whoami(client)))
        calls = _worker_calls(server.url)
        assert sum(calls) == len(clients) and calls[-1] - calls[0] <= 1, calls
    by_pid = Counter(pid for _, pid in clients)
    assert sorted(by_pid.values()) == [4, 4, 4], by_pid
    for client, _ in clients:
        await say(client, "hello")
    # One worker's calls end: the next calls all go to it, wherever they are accepted.
    emptied = clients[0][1]
    for client, pid in clients:
        if pid == emptied:
            await client.close()
    assert await wait_until(lambda: _worker_calls(server.url) == [0, 4, 4])
    for _ in range(4):
        client = await open_call(server.url)
        clients.append((client, await whoami(client)))
        assert clients[-1][1] == emptied
    assert _worker_calls(server.url) == [4, 4, 4]


async def test_ready_says_503_only_when_every_worker_is_full() -> None:
    # One call fills one worker (--max-calls 1): requests the kernel gives that worker are
    # passed to the other, so the process still reports room; the next call fills it.
    with VaniProcess.start("--max-calls=1", workers=2) as server:
        clients = [await open_call(server.url)]
        fresh = httpx.Limits(max_keepalive_connections=0)  # each request a new connection
        try:
            async with httpx.AsyncClient(limits=fresh) as http:
                for _ in range(20):
                    assert (await http.get(server.url + "/ready")).status_code == 200
                clients.append(await open_call(server.url))
                assert len({await whoami(c) for c in clients}) == 2
                for _ in range(20):
                    assert (await http.get(server.url + "/ready")).status_code == 503
        finally:
            for client in clients:
                await client.close()
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0


async def test_sigterm_drains_new_calls_are_refused_and_the_call_in_progress_goes_on() -> None:
    with VaniProcess.start(workers=1) as server:
        call = await open_call(server.url)
        await say(call, "first")
        server.signal(signal.SIGTERM)
        assert await wait_until(
            lambda: httpx.get(server.url + "/ready", timeout=5).status_code == 503
        )
        async with httpx.AsyncClient() as http:
            assert (await http.get(server.url + "/health")).status_code == 200
            refused = await http.post(server.url + "/start", json={})
        assert refused.status_code == 503
        # A token issued before the drain (or by another instance) gets 1013 here...
        token = await _token_from_elsewhere()
        late = await CallClient.open(f"ws://127.0.0.1:{server.port}/ws?token={token}")
        await wait_until(lambda: late._reader is not None and late._reader.done())
        assert late.close_code == 1013
        # ... and through a proxy the upgrade itself is refused, so the proxy tries elsewhere.
        with pytest.raises(InvalidStatus) as info:
            await CallClient.open(
                f"ws://127.0.0.1:{server.port}/ws?token={token}",
                additional_headers={"X-Forwarded-For": "10.0.0.1"},
            )
        assert info.value.response.status_code == 503
        # The call in progress is not disturbed, and when it ends the process exits cleanly.
        await say(call, "second")
        await say(call, "third")
        assert server.proc.poll() is None
        await call.close()
        assert await asyncio.to_thread(server.wait, 30) == 0
    assert any("draining" in line for line in server.lines)


async def _token_from_elsewhere() -> str:
    with VaniProcess.start(workers=1) as other:
        return (await start_token(other.url))["token"]


async def test_calls_still_running_at_the_drain_timeout_get_a_goodbye() -> None:
    with VaniProcess.start("--drain-timeout=1", workers=1) as server:
        call = await open_call(server.url)
        await say(call, "hello")
        server.signal(signal.SIGTERM)
        assert await wait_until(lambda: call._reader is not None and call._reader.done(), 20)
        spoken = " ".join(m["data"]["text"] for m in call.of_type("bot-output"))
        assert "Goodbye!" in spoken
        assert call.close_code == 1000  # a normal close, not a dropped socket
        assert await asyncio.to_thread(server.wait, 30) == 0


def _gone(pid: int) -> bool:
    """The process ended (a zombie waiting for its new parent to reap it counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
async def test_workers_drain_and_exit_when_the_supervisor_is_killed() -> None:
    with VaniProcess.start("--drain-timeout=1", workers=2) as server:

        def pids() -> set[int]:
            found = (re.search(r"\(worker \d+, pid (\d+)\)", line) for line in server.lines)
            return {int(m.group(1)) for m in found if m}

        assert await wait_until(lambda: len(pids()) == 2), server.lines
        workers = pids()
        call = await open_call(server.url)
        try:
            await say(call, "hello")
            server.proc.kill()  # SIGKILL: the supervisor forwards nothing
            server.proc.wait(10)
            # The call in progress gets the drain's goodbye, every worker exits, the port is
            # free.
            assert await wait_until(lambda: call._reader is not None and call._reader.done(), 20)
            spoken = " ".join(m["data"]["text"] for m in call.of_type("bot-output"))
            assert "Goodbye!" in spoken
            assert await wait_until(lambda: all(_gone(pid) for pid in workers), 20), [
                pid for pid in workers if not _gone(pid)
            ]
            async with httpx.AsyncClient() as http:
                with pytest.raises(httpx.ConnectError):
                    await http.get(server.url + "/health", timeout=5)
        finally:
            await call.close()
            for pid in workers:  # only when the test failed: no orphan outlives it
                if not _gone(pid):
                    os.kill(pid, signal.SIGKILL)
