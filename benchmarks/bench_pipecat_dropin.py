"""A Pipecat bot with its own analyzers vs vani's drop-ins (``pipecat_dropin.py``), as a benchmark.

    pytest benchmarks/bench_pipecat_dropin.py --benchmark-disable   # CI: the quick mode, once
    python benchmarks/pipecat_dropin.py                             # the search (minutes)

The quick mode runs each side once: a server pinned to one core, a warm-up call, then two calls
measured for 8 s. Runs only where ``VANI_PIPECAT_PYTHON`` names Pipecat's interpreter. It checks
that both bots held their calls and answered every turn, and records each side's CPU per call in
``extra_info``; it asserts nothing about time, so a loaded machine cannot fail it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

HERE = Path(__file__).resolve().parent


@pytest.mark.skipif(
    not os.environ.get("VANI_PIPECAT_PYTHON"), reason="VANI_PIPECAT_PYTHON is not set"
)
def test_pipecat_dropin_quick(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    out = tmp_path / "dropin.json"
    cmd = [sys.executable, str(HERE / "pipecat_dropin.py"), "--quick", "--json", str(out)]

    def run() -> None:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-3000:]

    benchmark.pedantic(run, rounds=1, iterations=1)
    report = json.loads(out.read_text())
    for side in ("pipecat", "vani_dropin"):
        (one,) = report[side]["runs"]
        assert one["calls"] == 2 and one["calls_failed"] == 0, (side, one)
        assert one["turns"] >= 2 and one["turns_answered"] == one["turns"], (side, one)
        benchmark.extra_info[f"{side}_server_cpu_pct_per_call"] = one["server_cpu_pct_per_call"]
