"""A standard Pipecat bot with Pipecat's analyzers vs the same bot with vani's drop-ins.

    VANI_PIPECAT_PYTHON=/work/pipecat-venv/bin/python python benchmarks/pipecat_dropin.py
    ... --max-calls 60 --secs 15    # the search (default), capped and shorter per run
    ... --calls 10 --secs 20        # one size each, no search
    ... --quick                     # CI: 2 calls each for 8 s, no search
    ... --vad-only                  # Pipecat's VAD-only turn end instead of the smart-turn model
    ... --profile 12                # also py-spy (if on PATH) each side's server at 12 calls
    ... --no-search --cpu-calls 6 --cpu-rounds 3   # only the alternating CPU comparison

The bot is benchmarks/live_pipecat_bot.py: Pipecat 1.14's FastAPI WebSocket transport, its
ProtobufFrameSerializer, SileroVADAnalyzer, Sarvam STT, OpenAI LLM and Sarvam TTS services
pointed at vani's fakes, and (by default) Pipecat's default end-of-turn model,
LocalSmartTurnAnalyzerV3. The "vani" side changes only the imports of SileroVADAnalyzer and
LocalSmartTurnAnalyzerV3 to vani.contrib.pipecat. (The resampler is not on this bot's path:
the transport runs at the caller's and the TTS's own rates.)

Each side runs through benchmarks/live_calls.py's machinery — the same fakes, load generator and
server pinned to one core — and is judged by the live-call pass rule: every turn answered, p99
output lag < 100 ms, no gap, and the median reply latency (the caller's end of speech to the
first bot audio the caller receives, as in the live-call benchmark's stricter rule) at most 2×
the same side's one-call value. The framework time (the server's user-stopped-speaking to its
first bot audio, ~10 ms here) is reported beside it but is not the clause: doubling a 10 ms
figure is within its own run-to-run noise, and it leaves out the wait for the end-of-turn
model, which is what load delays in this bot. First one call, then the search:
grow N by 1.5× from an estimate made from the CPU time per call until a run fails, then bisect
to within 5 %. Then ``--cpu-rounds`` runs of ``--cpu-calls`` calls, the sides alternating, for
the CPU per call at one N (robust to a shared machine, where the pass rule mostly measures the
other tenants). The report gives, side by side, the calls one core holds (the search's answer),
the CPU per call (at the largest passing N, and the alternating rounds' median), and ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import live_calls  # noqa: E402

LATENCY_KEY = "eos_to_first_audio_p50_ms"  # caller's end of speech -> first bot audio, median


def passes(run: dict[str, Any], one_call_ms: float | None) -> bool:
    """The live-call pass rule, with the reply-latency clause against the one-call value."""
    if not run.get("keeps_up"):
        return False
    median = run.get(LATENCY_KEY)
    if one_call_ms is None or median is None:
        return True
    return bool(median <= 2.0 * one_call_ms)


def search(
    one: Callable[[int], dict[str, Any]], start: int, max_calls: int, ok: Callable[..., bool]
) -> tuple[int, list[dict[str, Any]]]:
    """Largest N that passes: grow by 1.5× until a run fails, then bisect to ~5 %."""
    runs: list[dict[str, Any]] = []
    good, bad, n = 0, 0, start
    while not bad:
        r = one(n)
        r["passes"] = ok(r)
        runs.append(r)
        if r["passes"]:
            good, n = n, int(n * 1.5) + 1
            if n > max_calls:
                if good == max_calls:
                    return good, runs
                n = max_calls
        else:
            bad = n
    lo, hi = good, bad
    while hi - lo > max(1, lo // 20):
        mid = (lo + hi) // 2
        if mid == 0:
            break
        r = one(mid)
        r["passes"] = ok(r)
        runs.append(r)
        lo, hi = (mid, hi) if r["passes"] else (lo, mid)
    return lo, runs


def profile(pid: int, secs: float, out: Path) -> str | None:
    """py-spy's top functions of ``pid`` over ``secs`` (None when py-spy is not installed)."""
    spy = shutil.which("py-spy") or os.environ.get("VANI_PYSPY")
    if not spy:
        return None
    cmd = [spy, "record", "--pid", str(pid), "--duration", str(int(secs)), "--format", "raw"]
    cmd += ["--output", str(out), "--nonblocking", "--rate", "50"]
    subprocess.run(cmd, check=False, capture_output=True, timeout=secs + 60)
    return str(out) if out.exists() else None


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def side_env(env: dict[str, str]) -> Iterator[None]:
    """The bot's environment for one side (what live_calls.start_server passes on)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cpu_rounds(
    sides: dict[str, tuple[str, dict[str, str]]], calls: int, rounds: int, plan: dict[str, Any]
) -> dict[str, Any]:
    """CPU per call at one N, the sides alternating (ABAB...), so drift hits both alike."""
    out: dict[str, Any] = {"calls": calls, "rounds": rounds}
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for key in order:
            name, env = sides[key]
            log(f"-- CPU round {r + 1}: {name}, {calls} call(s)")
            with side_env(env):
                run = live_calls.one_run("pipecat", calls, plan, log)
            keep = ("server_cpu_pct_per_call", "server_runqueue_wait_pct", "keeps_up", "turns")
            out.setdefault(key, []).append({k: run.get(k) for k in (*keep, "turns_answered")})
    for key in sides:
        cpu = sorted(x["server_cpu_pct_per_call"] for x in out[key] if x["server_cpu_pct_per_call"])
        out[f"{key}_median_cpu_pct_per_call"] = cpu[len(cpu) // 2] if cpu else None
    return out


def run_side(
    name: str, env: dict[str, str], args: argparse.Namespace, plan: dict[str, Any]
) -> dict[str, Any]:
    def one(n: int) -> dict[str, Any]:
        log(f"-- {name}: {n} call(s)")
        return live_calls.one_run("pipecat", n, plan, log)

    side: dict[str, Any] = {}
    with side_env(env):
        print(f"== {name}", file=sys.stderr, flush=True)
        if args.quick or args.calls:
            side["runs"] = [one(args.calls or 2)]
            side["runs"][0]["passes"] = side["runs"][0]["keeps_up"]
            return side
        first = one(1)
        side["one_call"] = first
        one_ms = first.get(LATENCY_KEY)
        first["passes"] = passes(first, None)
        # A starting N from the CPU one call took (its fixed cost makes this an underestimate).
        by_cpu = first.get("calls_per_core_by_cpu") or 10
        start = args.start or max(2, min(args.max_calls, int(by_cpu * 0.6)))
        side["largest_n"], side["runs"] = search(
            one, start, args.max_calls, lambda r: passes(r, one_ms)
        )
        if args.profile:
            side["profile"] = profile_run(name, args.profile, plan)
    return side


def profile_run(name: str, calls: int, plan: dict[str, Any]) -> dict[str, Any]:
    """One run of ``calls`` calls with py-spy sampling the server for the measured window."""
    server, target = live_calls.start_server("pipecat", plan["urls"], plan["server_cpus"], 1)
    out = Path(tempfile.gettempdir()) / f"dropin_{name.split()[0].strip(chr(39))}.spy.txt"
    try:
        live_calls.run_load(target, 1, 1.0, 0.0, plan["client_cpus"], 1)
        holder: dict[str, str | None] = {}
        ramp = calls / plan["ramp_rate"]

        def sample() -> None:
            time.sleep(ramp + 1.0)  # once every call is in
            holder["path"] = profile(server.popen.pid, plan["secs"] - 2, out)

        spy = threading.Thread(target=sample)
        spy.start()
        live_calls.run_load(target, calls, plan["secs"], ramp, plan["client_cpus"], 1)
        spy.join()
    finally:
        server.stop()
    log(f"profile of {name}: {holder.get('path')}")
    return {"calls": calls, "py_spy_raw": holder.get("path")}


def summary(side: dict[str, Any]) -> dict[str, Any]:
    runs = side.get("runs") or []
    largest = side.get("largest_n")
    best = [r for r in runs if r.get("passes") and (largest is None or r["calls"] == largest)]
    at = best[-1] if best else (runs[-1] if runs else {})
    keep = ("calls", "passes", "keeps_up", "server_cpu_pct_per_call", "calls_per_core_by_cpu")
    keep += ("calls_failed", "turns", "turns_answered", "lag_p99_ms", "gaps", LATENCY_KEY)
    keep += ("framework_p50_ms",)
    keep += ("server_runqueue_wait_pct",)
    out: dict[str, Any] = {"largest_n": largest, "at": {k: at.get(k) for k in keep}}
    if "one_call" in side:
        one = side["one_call"]
        out["one_call"] = {k: one.get(k) for k in keep}
    out["runs"] = [{k: r.get(k) for k in keep} for r in runs]
    if "profile" in side:
        out["profile"] = side["profile"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI: 2 calls each, short, no search")
    ap.add_argument("--calls", type=int, help="one run of this many calls each (no search)")
    ap.add_argument("--secs", type=float, help="measured seconds per run (default 15; quick 8)")
    ap.add_argument("--start", type=int, help="first N of the search (default: from CPU time)")
    ap.add_argument("--max-calls", type=int, default=60, help="the search stops here")
    ap.add_argument("--ramp-rate", type=float, default=5.0, help="calls started per second")
    ap.add_argument("--vad-only", action="store_true", help="VAD-only turn end, no smart-turn")
    ap.add_argument("--profile", type=int, help="also py-spy each server at this many calls")
    ap.add_argument("--only", choices=["pipecat", "vani"], help="one side")
    ap.add_argument("--no-search", action="store_true", help="only the CPU rounds")
    ap.add_argument("--cpu-calls", type=int, default=6, help="N of the alternating CPU rounds")
    ap.add_argument("--cpu-rounds", type=int, default=2, help="rounds of each (0: none)")
    ap.add_argument(
        "--nice", type=int, default=0, help="niceness of the benchmark's processes (root)"
    )
    ap.add_argument("--json", type=Path, help="also write the report here")
    args = ap.parse_args(argv)
    if live_calls.pipecat_python() is None:
        raise SystemExit("set VANI_PIPECAT_PYTHON to a Python with pipecat-ai 1.14")
    turn = {} if args.vad_only else {"VANI_DROPIN_TURN": "smart"}
    live_calls.NICE = args.nice
    import vani

    vani_path = os.environ.get("VANI_PIPECAT_VANI") or str(Path(vani.__file__).resolve().parents[1])
    cores = sorted(os.sched_getaffinity(0))
    server = {cores[-1]}
    client = set(cores) - server or None
    fakes, urls = live_calls.start_fakes(client)
    from live_fakes import REPLY

    live_calls.EXPECTED_REPLY_SECS = len(REPLY) * 0.040
    plan = {
        "urls": urls,
        "server_cpus": server,
        "client_cpus": client,
        "workers": 1,
        "secs": args.secs or (8.0 if args.quick else 15.0),
        "ramp_rate": args.ramp_rate,
        "loadgens": 1,
        "max_calls": args.max_calls,
        "fakes_pid": fakes.popen.pid,
    }
    sides = {
        "pipecat": ("Pipecat's analyzers", dict(turn)),
        "vani_dropin": (
            "vani.contrib.pipecat",
            {**turn, "VANI_DROPIN": "vani", "VANI_DROPIN_PATH": vani_path},
        ),
    }
    if args.only:
        sides = {k: v for k, v in sides.items() if k.startswith(args.only)}
    result: dict[str, Any] = {
        "machine": {"cpus": len(cores), "load_avg": os.getloadavg()},
        "turn": "smart-turn v3" if turn else "vad-only",
        "secs_per_run": plan["secs"],
    }
    try:
        if not args.no_search:
            for key, (name, env) in sides.items():
                result[key] = summary(run_side(name, env, args, plan))
        if args.cpu_rounds and not args.quick and not args.calls and len(sides) == 2:
            result["cpu"] = cpu_rounds(sides, args.cpu_calls, args.cpu_rounds, plan)
    finally:
        fakes.stop()
    result["machine"]["load_avg_end"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result) + "\n")
    if "cpu" in result:
        ca = result["cpu"]["pipecat_median_cpu_pct_per_call"]
        cb = result["cpu"]["vani_dropin_median_cpu_pct_per_call"]
        if ca and cb:
            print(
                f"CPU per call at N = {args.cpu_calls}, median of {args.cpu_rounds} alternating"
                f" rounds (% of a core): Pipecat {ca}, with vani's adapters {cb}"
                f" ({ca / cb:.2f}x less; {100 / ca:.1f} vs {100 / cb:.1f} calls per core by CPU)"
            )
    if "pipecat" in result and "vani_dropin" in result:
        a, b = result["pipecat"], result["vani_dropin"]
        if a["largest_n"] and b["largest_n"]:
            print(
                f"calls per core: Pipecat {a['largest_n']}, with vani's adapters"
                f" {b['largest_n']} ({b['largest_n'] / a['largest_n']:.2f}x)"
            )
        ca, cb = a["at"]["server_cpu_pct_per_call"], b["at"]["server_cpu_pct_per_call"]
        if ca and cb:
            print(
                f"CPU per call (% of a core): Pipecat {ca}, with vani's adapters {cb}"
                f" ({ca / cb:.2f}x less)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
