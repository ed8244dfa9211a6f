"""What one WebSocket send costs the sender on this machine, by how long the receiving process
has been idle: the floor under every hop of ``live_calls.py``'s framework time.

    python benchmarks/live_wakeup.py [--sends 300]

A receiver in its own process reads on 127.0.0.1; the sender times ``await ws.send()`` of a
small text message (the size of a TTS request), back to back and after the receiver has been
idle 2 ms and 20 ms. On a virtual machine, waking a peer whose virtual CPU went idle is paid
inside the sender's system call; on bare metal the three figures are close. No vani code is
involved: this is the machine, not the framework.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

RECEIVER = """
import asyncio, sys
from websockets.asyncio.server import serve

async def main():
    async def drain(ws):
        async for _ in ws:
            pass
    async with serve(drain, "127.0.0.1", 0) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""

MESSAGE = json.dumps({"type": "text", "data": {"text": "Sure, a table for two is booked for you."}})


async def measure(port: int, sends: int) -> dict[str, dict[str, float]]:
    from websockets.asyncio.client import connect

    results: dict[str, dict[str, float]] = {}
    async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
        for _ in range(50):  # warm-up
            await ws.send(MESSAGE)
        for label, idle in (("back to back", 0.0), ("idle 2 ms", 0.002), ("idle 20 ms", 0.02)):
            took: list[float] = []
            for _ in range(sends):
                if idle:
                    await asyncio.sleep(idle)
                start = time.perf_counter()
                await ws.send(MESSAGE)
                took.append(time.perf_counter() - start)
            took.sort()
            results[label] = {
                "p50_us": round(took[len(took) // 2] * 1e6, 1),
                "p90_us": round(took[int(len(took) * 0.9)] * 1e6, 1),
            }
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sends", type=int, default=300, help="sends per case")
    args = ap.parse_args()
    receiver = subprocess.Popen(
        [sys.executable, "-c", RECEIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        results = asyncio.run(measure(port, args.sends))
    finally:
        assert receiver.stdin is not None
        receiver.stdin.close()
        receiver.wait(timeout=10)
    for label, figures in results.items():
        print(
            f"{label:<14} send p50 {figures['p50_us']:>7.1f} µs   p90 {figures['p90_us']:>7.1f} µs"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
