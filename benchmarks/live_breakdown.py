"""Where the framework time of ``live_calls.py`` goes: one call's turns on one clock.

    python benchmarks/live_breakdown.py [--secs 20] [--only vani]

One call per framework (server pinned as in ``live_calls.py``, after a warm-up call), the fakes
recording when they were asked and when they answered (``live_fakes.py --trace``). The load
generator's clock and the fakes' are the same (``time.monotonic()``, machine-wide), so every
step of a turn lands on one timeline. For each event the table shows its median time (ms)
relative to the moment the client received ``user-stopped-speaking``; negative values happened
before it (Pipecat flushes its STT at the VAD's stop and ends the turn 0.6 s later). The last
row is the framework time ``live_calls.py`` reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import live_calls  # noqa: E402

CLIENT_EVENTS = ("user-input", "user-transcription", "bot-llm-started", "bot-tts-started")


def _one(framework: str, urls: dict[str, str], secs: float, tmp: Path) -> dict[str, Any]:
    cores = sorted(live_calls.os.sched_getaffinity(0))
    server_cpus = {cores[-1]}
    client_cpus = set(cores) - server_cpus or None
    server_trace = tmp / f"server-{framework}.jsonl"
    os.environ["VANI_BENCH_SERVER_TRACE"] = str(server_trace)  # vani's bot reads it
    server, target = live_calls.start_server(framework, urls, server_cpus, 1)
    try:
        live_calls.run_load(target, 1, 1.0, 0.0, client_cpus, 1)  # warm-up call, as there
        server_trace.unlink(missing_ok=True)  # the warm-up call's steps
        cmd = [sys.executable, str(HERE / "live_load.py"), "--calls", "1", "--ramp", "0"]
        cmd += ["--secs", str(secs), "--raw"]
        cmd += ["--ws-url", target["ws_url"]] if "ws_url" in target else []
        cmd += ["--start-url", target["start_url"]] if "start_url" in target else []
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env=live_calls._env(),
            preexec_fn=live_calls._pin(client_cpus),
            check=True,
        )
        for _ in range(40):  # the bot writes its trace as the call ends
            if framework != "vani" or server_trace.exists():
                break
            time.sleep(0.05)
    finally:
        server.stop()
        del os.environ["VANI_BENCH_SERVER_TRACE"]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    lines = server_trace.read_text().splitlines() if server_trace.exists() else []
    result["server_trace"] = [tuple(json.loads(line)) for line in lines]
    result["server_trace"].sort()
    return result


def _timeline(
    raw: dict[str, Any], trace: list[tuple[float, str]], server: list[tuple[float, str]]
) -> dict[str, list[float]]:
    offsets: dict[str, list[float]] = {}
    for speech_start, eos, window_end, _measured in raw["turns"]:
        first = next((t for t, _ in raw["audio"] if eos <= t < window_end), None)
        stops = [t for t, e in raw["events"] if e == "user-stopped-speaking" and eos <= t]
        if first is None or not stops or stops[0] > first:
            continue
        anchor = stops[0]
        seen: dict[str, float] = {}
        for t, e in raw["events"]:
            if e in CLIENT_EVENTS and eos <= t <= first:
                seen[f"client: {e}"] = t
        for t, e in trace:
            if speech_start <= t <= first:
                seen[f"fake: {e}"] = t  # the last one before the first audio
        blocked = 0.0
        for t, e, _cpu in server:
            # vani's own steps (live_vani_bot.py's trace): the first one after the end of speech.
            if e.startswith("server: event loop blocked"):
                if anchor - 0.1 <= t <= first:
                    blocked += float(e.split()[-2])
            elif eos <= t <= first and e not in seen and "received" not in e and "tick" not in e:
                seen[e] = t
        if server:
            offsets.setdefault("server: event loop blocked >2 ms (sum, ms, from -100)", []).append(
                blocked
            )
            _spans(seen, server, offsets)
        seen["client: first bot audio"] = first
        for name, t in seen.items():
            offsets.setdefault(name, []).append((t - anchor) * 1000)
    return offsets


VAD_STOP = "server: VADProcessor pushed VADUserStoppedSpeakingFrame"
AUDIO_OUT = "server: socket write of audio done"
FAKE_SPANS = (
    ("fake: stt-flush", "fake: stt-transcript-sent"),
    ("fake: llm-request", "fake: llm-response-sent"),
    ("fake: tts-text", "fake: tts-first-audio-sent"),
)


def _spans(
    seen: dict[str, float], server: list[tuple[float, str, float]], out: dict[str, list[float]]
) -> None:
    """The server's span from its VAD stop to its first audio write: wall time, the fakes' own
    share of it, the rest (vani + loopback hops + waiting for a core), and vani's CPU time."""
    if VAD_STOP not in seen or AUDIO_OUT not in seen:
        return
    a, b = seen[VAD_STOP], seen[AUDIO_OUT]
    fakes = sum(seen[y] - seen[x] for x, y in FAKE_SPANS if x in seen and y in seen)
    readings = [(t, cpu) for t, _e, cpu in server if cpu >= 0]

    def cpu_at(moment: float) -> float:
        before = [cpu for t, cpu in readings if t <= moment]
        return before[-1] if before else 0.0

    rows = {
        "span: server VAD stop -> first audio written (wall)": b - a,
        "span: of which the fakes' own time (flush->transcript, request->stream sent, "
        "text->first audio)": fakes,
        "span: framework share (wall - fakes: vani, loopback hops, waits for a core)": b
        - a
        - fakes,
        "span: vani's event-loop CPU time in that span": cpu_at(b) - cpu_at(a),
    }
    for name, secs in rows.items():
        out.setdefault(name, []).append(secs * 1000)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--secs", type=float, default=30.0)
    ap.add_argument("--only", choices=["vani", "pipecat"])
    args = ap.parse_args()
    frameworks = [args.only] if args.only else ["vani", "pipecat"]
    if live_calls.pipecat_python() is None and "pipecat" in frameworks:
        frameworks.remove("pipecat")
    with tempfile.TemporaryDirectory() as tmp:
        trace_path = Path(tmp) / "trace.jsonl"
        fakes = live_calls.Proc(
            [sys.executable, str(HERE / "live_fakes.py"), "--trace", str(trace_path)],
            cpus=None,
            env=live_calls._env(),
        )
        assert fakes.popen.stdout is not None
        urls = json.loads(fakes.popen.stdout.readline())
        live_calls.EXPECTED_REPLY_SECS = 1.6
        try:
            runs = {fw: _one(fw, urls, args.secs, Path(tmp)) for fw in frameworks}
        finally:
            fakes.stop()
        trace = [tuple(json.loads(line)) for line in trace_path.read_text().splitlines()]
    table = {
        fw: _timeline(run["raw"][0], trace, run["server_trace"])  # type: ignore[arg-type]
        for fw, run in runs.items()
    }
    names = sorted(
        {n for t in table.values() for n in t},
        key=lambda n: (
            n.startswith("span:") or "blocked" in n,
            min(statistics.median(t[n]) for t in table.values() if n in t),
        ),
    )
    print(f"{'event (ms after user-stopped-speaking reached the client)':62}", end="")
    print("".join(f"{fw:>12}" for fw in frameworks))
    for name in names:
        cells = []
        for fw in frameworks:
            values = table[fw].get(name)
            cells.append(f"{statistics.median(values):12.1f}" if values else f"{'—':>12}")
        print(f"{name:62}" + "".join(cells))
    print(
        json.dumps({fw: {n: statistics.median(v) for n, v in t.items()} for fw, t in table.items()})
    )


if __name__ == "__main__":
    main()
