"""Phone calls through the Twilio media-stream path, vani against Pipecat 1.14: same bot, same
fakes, same simulated provider, one run.

    python benchmarks/phone_calls.py                 # both: N = 5, 10, 20 calls, then search N
    python benchmarks/phone_calls.py --quick         # CI: 2 calls, 1 turn, each framework
    python benchmarks/phone_calls.py --only vani --calls 40 --turns 3 --no-search
    python benchmarks/phone_calls.py --calls 5 --start 4 --with-websocket   # beside WebSocket

Processes (the shape of ``live_calls.py``, whose helpers this reuses):

1. the fakes (``live_fakes.py``): Sarvam STT, Sarvam TTS, OpenAI, zero latency;
2. the server under test, pinned to one core: ``vani run benchmarks/phone_vani_bot.py`` (Twilio
   webhook with signature check, ``TelephonyTransport`` with marks) or Pipecat's Twilio bot
   (``phone_pipecat_bot.py``: ``TwilioFrameSerializer`` + ``FastAPIWebsocketTransport``), the
   same pipeline as the live-calls benchmark (Silero VAD, Sarvam STT, OpenAI, Sarvam TTS);
3. the load generator (``phone_load.py``): N ``TelephonySimulator`` Twilio calls, each speaking a
   real 8 kHz telephone recording per turn in real time (20 ms μ-law messages).

The headline figure is phone calls per core: the largest N whose every call keeps its p99
output lag under 100 ms with no gap and every turn answered, the server pinned to one core (a
search like ``live_calls.py``'s: from ``--start``, grow by 1.5× until a run falls behind, then
bisect to ~10 %; each run a fresh server). ``--with-websocket`` runs ``live_calls.py``'s search
for the same framework in the same session, so the two figures come from the same machine
state. The quick mode's "search" is its one run (N = 2): whether it kept up.

Figures per framework and N: server CPU per call (percent of one core while N calls run, and
the calls per core that implies), the worst output-audio lag and gaps on the simulated
handsets, turns answered and the answer latency (caller's end of speech to first bot audio,
which includes the VAD's stop delay), and the time from a call's first ``media`` message to its
first audio reaching the VAD (a probe in each bot; Pipecat issue #5868 measured 1.6 s).
Prints a table and one JSON line; ``--json PATH`` writes the JSON too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from live_calls import (  # noqa: E402
    Proc,
    _env,
    _free_port,
    _wait_healthy,
    pipecat_python,
    start_fakes,
    tree_cpu_secs,
)

AUTH_TOKEN = "bench-twilio-token"
LAG_LIMIT_MS = 100.0
RAMP_RATE = 10.0  # calls started per second
GAP_MS = 20.0  # an underrun of the handset this long is a gap (``--gap-ms``)


def _cores() -> tuple[set[int] | None, set[int] | None]:
    """(server cores, everything else): the server gets one core when there are two or more."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


def start_server(
    framework: str, urls: dict[str, str], cpus: set[int] | None, probe: str
) -> tuple[Proc, str]:
    port = _free_port()
    if framework == "pipecat":
        python = pipecat_python()
        if python is None:
            raise RuntimeError("set VANI_PIPECAT_PYTHON to a Python with pipecat-ai 1.14")
        cmd = [
            python, str(HERE / "phone_pipecat_bot.py"), "--port", str(port),
            "--stt", urls["stt"], "--tts", urls["tts"], "--openai", urls["openai"],
            "--probe", probe,
        ]  # fmt: skip
        proc = Proc(cmd, cpus=cpus, env=dict(os.environ, PYTHONPATH=""))
    else:
        cmd = [
            sys.executable, "-c", "import sys; from vani.cli import main; sys.exit(main())",
            "run", str(HERE / "phone_vani_bot.py"), "--host", "127.0.0.1", "--port", str(port),
            "--max-calls", "100000", "--workers", "1",
        ]  # fmt: skip
        env = _env(
            {
                "VANI_BENCH_STT_URL": urls["stt"],
                "VANI_BENCH_TTS_URL": urls["tts"],
                "VANI_BENCH_OPENAI_URL": urls["openai"],
                "VANI_BENCH_PROBE": probe,
                "SARVAM_API_KEY": "test-key",
                "OPENAI_API_KEY": "sk-test",
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "VANI_SECRET": "phone-bench-secret-" + "x" * 16,
            }
        )
        proc = Proc(cmd, cpus=cpus, env=env)
    try:
        _wait_healthy(proc, port, 60.0)
    except Exception:
        proc.stop()
        raise
    return proc, f"http://127.0.0.1:{port}"


def one_run(
    framework: str,
    urls: dict[str, str],
    calls: int,
    turns: int,
    server_cpus: set[int] | None,
    other_cpus: set[int] | None,
) -> dict[str, Any]:
    """A fresh server, one warm-up call, then ``calls`` calls of ``turns`` turns, started over
    ``calls / RAMP_RATE`` seconds."""
    with tempfile.TemporaryDirectory(prefix="phone_calls_") as tmp:
        probe = str(Path(tmp) / "probe.txt")
        Path(probe).touch()
        server, url = start_server(framework, urls, server_cpus, probe)
        try:
            # One warm-up call (model loads, first connections), not measured.
            warm = Proc(
                [sys.executable, str(HERE / "phone_load.py"), "--url", url, "--calls", "1",
                 "--turns", "1", "--auth-token", AUTH_TOKEN, "--json", str(Path(tmp) / "w.json")],
                cpus=other_cpus, env=_env(),
            )  # fmt: skip
            warm.popen.wait(120)
            warm.stop()
            Path(probe).write_text("")
            out = Path(tmp) / "load.json"
            cpu0 = tree_cpu_secs(server.popen.pid)
            load = Proc(
                [sys.executable, str(HERE / "phone_load.py"), "--url", url, "--calls",
                 str(calls), "--turns", str(turns), "--auth-token", AUTH_TOKEN,
                 "--ramp-secs", str(max(1.0, calls / RAMP_RATE)), "--gap-ms", str(GAP_MS),
                 "--json", str(out)],
                cpus=other_cpus, env=_env(),
            )  # fmt: skip
            load.popen.wait(600)
            cpu1 = tree_cpu_secs(server.popen.pid)
            crashed = server.popen.poll() is not None
            tail = load.tail()
            load.stop()
            if not out.exists():
                raise RuntimeError(f"the load generator failed:\n{tail}")
            data = json.loads(out.read_text())
            probes = dict(line.split() for line in Path(probe).read_text().splitlines() if line)
        finally:
            server.stop()
    results = [c for c in data["calls"] if "error" not in c]
    errors = [c["error"] for c in data["calls"] if "error" in c]
    wall = data["ended"] - data["started"]
    to_vad = sorted(
        float(probes[c["call_id"]]) - c["first_media_at"]
        for c in results
        if c["call_id"] in probes and c["first_media_at"] is not None
    )
    answers = [a for c in results for a in c["answers"]]
    cpu_share = (cpu1 - cpu0) / wall / max(1, calls)
    worst_p99 = max((c["p99_lag"] for c in results), default=0.0)
    gaps = sum(c["gaps"] for c in results)
    keeps_up = (
        not errors
        and not crashed
        and len(results) == calls
        and 1000 * worst_p99 < LAG_LIMIT_MS
        and gaps == 0
        and len(answers) == calls * turns
    )
    return {
        "framework": framework,
        "calls": calls,
        "turns": turns,
        "errors": errors,
        "cpu_per_call_pct": round(100 * cpu_share, 2),
        "calls_per_core": round(1 / cpu_share, 1) if cpu_share > 0 else None,
        "keeps_up": keeps_up,
        "server_crashed": crashed,
        "worst_p99_lag_ms": round(1000 * worst_p99, 1),
        "max_lag_ms": round(1000 * max((c["max_lag"] for c in results), default=0.0), 1),
        "gaps": gaps,
        "turns_answered": f"{len(answers)}/{calls * turns}",
        "answer_p50_ms": round(1000 * statistics.median(answers), 1) if answers else None,
        "media_to_vad_p50_ms": round(1000 * statistics.median(to_vad), 2) if to_vad else None,
        "media_to_vad_max_ms": round(1000 * max(to_vad), 2) if to_vad else None,
        "loadgen_loop_lag_p99_ms": data.get("loop_lag_p99_ms"),
        # The load generator itself fell behind: the run says little about the server.
        "loadgen_saturated": (data.get("loop_lag_p99_ms") or 0.0) > 20.0,
    }


def search(
    framework: str,
    urls: dict[str, str],
    turns: int,
    cpus: tuple[set[int] | None, set[int] | None],
    start: int,
    max_calls: int,
    max_runs: int,
) -> tuple[int, list[dict[str, Any]]]:
    """Largest N that keeps up: from ``start`` grow by 1.5× until a run falls behind (or N
    passes ``max_calls``), then bisect to ~10 %; at most ``max_runs`` runs."""
    runs: list[dict[str, Any]] = []

    def run(n: int) -> bool:
        started = time.monotonic()
        runs.append(one_run(framework, urls, n, turns, *cpus))
        runs[-1]["run_secs"] = round(time.monotonic() - started, 1)
        print(table(runs[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
        return bool(runs[-1]["keeps_up"])

    good, bad, n = 0, 0, max(1, start)
    while not bad and len(runs) < max_runs:
        if run(n):
            good, n = n, int(n * 1.5) + 1
            if n > max_calls:
                return good, runs
        else:
            bad = n
    if not bad:
        return good, runs  # a lower bound: no run fell behind (see "capped" in the report)
    lo, hi = good, bad
    while hi - lo > max(1, lo // 10) and len(runs) < max_runs:
        mid = (lo + hi) // 2
        if mid == 0:
            break
        lo, hi = (mid, hi) if run(mid) else (lo, mid)
    return lo, runs


def websocket_search(
    framework: str, urls: dict[str, str], cpus: tuple[set[int] | None, set[int] | None],
    fakes_pid: int, start: int, max_calls: int, secs: float,
) -> tuple[int, list[dict[str, Any]]]:  # fmt: skip
    """``live_calls.py``'s search (WebSocket, protobuf framing) with the same fakes and cores."""
    import live_calls
    from live_fakes import REPLY

    live_calls.EXPECTED_REPLY_SECS = len(REPLY) * 0.040
    plan = {
        "urls": urls, "server_cpus": cpus[0], "client_cpus": cpus[1], "workers": 1,
        "secs": secs, "ramp_rate": RAMP_RATE, "loadgens": 1, "max_calls": max_calls,
        "fakes_pid": fakes_pid,
    }  # fmt: skip

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    found, runs = live_calls.search(framework, start, plan, log)
    keep = ("calls", "keeps_up", "server_cpu_pct_per_call", "calls_per_core_by_cpu")
    return found, [{k: r.get(k) for k in keep} for r in runs]


def table(rows: list[dict[str, Any]]) -> str:
    cols = [
        ("framework", "framework"), ("calls", "N"), ("cpu_per_call_pct", "CPU/call %"),
        ("calls_per_core", "calls/core"), ("keeps_up", "keeps up"),
        ("worst_p99_lag_ms", "p99 lag ms"), ("max_lag_ms", "max lag ms"), ("gaps", "gaps"),
        ("turns_answered", "answered"), ("answer_p50_ms", "answer p50 ms"),
        ("media_to_vad_p50_ms", "media→VAD p50 ms"), ("media_to_vad_max_ms", "media→VAD max ms"),
    ]  # fmt: skip
    lines = [" | ".join(h for _, h in cols), " | ".join("---" for _ in cols)]
    for r in rows:
        lines.append(" | ".join(str(r.get(k)) for k, _ in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 calls, 1 turn (CI)")
    ap.add_argument("--only", choices=["vani", "pipecat"], default=None)
    ap.add_argument("--calls", type=int, nargs="*", default=None, help="CPU runs at these N")
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--no-search", action="store_true", help="skip the search for N")
    ap.add_argument("--start", type=int, default=None, help="first N of the search")
    ap.add_argument("--max-calls", type=int, default=400, help="the search stops here")
    ap.add_argument("--max-runs", type=int, default=8, help="runs per search at most")
    ap.add_argument("--search-turns", type=int, default=1, help="turns per call in the search")
    ap.add_argument(
        "--with-websocket", action="store_true", help="also live_calls.py's search, same session"
    )
    ap.add_argument("--ws-secs", type=float, default=10.0, help="measured secs per WS run")
    ap.add_argument("--gap-ms", type=float, default=GAP_MS, help="underrun counted as a gap")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    globals()["GAP_MS"] = args.gap_ms
    sizes = [] if args.quick else (args.calls if args.calls is not None else [5, 10, 20])
    turns = 1 if args.quick else args.turns
    frameworks = [args.only] if args.only else ["vani", "pipecat"]
    if "pipecat" in frameworks and pipecat_python() is None:
        print("phone_calls: VANI_PIPECAT_PYTHON not set; vani only", file=sys.stderr)
        frameworks = [f for f in frameworks if f != "pipecat"]
    cpus = _cores()
    fakes, urls = start_fakes(cpus[1])
    report: dict[str, Any] = {
        "machine": {"cpus": len(os.sched_getaffinity(0)), "load_avg": os.getloadavg()},
        "mode": "quick" if args.quick else "full",
        "lag_limit_ms": LAG_LIMIT_MS,
        "gap_ms": args.gap_ms,
        "capped": {},
        "rows": [],
        "largest_n": {},
        "search": {},
    }
    rows: list[dict[str, Any]] = report["rows"]
    try:
        for n in sizes:
            for framework in frameworks:
                started = time.monotonic()
                rows.append(one_run(framework, urls, n, turns, *cpus))
                rows[-1]["run_secs"] = round(time.monotonic() - started, 1)
                print(table(rows[-1:]).splitlines()[-1], flush=True)
        for framework in frameworks:
            if args.quick:
                found, runs = search(framework, urls, 1, cpus, 2, 2, 1)
                rows.extend(runs)
            elif args.no_search:
                continue
            else:
                by_cpu = [r["calls_per_core"] for r in rows if r["framework"] == framework]
                start = args.start or max(2, int(0.5 * (max(by_cpu, default=None) or 8)))
                found, runs = search(
                    framework, urls, args.search_turns, cpus, start, args.max_calls,
                    args.max_runs,
                )  # fmt: skip
            report["largest_n"][framework] = found
            # No run fell behind: the figure is a lower bound (max runs or max calls reached).
            report["capped"][framework] = all(r["keeps_up"] for r in runs)
            report["search"][framework] = [
                {k: r[k] for k in ("calls", "keeps_up", "worst_p99_lag_ms", "gaps",
                                   "turns_answered", "loadgen_saturated")}
                for r in runs
            ]  # fmt: skip
            if args.with_websocket and not args.quick:
                start = max(1, report["largest_n"][framework] or 2)
                ws_n, ws_runs = websocket_search(
                    framework, urls, cpus, fakes.popen.pid, start, args.max_calls, args.ws_secs
                )
                report.setdefault("websocket_largest_n", {})[framework] = ws_n
                report.setdefault("websocket_search", {})[framework] = ws_runs
    finally:
        fakes.stop()
    report["machine"]["load_avg_end"] = os.getloadavg()
    print(table(rows))
    for framework, n in report["largest_n"].items():
        ws = report.get("websocket_largest_n", {}).get(framework)
        beside = f"; over WebSocket {ws}" if ws is not None else ""
        bound = " (a lower bound: no run fell behind)" if report["capped"][framework] else ""
        print(f"{framework}: largest N through Twilio on one core = {n}{bound}{beside}")
    print(json.dumps(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
