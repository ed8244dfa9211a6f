"""The drop-in benchmark's pass rule and calls-per-core search (benchmarks/pipecat_dropin.py),
on made-up runs: no servers, no Pipecat."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))

pipecat_dropin = pytest.importorskip("pipecat_dropin")


def run(n: int, *, keeps_up: bool = True, latency_ms: float = 30.0) -> dict[str, Any]:
    return {"calls": n, "keeps_up": keeps_up, pipecat_dropin.LATENCY_KEY: latency_ms}


def test_the_pass_rule_adds_the_reply_latency_clause() -> None:
    assert pipecat_dropin.passes(run(3, latency_ms=60.0), 30.0)
    assert not pipecat_dropin.passes(run(3, latency_ms=60.1), 30.0)
    assert not pipecat_dropin.passes(run(3, keeps_up=False), 30.0)
    assert pipecat_dropin.passes(run(1, latency_ms=500.0), None)  # the one-call run itself


@pytest.mark.parametrize(("capacity", "start"), [(7, 2), (7, 20), (40, 3), (0, 4), (1, 1)])
def test_the_search_finds_the_largest_passing_n(capacity: int, start: int) -> None:
    tried: list[int] = []

    def one(n: int) -> dict[str, Any]:
        tried.append(n)
        return run(n, keeps_up=n <= capacity)

    found, runs = pipecat_dropin.search(one, start, 60, lambda r: pipecat_dropin.passes(r, 30.0))
    assert capacity - max(1, capacity // 20) <= found <= capacity
    assert [r["calls"] for r in runs] == tried
    assert all(r["passes"] == (r["calls"] <= capacity) for r in runs)


def test_the_search_stops_at_its_cap() -> None:
    found, runs = pipecat_dropin.search(lambda n: run(n), 4, 10, lambda r: bool(r["keeps_up"]))
    assert found == 10
    assert max(r["calls"] for r in runs) == 10
