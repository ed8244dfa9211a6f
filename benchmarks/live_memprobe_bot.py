"""``live_vani_bot.py`` with a memory probe, for ``live_memprobe.py``: on SIGUSR1 the server
writes what it holds (tracemalloc's allocation sites, objects by type, frames queued and their
audio bytes, asyncio tasks) to ``$VANI_MEMPROBE_DIR/<n>.json``. With ``VANI_MEMPROBE_FRAMES``
> 0 tracemalloc traces that many frames per allocation (slow: use it at small N)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sys
import tracemalloc
from collections import Counter
from types import FrameType
from typing import Any

from live_vani_bot import bot

__all__ = ["bot"]

OUT = os.environ.get("VANI_MEMPROBE_DIR", "")
DEPTH = int(os.environ.get("VANI_MEMPROBE_FRAMES", "0"))
_count = 0


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _dump() -> dict[str, Any]:
    from vani.frames import Frame

    rss_at_signal = _rss_kib()
    gc.collect()
    objs = gc.get_objects()
    types = Counter(type(o).__qualname__ for o in objs)
    frames: Counter[str] = Counter()
    audio_bytes: Counter[str] = Counter()
    for o in objs:
        if isinstance(o, Frame):
            name = type(o).__name__
            frames[name] += 1
            audio = getattr(o, "audio", None)
            if isinstance(audio, (bytes, bytearray, memoryview)):
                audio_bytes[name] += len(audio)
    from vani.processors.frame_processor import FrameProcessor

    queued: Counter[str] = Counter()
    for o in objs:
        if isinstance(o, FrameProcessor) and o._queue is not None:
            queued[type(o).__name__] += len(o._queue)
    # Who holds the input audio: the types of the containers referring to a sample of it.
    holders: Counter[str] = Counter()
    sample = [o for o in objs if type(o).__name__ == "InputAudioRawFrame"][:200]
    for f in sample:
        for r in gc.get_referrers(f):
            if r is objs or r is sample:
                continue
            holders[type(r).__qualname__] += 1
            if type(r) is tuple:
                for rr in gc.get_referrers(r):
                    if rr is not objs and rr is not sample:
                        holders["tuple<-" + type(rr).__qualname__] += 1
    del sample
    buffers: Counter[str] = Counter()
    for o in objs:
        if isinstance(o, (bytearray,)):
            buffers["bytearray"] += len(o)
    tasks: Counter[str] = Counter()
    try:
        for t in asyncio.all_tasks():
            coro = t.get_coro()
            tasks[getattr(coro, "__qualname__", type(coro).__name__)] += 1
    except RuntimeError:
        pass
    report: dict[str, Any] = {
        "rss_kib": rss_at_signal,
        "threads": len(os.listdir("/proc/self/task")),
        "gc_objects": len(objs),
        "gc_frozen": gc.get_freeze_count(),
        "gc_threshold": gc.get_threshold(),
        "types": types.most_common(60),
        "frames": frames.most_common(),
        "frame_audio_bytes": audio_bytes.most_common(),
        "bytearray_bytes": dict(buffers),
        "tasks": tasks.most_common(),
        "queued": queued.most_common(),
        "audio_holders": holders.most_common(12),
        "modules": sorted(sys.modules),
    }
    del objs
    import ctypes

    # What the C heap holds freed but not returned: RSS drops by it when trimmed.
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    report["rss_after_trim_kib"] = _rss_kib()
    if tracemalloc.is_tracing():
        snap = tracemalloc.take_snapshot()
        report["traced_kib"] = tracemalloc.get_traced_memory()[0] // 1024
        snap.dump(os.path.join(OUT, f"{_count}.snap"))
    return report


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _count
    report = _dump()
    with open(os.path.join(OUT, f"{_count}.json"), "w") as f:
        json.dump(report, f)
    _count += 1
    print(f"memprobe: dump {_count - 1} written", file=sys.stderr, flush=True)


if OUT:
    if DEPTH:
        tracemalloc.start(DEPTH)
    signal.signal(signal.SIGUSR1, _on_signal)
