"""Many WebSocket callers at once, in their own process; prints one JSON line.

    python tests/reliability/load_clients.py http://127.0.0.1:PORT --calls 500 --ramp 5
    python tests/reliability/load_clients.py URL --calls 200 --vanish

Each caller: ``POST /start``, the socket with its token, ``client-ready``, then types a
``send-text`` and waits for the bot's whole spoken answer, then hangs up. With ``--vanish`` every
caller waits until the bot is speaking to it, and once all are mid-sentence the process kills
itself (``SIGKILL``): every socket drops at the same instant, without a close frame. It prints
``ALL_SPEAKING`` just before.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after site-packages: the installed vani wins


async def one_call(
    url: str, index: int, vanish: bool, speaking: list[int], gate: Gate
) -> dict[str, object]:
    import httpx

    from tests.server.client import CallClient

    began = time.monotonic()
    async with httpx.AsyncClient(timeout=60) as http:
        started = (await http.post(url + "/start", json={"body": {"caller": index}})).json()
    client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
    await client.client_ready()
    await client.wait_for("bot-ready", timeout=120)
    await gate.arrive()  # every call is open before any talks: all are in progress at once
    await client.send_rtvi("send-text", {"content": f"caller {index} here"})
    if vanish:
        await client.wait_for("bot-started-speaking", timeout=120)
        speaking.append(index)
        await asyncio.Event().wait()  # until the process dies
    await client.wait_for("bot-stopped-speaking", timeout=120)
    errors = client.of_type("error")
    audio = sum(n for _, n, _ in client.audio)
    await client.close()
    return {"secs": time.monotonic() - began, "errors": len(errors), "audio_bytes": audio}


class Gate:
    def __init__(self, count: int) -> None:
        self.count = count
        self.arrived = 0
        self.open = asyncio.Event()

    async def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.count:
            print(f"ALL_OPEN {self.count}", flush=True)
            self.open.set()
        await self.open.wait()


async def main(url: str, calls: int, ramp: float, vanish: bool) -> None:
    speaking: list[int] = []
    tasks = []
    gate = Gate(calls)
    for i in range(calls):
        tasks.append(asyncio.create_task(one_call(url, i, vanish, speaking, gate)))
        await asyncio.sleep(ramp / calls)
    if vanish:
        while len(speaking) < calls:
            failed = [t for t in tasks if t.done()]
            if failed:
                print(json.dumps({"failed": [repr(t.exception()) for t in failed][:5]}), flush=True)
                os._exit(1)
            await asyncio.sleep(0.01)
        print("ALL_SPEAKING", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    ok = [r for r in results if isinstance(r, dict)]
    failures = [repr(r) for r in results if not isinstance(r, dict)]
    print(
        json.dumps(
            {
                "completed": len(ok),
                "failures": failures[:10],
                "with_errors": sum(1 for r in ok if r["errors"]),
                "without_audio": sum(1 for r in ok if not r["audio_bytes"]),
                "max_secs": round(max((float(r["secs"]) for r in ok), default=0.0), 2),  # type: ignore[arg-type]
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--ramp", type=float, default=5.0, help="seconds to open all calls")
    parser.add_argument("--vanish", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.calls, args.ramp, args.vanish))
