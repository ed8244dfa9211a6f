"""Which HTTP/WebSocket stack carries vani's calls: measured, not guessed.

    python benchmarks/server_stack.py [--calls 100] [--secs 6] [--stacks websockets uvicorn-sansio]

For each stack a server runs in its own process (pinned to one core when the machine allows) and
a load generator in this process opens ``--calls`` WebSocket connections that each behave like a
live call's audio: a 640-byte binary message (20 ms of 16 kHz s16le) every 20 ms upstream, and
the server answers each with a 960-byte message (20 ms at 24 kHz) downstream. The server does
nothing else, so the figures are the stack's own cost per call:

- ``cpu_pct_per_call``: the server's CPU time (user + system, from /proc via psutil) over the
  measured window, divided by the window and the number of calls;
- ``us_per_message``: the same CPU time per message handled (one in + one out);
- ``rss_kib_per_call``: the server's RSS growth from idle to all calls connected, per call;
- ``connect_ms_p50``: the time to open one connection (handshake) while the others run.

Stacks: ``websockets`` (the ``websockets`` asyncio server alone: it cannot answer ``POST``, so
it cannot serve ``/start``), ``bridge`` (what vani uses: uvicorn answers HTTP and hands each
WebSocket upgrade to a ``websockets`` connection, :mod:`vani.server.wsbridge`),
``uvicorn-sansio`` (uvicorn + a Starlette WebSocket route over uvicorn's ``websockets-sansio``
protocol, ASGI messages per frame) and ``uvicorn-legacy`` (the same over uvicorn's older
``websockets`` protocol). Each stack runs ``--rounds`` times, alternating, and the medians are
printed (one JSON list); the load generator is kept off the server's core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

UP = b"\x01\x00" * 320  # 20 ms at 16 kHz
DOWN = b"\x02\x00" * 480  # 20 ms at 24 kHz

_SERVER = r"""
import asyncio, os, sys
stack, port = sys.argv[1], int(sys.argv[2])
DOWN = b"\x02\x00" * 480
if stack == "websockets":
    from websockets.asyncio.server import serve
    async def handler(ws):
        async for _ in ws:
            await ws.send(DOWN)
    async def main():
        async with serve(handler, "127.0.0.1", port, max_size=1 << 20, compression=None):
            print("ready", flush=True)
            await asyncio.Future()
    asyncio.run(main())
elif stack == "bridge":
    import uvicorn
    from starlette.applications import Starlette
    from vani.server.wsbridge import WebSocketBridge
    class Limits:
        max_message_bytes = 1 << 20
        ping_interval_secs = 20.0
        ping_timeout_secs = 20.0
        open_timeout_secs = 10.0
    async def accept(connection, request):
        return None
    async def handler(ws):
        async for _ in ws:
            await ws.send(DOWN)
    bridge = WebSocketBridge(Limits(), accept, handler)
    config = uvicorn.Config(Starlette(), host="127.0.0.1", port=port, http="h11",
                            ws=bridge.protocol_factory, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    async def main():
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        await task
    asyncio.run(main())
else:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocketDisconnect
    async def handler(ws):
        await ws.accept()
        try:
            while True:
                await ws.receive_bytes()
                await ws.send_bytes(DOWN)
        except WebSocketDisconnect:
            pass
    app = Starlette(routes=[WebSocketRoute("/ws", handler)])
    ws = "websockets-sansio" if stack == "uvicorn-sansio" else "websockets"
    config = uvicorn.Config(app, host="127.0.0.1", port=port, ws=ws, log_level="warning",
                            lifespan="off", ws_max_size=1 << 20, ws_per_message_deflate=False)
    server = uvicorn.Server(config)
    async def main():
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        print("ready", flush=True)
        await task
    asyncio.run(main())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _call(url: str, stop: asyncio.Event, counts: list[int], connect_ms: list[float]) -> None:
    from websockets.asyncio.client import connect

    t0 = time.perf_counter()
    async with connect(url, max_size=1 << 20, compression=None) as ws:
        connect_ms.append((time.perf_counter() - t0) * 1000)

        async def reader() -> None:
            async for _ in ws:
                counts[0] += 1

        read = asyncio.create_task(reader())
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stop.is_set():
            await ws.send(UP)
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        read.cancel()


async def _measure(stack: str, calls: int, secs: float) -> dict[str, float | int | str]:
    import psutil

    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once per round, before measuring
        [sys.executable, "-c", _SERVER, stack, str(port)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line.strip() == "ready", line
        ps = psutil.Process(proc.pid)
        if hasattr(ps, "cpu_affinity") and len(os.sched_getaffinity(0)) > 1:
            ps.cpu_affinity([0])
        idle_rss = ps.memory_info().rss
        stop = asyncio.Event()
        counts = [0]
        connect_ms: list[float] = []
        url = f"ws://127.0.0.1:{port}/ws"
        tasks = []
        for _ in range(calls):
            tasks.append(asyncio.create_task(_call(url, stop, counts, connect_ms)))
            await asyncio.sleep(0.002)
        while len(connect_ms) < calls:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # settle
        rss = ps.memory_info().rss
        cpu0 = ps.cpu_times()
        n0, t0 = counts[0], time.perf_counter()
        await asyncio.sleep(secs)
        cpu1 = ps.cpu_times()
        n1, t1 = counts[0], time.perf_counter()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        window = t1 - t0
        messages = n1 - n0
        return {
            "stack": stack,
            "calls": calls,
            "cpu_pct_per_call": round(100 * cpu / window / calls, 3),
            "us_per_message": round(1e6 * cpu / max(messages, 1), 1),
            "messages_per_sec": round(messages / window),
            "rss_kib_per_call": round((rss - idle_rss) / 1024 / calls, 1),
            "connect_ms_p50": round(statistics.median(connect_ms), 2),
        }
    finally:
        proc.terminate()
        proc.wait(5)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--secs", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3, help="rounds, stacks alternating")
    parser.add_argument(
        "--stacks", nargs="+", default=["websockets", "bridge", "uvicorn-sansio", "uvicorn-legacy"]
    )
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[1:])  # off the server's core
    rounds: dict[str, list[dict[str, float | int | str]]] = {s: [] for s in args.stacks}
    for _ in range(args.rounds):
        for stack in args.stacks:
            rounds[stack].append(asyncio.run(_measure(stack, args.calls, args.secs)))
    results = []
    for stack, runs in rounds.items():
        summary: dict[str, float | int | str] = {"stack": stack, "calls": args.calls}
        for key in runs[0]:
            if key not in summary:
                summary[key] = statistics.median(float(r[key]) for r in runs)
        summary["us_per_message_all"] = [float(r["us_per_message"]) for r in runs]  # type: ignore[assignment]
        results.append(summary)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
