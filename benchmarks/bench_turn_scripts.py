"""The turn-taking scripts that print tables or figures (``turn_cpu.py``, ``demo_stages.py``,
``vad_sessions.py --turn``), run once in quick mode so CI keeps them working.

    pytest benchmarks/bench_turn_scripts.py --benchmark-disable

Each runs as its own process (as a user runs it); the test checks that it finished and printed
every row of its table, and asserts nothing about time.
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


def _run(benchmark: BenchmarkFixture, *args: str, python: str = sys.executable) -> str:
    env = dict(os.environ)
    out: list[str] = []

    def run() -> None:
        done = subprocess.run([python, *args], capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        out.append(done.stdout)

    benchmark.pedantic(run, rounds=1, iterations=1)
    return out[0]


def test_turn_cpu_quick(benchmark: BenchmarkFixture) -> None:
    text = _run(benchmark, str(HERE / "turn_cpu.py"), "--quick")
    rows = [line for line in text.splitlines() if line.startswith("| intra")]
    assert len(rows) == 9, text  # three session options x batches 1, 8, 32
    assert "features, 3 s of audio: CPU" in text


def test_demo_stages_once(benchmark: BenchmarkFixture) -> None:
    text = _run(benchmark, str(HERE / "demo_stages.py"), "--runs", "1")
    assert text.count("| smart-turn + 0.3 s stop + gate (the demo) |") == 2, text
    assert text.count("| VAD only, stop 0.8 s (before) |") == 2, text
    # With processing free the answer starts at the end of the turn: vani adds no waiting.
    free = text.split("processing free")[1]
    demo = next(line for line in free.splitlines() if line.startswith("| smart-turn"))
    cells = [c.strip() for c in demo.strip("|").split("|")]
    assert cells[2] == cells[6].split(";")[0], demo  # turn ended == first audio played


def _turn_sessions(benchmark: BenchmarkFixture, framework: str, python: str) -> dict[str, object]:
    args = ["--framework", framework, "--sessions", "3", "--secs", "8", "--turn"]
    text = _run(benchmark, str(HERE / "vad_sessions.py"), *args, python=python)
    result: dict[str, object] = json.loads(text.splitlines()[-1])
    return result


def _check_verdicts(result: dict[str, object]) -> None:
    # Every question the model was asked in the measured window was timed to its verdict.
    asked, abandoned = result["verdicts_asked"], result["verdicts_abandoned"]
    assert isinstance(asked, int) and isinstance(abandoned, int) and asked > 0, result
    assert result["verdicts_answered"] == asked - abandoned, result
    assert result["verdicts_unanswered"] == 0, result
    assert isinstance(result["verdict_p50_ms"], float), result
    assert result["keeps_up"] == (result["audio_keeps_up"] and result["verdicts_keep_up"]), result


def test_vad_sessions_turn_vani_once(benchmark: BenchmarkFixture) -> None:
    _check_verdicts(_turn_sessions(benchmark, "vani", sys.executable))


def test_vad_sessions_turn_pipecat_once(benchmark: BenchmarkFixture) -> None:
    python = os.environ.get("VANI_PIPECAT_PYTHON")
    if not python:
        pytest.skip("VANI_PIPECAT_PYTHON is not set (tools/ci/setup-10-pipecat.sh sets it)")
    _check_verdicts(_turn_sessions(benchmark, "pipecat", python))
