"""Observability overhead (``observability_overhead.py``) as a pytest-benchmark group.

    pytest benchmarks/bench_observability.py --benchmark-disable   # CI: one short call each way
    python benchmarks/observability_overhead.py --minutes 5 --rounds 5   # the figure

``observability-overhead``: the CPU of one simulated call with metrics + traces + report on,
against the same call with only an idle observer (what a live call always has) and with none.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

sys.path.insert(0, str(Path(__file__).resolve().parent))

import observability_overhead


@pytest.mark.benchmark(group="observability-overhead")
def test_observability_overhead(benchmark: BenchmarkFixture) -> None:
    pytest.importorskip("vani.audio.vad_processor")
    pytest.importorskip("opentelemetry.sdk")
    result = benchmark.pedantic(
        observability_overhead.measure, args=(0.25, 1), rounds=1, iterations=1
    )
    assert result["cpu_secs_on"] and result["cpu_secs_off"]
    benchmark.extra_info.update(result)
