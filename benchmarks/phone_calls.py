"""Phone calls through the Twilio media-stream path, vani against Pipecat 1.14: same bot, same
fakes, same simulated provider, one run.

    python benchmarks/phone_calls.py                 # both frameworks, N = 5, 10, 20 calls
    python benchmarks/phone_calls.py --quick         # CI: 2 calls, 1 turn, each framework
    python benchmarks/phone_calls.py --only vani --calls 40 --turns 3

Processes (the shape of ``live_calls.py``, whose helpers this reuses):

1. the fakes (``live_fakes.py``): Sarvam STT, Sarvam TTS, OpenAI, zero latency;
2. the server under test, pinned to one core: ``vani run benchmarks/phone_vani_bot.py`` (Twilio
   webhook with signature check, ``TelephonyTransport`` with marks) or Pipecat's Twilio bot
   (``phone_pipecat_bot.py``: ``TwilioFrameSerializer`` + ``FastAPIWebsocketTransport``), the
   same pipeline as the live-calls benchmark (Silero VAD, Sarvam STT, OpenAI, Sarvam TTS);
3. the load generator (``phone_load.py``): N ``TelephonySimulator`` Twilio calls, each speaking a
   real 8 kHz telephone recording per turn in real time (20 ms μ-law messages).

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
                 "--json", str(out)],
                cpus=other_cpus, env=_env(),
            )  # fmt: skip
            load.popen.wait(600)
            cpu1 = tree_cpu_secs(server.popen.pid)
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
    return {
        "framework": framework,
        "calls": calls,
        "turns": turns,
        "errors": errors,
        "cpu_per_call_pct": round(100 * cpu_share, 2),
        "calls_per_core": round(1 / cpu_share, 1) if cpu_share > 0 else None,
        "max_lag_ms": round(1000 * max((c["max_lag"] for c in results), default=0.0), 1),
        "gaps": sum(c["gaps"] for c in results),
        "turns_answered": f"{len(answers)}/{calls * turns}",
        "answer_p50_ms": round(1000 * statistics.median(answers), 1) if answers else None,
        "media_to_vad_p50_ms": round(1000 * statistics.median(to_vad), 2) if to_vad else None,
        "media_to_vad_max_ms": round(1000 * max(to_vad), 2) if to_vad else None,
    }


def table(rows: list[dict[str, Any]]) -> str:
    cols = [
        ("framework", "framework"), ("calls", "N"), ("cpu_per_call_pct", "CPU/call %"),
        ("calls_per_core", "calls/core"), ("max_lag_ms", "max lag ms"), ("gaps", "gaps"),
        ("turns_answered", "answered"), ("answer_p50_ms", "answer p50 ms"),
        ("media_to_vad_p50_ms", "media→VAD p50 ms"), ("media_to_vad_max_ms", "media→VAD max ms"),
    ]  # fmt: skip
    lines = [" | ".join(h for _, h in cols), " | ".join("---" for _ in cols)]
    for r in rows:
        lines.append(" | ".join(str(r.get(k)) for k, _ in cols))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 calls, 1 turn (CI)")
    ap.add_argument("--only", choices=["vani", "pipecat"], default=None)
    ap.add_argument("--calls", type=int, nargs="*", default=None)
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    sizes = [2] if args.quick else (args.calls or [5, 10, 20])
    turns = 1 if args.quick else args.turns
    frameworks = [args.only] if args.only else ["vani", "pipecat"]
    if "pipecat" in frameworks and pipecat_python() is None:
        print("phone_calls: VANI_PIPECAT_PYTHON not set; vani only", file=sys.stderr)
        frameworks = [f for f in frameworks if f != "pipecat"]
    server_cpus, other_cpus = _cores()
    fakes, urls = start_fakes(other_cpus)
    rows: list[dict[str, Any]] = []
    try:
        for n in sizes:
            for framework in frameworks:
                started = time.monotonic()
                rows.append(one_run(framework, urls, n, turns, server_cpus, other_cpus))
                rows[-1]["run_secs"] = round(time.monotonic() - started, 1)
                print(table(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        fakes.stop()
    print(table(rows))
    print(json.dumps(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
