"""Where the offline demo's answers spend their time: caller stopped → first bot audio, by stage.

    PYTHONPATH=. python benchmarks/demo_stages.py [--runs N]

Runs ``vani demo`` offline (Whisper tiny.en, the scripted dialogue, Piper) on its virtual clock
with processing time charged, so each stage costs what it cost on this machine, for the VAD
alone (0.8 s stop, barge-in at the VAD's start: before) and the demo's turn-taking (smart-turn
after a 0.3 s stop, interruption gate). Per answer, in ms after the caller stopped speaking:
the VAD stop, the end of the turn, the transcript, the reply's first text, its first audio out
of Piper, and the first audio played. Also reports the same with processing free (frozen
clock): vani's own waiting only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from vani.demo import run_demo

CONFIGS = {
    "VAD only, stop 0.8 s (before)": {"turn_model": False, "gate": False},
    "smart-turn + 0.3 s stop + gate (the demo)": {},
}


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values) * 1000:.0f}"


async def measure(runs: int, charged: bool) -> list[str]:
    lines = [
        "| demo | VAD stop | turn ended | transcript | reply text | Piper first audio |"
        " first audio played (median; all answers) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, kwargs in CONFIGS.items():
        cols: dict[str, list[float]] = {k: [] for k in ("turn", "tr", "text", "tts", "played")}
        stop = 0.0
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                r = await run_demo(
                    output_path=Path(tmp) / "call.wav",
                    offline=True,
                    charge_processing_time=charged,
                    **kwargs,  # type: ignore[arg-type]
                )
            stop = r.vad_stop_secs
            for st in r.stages:
                for key, value in (
                    ("turn", st.turn),
                    ("tr", st.transcript),
                    ("text", st.reply_text),
                    ("tts", st.tts_audio),
                    ("played", st.played),
                ):
                    if value is not None:
                        cols[key].append(value + stop)
        played = sorted(round(x * 1000) for x in cols["played"])
        lines.append(
            f"| {name} | {stop * 1000:.0f} | {_fmt(cols['turn'])} | {_fmt(cols['tr'])} |"
            f" {_fmt(cols['text'])} | {_fmt(cols['tts'])} | {_fmt(cols['played'])};"
            f" {', '.join(map(str, played))} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args(argv)
    print("processing time charged (what this machine costs):")
    print("\n".join(asyncio.run(measure(args.runs, True))))
    print()
    print("processing free (vani's own waiting):")
    print("\n".join(asyncio.run(measure(1, False))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
