"""Phone calls through the Twilio media-stream path, vani beside Pipecat 1.14
(``phone_calls.py``), as a benchmark.

    pytest benchmarks/bench_phone_calls.py --benchmark-disable   # CI: the quick mode, once
    python benchmarks/phone_calls.py                             # the real figures (minutes)

The quick mode starts the fakes, then per framework a server pinned to one core, a warm-up call
and two simulated Twilio calls of one turn each (the lag search's one run: whether N = 2 keeps
p99 output lag under 100 ms with no gap). Pipecat's side runs when
``VANI_PIPECAT_PYTHON`` names its interpreter. The test checks the run is sane (no failed call,
every turn answered, every call's first audio reached the VAD probe) and records the figures in
``extra_info``; it asserts nothing about time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

HERE = Path(__file__).resolve().parent


def _quick(only: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / f"phone_calls_{only}.json"
    cmd = [sys.executable, str(HERE / "phone_calls.py"), "--quick", "--only", only]
    done = subprocess.run(
        [*cmd, "--json", str(out)], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text())
    (row,) = report["rows"]
    row["largest_n"] = report["largest_n"][only]
    return row


@pytest.mark.parametrize("framework", ["vani", "pipecat"])
def test_phone_calls_quick(benchmark: BenchmarkFixture, tmp_path: Path, framework: str) -> None:
    if framework == "pipecat" and not os.environ.get("VANI_PIPECAT_PYTHON"):
        pytest.skip("VANI_PIPECAT_PYTHON is not set (tools/ci/setup-10-pipecat.sh sets it)")
    benchmark.group = "phone-calls"
    row = benchmark.pedantic(_quick, args=(framework, tmp_path), rounds=1, iterations=1)
    assert row["errors"] == []
    answered, total = map(int, row["turns_answered"].split("/"))
    assert answered == total, row
    assert row["media_to_vad_p50_ms"] is not None, "no call's audio reached the VAD probe"
    assert row["largest_n"] in (0, 2) and isinstance(row["keeps_up"], bool)
    benchmark.extra_info.update(row)
