"""A standard Pipecat bot with Pipecat's analyzers vs the same bot with vani's drop-ins.

    VANI_PIPECAT_PYTHON=/work/pipecat-venv/bin/python python benchmarks/pipecat_dropin.py
    ... --calls 10 --secs 20        # one size each, no search (minutes, not tens of minutes)
    ... --vad-only                  # Pipecat's VAD-only turn end instead of the smart-turn model

The bot is benchmarks/live_pipecat_bot.py: Pipecat 1.14's FastAPI WebSocket transport, its
ProtobufFrameSerializer, SileroVADAnalyzer, Sarvam STT, OpenAI LLM and Sarvam TTS services
pointed at vani's fakes, and (by default) Pipecat's default end-of-turn model,
LocalSmartTurnAnalyzerV3. The "vani" side changes only the imports of SileroVADAnalyzer and
LocalSmartTurnAnalyzerV3 to vani.contrib.pipecat. (The resampler is not on this bot's path:
the transport runs at the caller's and the TTS's own rates.) Each side runs through
benchmarks/live_calls.py — the same load generator, fakes and pass rule (every turn answered,
p99 output gap < 100 ms, median reply latency ≤ 2× the one-call value) — and the report gives
the calls one core holds and the CPU per call for each, side by side.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def run_side(name: str, args: list[str], env: dict[str, str]) -> dict[str, Any]:
    import live_calls

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        print(f"== {name}", file=sys.stderr, flush=True)
        report: dict[str, Any] = live_calls.main(["--only", "pipecat", *args])
    finally:
        os.environ.clear()
        os.environ.update(saved)
    side: dict[str, Any] = report["frameworks"]["pipecat"]
    return side


def summary(side: dict[str, Any]) -> dict[str, Any]:
    run = side.get("latency") or {}
    keep = ("keeps_up", "server_cpu_pct_per_call", "calls_per_core_by_cpu", "calls_failed")
    out = {k: run.get(k) for k in keep}
    out.update({k: v for k, v in run.items() if "latency" in k or "gap" in k})
    out["largest_n"] = side.get("largest_n")
    return out


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    turn = {} if "--vad-only" in args else {"VANI_DROPIN_TURN": "smart"}
    args = [a for a in args if a != "--vad-only"]
    import vani

    vani_path = str(Path(vani.__file__).resolve().parents[1])
    if os.environ.get("VANI_PIPECAT_VANI"):
        vani_path = os.environ["VANI_PIPECAT_VANI"]
    theirs = run_side("Pipecat's analyzers", args, dict(turn))
    ours = run_side(
        "vani.contrib.pipecat", args, {**turn, "VANI_DROPIN": "vani", "VANI_DROPIN_PATH": vani_path}
    )
    result = {"pipecat": summary(theirs), "vani_dropin": summary(ours), "turn": turn or "vad-only"}
    print(json.dumps(result, indent=2))
    a, b = result["pipecat"]["largest_n"], result["vani_dropin"]["largest_n"]
    if a and b:
        print(f"calls per core: Pipecat {a}, with vani's adapters {b} ({b / a:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
