"""vani against Pipecat, side by side: the spine scenarios of DESIGN.md's performance table.

    python benchmarks/compare_pipecat.py                                   # Pipecat importable here
    python benchmarks/compare_pipecat.py --pipecat-python /path/to/venv/bin/python
    python benchmarks/compare_pipecat.py --quick                           # fewer rounds

Every scenario runs in a fresh process per framework (vani under this interpreter, Pipecat
under ``--pipecat-python``, or this interpreter when it can import ``pipecat``), alternating
between the two so that drift in the machine's load hits both alike. The scenarios, frame counts
and processors are the same on both sides: ``spine_scenarios.py`` (frames through 10
processors, interruptions over 500 queued frames, building a frame), ``session_memory.py``
(RSS per idle started session, 200 sessions) and ``startup.py`` (new process: import + build a
3-processor pipeline and its task). Pipecat runs with its own API under its minimal
configuration, which ``spine_scenarios.py`` documents (RTVI, turn tracking and the idle timeout
switched off). Without Pipecat the table shows vani's figures alone.

Prints a table with both figures, the ratio (how many times vani is better) and vani's target;
``--json PATH`` also writes every raw result.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Metric:
    """One row of the table: how to read a figure out of a scenario's JSON result."""

    label: str
    unit: str
    read: Callable[[dict[str, Any]], float]
    target: str
    digits: int = 2
    count: bool = False  # a count (stale or lost frames): compared by eye, not as a ratio


@dataclass(frozen=True)
class Scenario:
    name: str
    script: str
    args: Callable[[bool], list[str]]  # quick -> command-line arguments
    metrics: tuple[Metric, ...]


SCENARIOS = (
    Scenario(
        "construct",
        "spine_scenarios.py",
        lambda quick: ["construct"],
        (
            Metric(
                "build InputAudioRawFrame",
                "µs",
                lambda r: r["construct_ns"] / 1e3,
                "≤ 0.5",
                digits=3,
            ),
            Metric("  CPU time of it", "µs", lambda r: r["cpu_construct_ns"] / 1e3, "", digits=3),
        ),
    ),
    Scenario(
        "throughput",
        "spine_scenarios.py",
        lambda quick: ["--rounds", "1" if quick else "5", "throughput"],
        (
            Metric(
                "20k input audio, 10 processors", "µs/frame", lambda r: r["per_frame_us"], "≤ 6"
            ),
            Metric("  CPU time of it", "µs/frame", lambda r: r["cpu_per_frame_us"], ""),
        ),
    ),
    Scenario(
        "interrupt-output",
        "spine_scenarios.py",
        lambda quick: ["--rounds", "2" if quick else "7", "interrupt-output"],
        (
            Metric(
                "interruption, 500 output queued",
                "ms",
                lambda r: r["latency_ms"],
                "≤ 0.1",
                digits=3,
            ),
            Metric(
                "  stale output frames after it",
                "frames",
                lambda r: r["audio_after_max"],
                "0",
                digits=0,
                count=True,
            ),
        ),
    ),
    Scenario(
        "interrupt-input",
        "spine_scenarios.py",
        lambda quick: ["--rounds", "1" if quick else "3", "interrupt-input"],
        (
            Metric(
                "interruption, 500 input queued", "ms", lambda r: r["latency_ms"], "≤ 0.2", digits=3
            ),
            Metric("  input frames lost", "frames", lambda r: r["lost_max"], "0", 0, True),
        ),
    ),
    Scenario(
        "sessions",
        "session_memory.py",
        lambda quick: ["--sessions", "200"],
        (
            Metric(
                "RSS per idle session (5 processors)",
                "KiB",
                lambda r: r["per_session_kib"],
                "≤ 40",
                digits=1,
            ),
        ),
    ),
    Scenario(
        "startup",
        "startup.py",
        lambda quick: ["--repeat", "3" if quick else "7"],
        (
            Metric(
                "new process: import + build, wall", "ms", lambda r: r["wall_ms"], "≤ 120", digits=0
            ),
            Metric("  CPU time of it", "ms", lambda r: r["cpu_ms"], "", digits=0),
            Metric(
                "  of which import + build in process",
                "ms",
                lambda r: r["in_process_ms"],
                "",
                digits=0,
                count=True,
            ),
            Metric("  peak RSS", "MiB", lambda r: r["peak_rss_mib"], "≤ 40", digits=1),
        ),
    ),
)


def run_scenario(python: str, framework: str, sc: Scenario, quick: bool) -> dict[str, Any]:
    cmd = [python, str(HERE / sc.script), "--framework", framework, *sc.args(quick)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, env=os.environ.copy())
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"{framework} {sc.name} failed ({proc.returncode}): " + " | ".join(tail))
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def find_pipecat(option: str | None) -> str | None:
    if option:
        return option
    if importlib.util.find_spec("pipecat") is not None:
        return sys.executable
    return None


def fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def ratio(vani: float | None, pipecat: float | None) -> str:
    """How many times less time or memory vani needs than Pipecat."""
    if vani is None or pipecat is None or vani <= 0:
        return "—"
    return f"{pipecat / vani:,.1f}×"


def table(results: dict[str, dict[str, dict[str, Any]]], versions: dict[str, str]) -> str:
    head = (
        "scenario",
        "unit",
        f"vani {versions.get('vani', '')}".strip(),
        f"Pipecat {versions.get('pipecat', '')}".strip(),
        "Pipecat/vani",
        "vani target",
    )
    rows: list[tuple[str, ...]] = [head]
    for sc in SCENARIOS:
        res = results.get(sc.name, {})
        for m in sc.metrics:
            v = m.read(res["vani"]) if "vani" in res else None
            p = m.read(res["pipecat"]) if "pipecat" in res else None
            rows.append(
                (
                    m.label,
                    m.unit,
                    fmt(v, m.digits),
                    fmt(p, m.digits),
                    "" if m.count else ratio(v, p),
                    m.target,
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for n, r in enumerate(rows):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(r[2:], widths[2:], strict=True)]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pipecat-python", help="a Python interpreter that can import pipecat")
    ap.add_argument("--quick", action="store_true", help="fewer rounds and repetitions")
    ap.add_argument("--only", nargs="*", choices=[s.name for s in SCENARIOS], help="scenarios")
    ap.add_argument("--json", type=Path, help="also write the raw results here")
    args = ap.parse_args(argv)

    pipecat_python = find_pipecat(args.pipecat_python)
    sides = [("vani", sys.executable)]
    if pipecat_python:
        sides.append(("pipecat", pipecat_python))
    else:
        print("Pipecat is not importable here and --pipecat-python was not given: vani only.\n")

    results: dict[str, dict[str, dict[str, Any]]] = {}
    versions: dict[str, str] = {}
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    for sc in chosen:
        for framework, python in sides:
            t0 = time.monotonic()
            print(f"  {sc.name:<17} {framework:<8}", end="", file=sys.stderr, flush=True)
            res = run_scenario(python, framework, sc, args.quick)
            print(f" {time.monotonic() - t0:5.1f} s", file=sys.stderr)
            results.setdefault(sc.name, {})[framework] = res
            versions[framework] = str(res.get("version", ""))
    print(
        f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
        f" on {os.cpu_count()} CPUs\n"
    )
    print(table({s.name: results[s.name] for s in chosen}, versions))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
