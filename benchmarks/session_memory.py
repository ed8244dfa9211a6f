"""Resident memory per idle started session: a task over 5 pass-through processors, started.

Run it in a fresh process (it measures the whole process's RSS)::

    python benchmarks/session_memory.py [--framework vani|pipecat] [--sessions 200]

One warm-up session is started and ended first, so lazily imported modules and first-use
caches are not charged to the sessions. Then ``--sessions`` sessions are started (each with its
own runner, as a server gives each call) and left idle; the figure is (RSS after - RSS before) /
sessions, after a ``gc.collect()`` on both sides. Pipecat runs with the minimal configuration
described in ``spine_scenarios.py``. Prints one JSON object. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from spine_scenarios import SESSION_PROCESSORS, Framework, Session, load, processors


def rss_bytes() -> int:
    """Current resident set size of this process."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def new_session(fw: Framework) -> Session:
    echo = processors(fw).Echo
    return Session(fw, [echo() for _ in range(SESSION_PROCESSORS)])


async def measure(fw: Framework, sessions: int) -> dict[str, Any]:
    warm = new_session(fw)
    await warm.start()
    await warm.stop()
    gc.collect()
    before = rss_bytes()
    live = []
    for _ in range(sessions):
        s = new_session(fw)
        await s.start()
        live.append(s)
    await asyncio.sleep(0.2)  # idle: let anything a start schedules settle
    gc.collect()
    after = rss_bytes()
    await asyncio.gather(*(s.stop() for s in live))
    return {
        "sessions": sessions,
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
        "per_session_kib": (after - before) / sessions / 1024,
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--framework", choices=["vani", "pipecat"], default="vani")
    ap.add_argument("--sessions", type=int, default=200)
    args = ap.parse_args(argv)
    fw = load(args.framework)
    out: dict[str, Any] = {"framework": fw.name, "version": fw.version, "scenario": "sessions"}
    out |= asyncio.run(measure(fw, args.sessions))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
