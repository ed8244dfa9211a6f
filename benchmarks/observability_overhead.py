"""What observability costs a call: CPU of the same call with metrics + traces + report on and off.

    python benchmarks/observability_overhead.py --minutes 5 --rounds 3

The call is tests/reliability/long_call.py's (FileTransport on the virtual clock, Silero VAD,
Sarvam STT/TTS and OpenAI fakes in a child process, a caller who talks, barges in and makes the
bot call a tool), so it runs as fast as the CPU allows and its CPU time is the call's cost.
"off": no observer and no metrics from the services (``enable_metrics=False``); "observer":
"off" plus one observer that does nothing, which is what every live call has anyway (the RAVI
observer), so "on" against it is what observability adds to a live call. "on": what
``vani serve`` does for every call — ``observe()`` with Prometheus metrics, an OpenTelemetry
tracer (SDK provider, batch span processor, an exporter that drops the spans) and the session
report written to a temporary directory. Rounds alternate off/on; the best of each is kept.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after site-packages: the installed vani wins


async def one_call(minutes: float, urls: list[str], variant: str, tmp: str) -> dict[str, float]:
    from tests.observability.call_rig import Endpoints, build_caller, build_task, run_task
    from tests.reliability.long_call import cycles_for
    from vani.pipeline.observers import BaseObserver

    caller = build_caller(cycles_for(minutes))
    observed = variant == "on"
    task, _, _ = build_task(caller, Endpoints(*urls), observers=observed)
    if variant == "observer":
        # What a live call always has: an observer (the RAVI observer) on every push.
        task.add_observer(BaseObserver())
    turns = 0.0
    if observed:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            SpanExporter,
            SpanExportResult,
        )

        from vani.observability import VaniMetrics, observe

        class Drop(SpanExporter):
            def export(self, spans: object) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Drop()))
        aggregator = observe(
            task,
            session_id="bench",
            report_dir=tmp,
            metrics=VaniMetrics(),
            tracer_provider=provider,
        )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await run_task(task)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if observed:
        provider.shutdown()
        turns = float(aggregator.turn_count)
    return {"cpu_secs": cpu, "wall_secs": wall, "turns": turns}


def measure(minutes: float, rounds: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, str(ROOT)])}
    fakes = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "reliability" / "long_call.py"),
            "--serve-fakes",
            "100000",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    off: list[float] = []
    base: list[float] = []
    on: list[float] = []
    turns = 0.0
    try:
        assert fakes.stdout is not None
        urls = json.loads(fakes.stdout.readline())
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(one_call(min(minutes, 0.5), urls, "on", tmp))  # warm-up: models, imports
            for _ in range(rounds):
                off.append(asyncio.run(one_call(minutes, urls, "off", tmp))["cpu_secs"])
                base.append(asyncio.run(one_call(minutes, urls, "observer", tmp))["cpu_secs"])
                result = asyncio.run(one_call(minutes, urls, "on", tmp))
                on.append(result["cpu_secs"])
                turns = result["turns"]
    finally:
        fakes.terminate()
        fakes.wait(10)

    def pct(a: list[float], b: list[float]) -> float:
        return round((min(b) - min(a)) / min(a) * 100, 2)

    return {
        "simulated_minutes": minutes,
        "turns": turns,
        "cpu_secs_off": [round(x, 3) for x in off],
        "cpu_secs_observer_only": [round(x, 3) for x in base],
        "cpu_secs_on": [round(x, 3) for x in on],
        "overhead_pct_vs_live_baseline": pct(base, on),
        "overhead_pct_vs_no_observer": pct(off, on),
        "target_pct": 5.0,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=5.0, help="simulated minutes per call")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.minutes, args.rounds)))
