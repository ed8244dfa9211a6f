"""An hour-long call on the virtual clock, measured for leaks; prints one JSON object.

    python tests/reliability/long_call.py --minutes 60      # the long run (a few minutes)
    python tests/reliability/long_call.py --minutes 10      # what CI runs (test_long_call.py)

The whole pipeline runs in this process — FileTransport (virtual clock) → Silero VAD → Sarvam
STT → context → OpenAI LLM (with a tool every 4th turn) → Sarvam TTS → output — with the
observability aggregator attached; the three fakes run in a child process so that what they
record does not count here. The caller talks, waits for the answer, and barges in on every third
reply. Every simulated minute the script samples RSS, live asyncio tasks, gc-tracked objects and
open sockets; after the warm-up it fits a line to each and reports the slope per hour.

The call's own recording is switched off (a FileTransport keeps the whole call as a WAV in
memory by design), and the LLM context is kept to a window, as a long-running bot does.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[2]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after site-packages: the installed vani wins


async def serve_fakes(turns: int) -> None:
    from tests.observability.call_rig import _utterances, responder_factory
    from vani.testing.fake_openai import FakeOpenAIServer
    from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
    from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer

    texts = [t for t, _ in _utterances()]
    transcripts = [texts[i % len(texts)] for i in range(turns)]
    async with (
        FakeOpenAIServer(responder=responder_factory()) as llm,  # type: ignore[arg-type]
        FakeSarvamSTTServer(transcripts=transcripts) as stt,
        FakeSarvamTTSServer() as tts,
    ):
        print(json.dumps([llm.base_url, stt.base_url, tts.base_url]), flush=True)
        await asyncio.Event().wait()


def _rss() -> int:
    from vani.observability.prometheus import rss_bytes

    return rss_bytes()


def _sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def _slope_per_hour(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    if var == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 3600


def cycles_for(minutes: float) -> int:
    cycle_secs = (1.7 + 7.0 * 2 + 1.5 + 2.0) / 3  # build_caller's mix of waits and barge-ins
    return int(minutes * 60 / cycle_secs) + 1


async def run(
    minutes: float, warmup_minutes: float, urls: list[str], debug_types: bool = False
) -> dict[str, object]:
    from tests.observability.call_rig import Endpoints, build_caller, build_task, run_task
    from vani.observability import observe
    from vani.transports.file import CallRecording

    class _Discard(list[object]):
        def append(self, item: object) -> None:
            pass

    class NullRecording(CallRecording):
        def _put(self, track: bytearray, at: float, pcm: bytes) -> None:
            pass

        def truncate_bot(self, at: float) -> None:
            pass

    caller = build_caller(cycles_for(minutes))
    task, transport, _ = build_task(caller, Endpoints(*urls))
    transport.recording = NullRecording(24000, bot_chunks=_Discard(), events=_Discard())  # type: ignore[arg-type]
    transport._recording_started = True
    aggregator = observe(task, session_id="long-call", tracing=False, max_turns=20)
    samples: list[dict[str, float]] = []
    # Which coroutines were live at each sample: a failing floor then names what stayed behind.
    task_names: list[dict[str, int]] = []
    type_counts: list[dict[str, int]] = []
    began = time.perf_counter()

    async def sampler() -> None:
        clock = transport.clock
        await transport._output_started.wait()
        minute = 0
        while True:
            await clock.sleep_until(minute * 60.0)
            gc.collect()
            if debug_types and minute in (int(warmup_minutes), int(minutes) - 1):
                counts: dict[str, int] = {}
                for obj in gc.get_objects():
                    name = type(obj).__qualname__
                    counts[name] = counts.get(name, 0) + 1
                type_counts.append(counts)
            names: dict[str, int] = {}
            for t in asyncio.all_tasks():
                coro = t.get_coro()
                name = getattr(coro, "__qualname__", type(coro).__qualname__)
                names[name] = names.get(name, 0) + 1
            task_names.append(names)
            samples.append(
                {
                    "sim_secs": clock.now(),
                    "wall_secs": time.perf_counter() - began,
                    "rss_mib": _rss() / 2**20,
                    "tasks": len(asyncio.all_tasks()),
                    "objects": len(gc.get_objects()),
                    "sockets": _sockets(),
                    "turns": aggregator.turn_count,
                }
            )
            minute += 1

    sampling = asyncio.create_task(sampler())
    await run_task(task)
    sampling.cancel()
    await asyncio.wait({sampling})
    # Samples while the caller is still on the line (the last one may fall after the hang-up).
    during = [s for s in samples if s["sim_secs"] < caller.seconds]
    after = [s for s in during if s["sim_secs"] >= warmup_minutes * 60]
    xs = [s["sim_secs"] for s in after]
    slopes = {
        key: round(_slope_per_hour(xs, [s[key] for s in after]), 3)
        for key in ("rss_mib", "tasks", "objects", "sockets")
    }
    growth_by_type: dict[str, int] = {}
    task_growth: dict[str, int] = {}
    if len(after) >= 3:
        first_i = samples.index(min(after[:3], key=lambda s: s["tasks"]))
        last_i = samples.index(min(after[-3:], key=lambda s: s["tasks"]))
        a, b = task_names[first_i], task_names[last_i]
        task_growth = {k: b.get(k, 0) - a.get(k, 0) for k in set(a) | set(b)}
        task_growth = {k: v for k, v in task_growth.items() if v}
    if len(type_counts) == 2:
        first, last = type_counts
        diffs = {k: last.get(k, 0) - first.get(k, 0) for k in set(first) | set(last)}
        growth_by_type = dict(sorted(diffs.items(), key=lambda kv: -abs(kv[1]))[:15])
    return {
        "growth_by_type": growth_by_type,
        "task_growth": task_growth,
        "simulated_minutes": round(samples[-1]["sim_secs"] / 60, 2) if samples else 0,
        "wall_secs": round(time.perf_counter() - began, 1),
        "turns": aggregator.turn_count,
        "interruptions": aggregator.interruptions,
        "tool_calls": len(aggregator.tool_calls),
        "errors": [e.error for e in aggregator.errors],
        "transcripts_expected": len(caller.transcripts),
        "slope_per_hour_after_warmup": slopes,
        "growth_after_warmup": {
            key: round(after[-1][key] - after[0][key], 2) if after else 0.0
            for key in ("rss_mib", "tasks", "objects", "sockets")
        },
        # A sample may catch a task or socket in flight (an LLM run, a reconnect); a leak raises
        # the floor: the least seen over the last three samples against the first three.
        "floor_growth_after_warmup": {
            key: round(min(x[key] for x in after[-3:]) - min(x[key] for x in after[:3]), 2)
            if len(after) >= 3
            else 0.0
            for key in ("rss_mib", "tasks", "objects", "sockets")
        },
        "samples": [{k: round(v, 2) for k, v in s.items()} for s in samples],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--warmup-minutes", type=float, default=3.0)
    parser.add_argument("--debug-types", action="store_true", help="list object growth by type")
    parser.add_argument("--serve-fakes", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fakes:
        asyncio.run(serve_fakes(args.serve_fakes))
        return
    child = subprocess.Popen(
        [sys.executable, str(HERE), "--serve-fakes", str(cycles_for(args.minutes) + 10)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, str(ROOT)])},
    )
    try:
        assert child.stdout is not None
        urls = json.loads(child.stdout.readline())
        result = asyncio.run(run(args.minutes, args.warmup_minutes, urls, args.debug_types))
    finally:
        child.terminate()
        child.wait(10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
