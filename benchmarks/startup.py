"""Cold start: a new process imports the framework and builds a 3-processor pipeline and its task.

    python benchmarks/startup.py [--framework vani|pipecat] [--repeat 7]

Each repetition runs ``<this interpreter> -c <snippet>`` in a fresh child process. The wall time
runs from spawning the child to reaping it (interpreter start-up included, as a user sees it);
the peak RSS is the child's ``ru_maxrss`` (the ``RUSAGE_CHILDREN`` figure, taken per child with
``os.wait4`` so that repetitions are not folded into one maximum). The child also reports the
time of its own import + build, without interpreter start-up. Medians over the repetitions, and
the same figures for a bare ``-c "print(0.0)"`` child as the floor. The child's CPU time (user +
system, from the same rusage) is reported too: on a shared machine it is the steadier figure.
The snippet is what a user writes: import, subclass ``FrameProcessor``, build the task inside
``asyncio.run``; Pipecat's task gets the minimal configuration of ``spine_scenarios.py``. Prints
one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

_ECHO = """
class Echo(FrameProcessor):
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
"""

SNIPPETS = {
    "vani": """
import time
t0 = time.perf_counter()
import asyncio
import vani
from vani.pipeline import Pipeline, PipelineTask
from vani.processors import FrameProcessor
"""
    + _ECHO
    + """
async def main():
    return PipelineTask(Pipeline([Echo(), Echo(), Echo()]), idle_timeout_secs=None)
asyncio.run(main())
print(time.perf_counter() - t0)
""",
    "pipecat": """
import time
t0 = time.perf_counter()
import asyncio
import pipecat
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameProcessor
"""
    + _ECHO
    + """
async def main():
    return PipelineWorker(Pipeline([Echo(), Echo(), Echo()]), enable_rtvi=False,
                          enable_turn_tracking=False, idle_timeout_secs=None)
asyncio.run(main())
print(time.perf_counter() - t0)
""",
    "bare": "print(0.0)",
}


def run_child(code: str) -> tuple[float, float, float, float]:
    """Wall seconds, peak RSS in MiB, the child's own reported seconds, and its CPU seconds."""
    t0 = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.stdout is not None
    out = child.stdout.read().decode()
    child.stdout.close()
    if child.returncode != 0:
        raise RuntimeError(f"startup child exited with {child.returncode}; output {out!r}")
    # ru_maxrss is in KiB on Linux.
    cpu = usage.ru_utime + usage.ru_stime
    return wall, usage.ru_maxrss / 1024, float(out.strip().splitlines()[-1]), cpu


def measure(framework: str, repeat: int) -> dict[str, Any]:
    runs = [run_child(SNIPPETS[framework]) for _ in range(repeat)]
    bare = [run_child(SNIPPETS["bare"]) for _ in range(repeat)]
    return {
        "wall_ms": statistics.median(r[0] for r in runs) * 1e3,
        "peak_rss_mib": statistics.median(r[1] for r in runs),
        "in_process_ms": statistics.median(r[2] for r in runs) * 1e3,
        "cpu_ms": statistics.median(r[3] for r in runs) * 1e3,
        "bare_python_wall_ms": statistics.median(r[0] for r in bare) * 1e3,
        "bare_python_rss_mib": statistics.median(r[1] for r in bare),
        "bare_python_cpu_ms": statistics.median(r[3] for r in bare) * 1e3,
        "runs_wall_ms": [r[0] * 1e3 for r in runs],
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--framework", choices=["vani", "pipecat"], default="vani")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    version_code = f"import {args.framework}; print({args.framework}.__version__)"
    version = subprocess.run(
        [sys.executable, "-c", version_code], capture_output=True, text=True, check=True
    ).stdout.strip()
    out: dict[str, Any] = {"framework": args.framework, "version": version, "scenario": "startup"}
    out |= measure(args.framework, args.repeat)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
