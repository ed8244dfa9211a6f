"""Browser → bot → browser latency in real Chromium (quick mode of ``browser_latency.py``).

    pytest benchmarks/bench_browser.py --benchmark-disable   # what CI runs: the fakes bot, 2 turns
    python benchmarks/browser_latency.py                     # the figures: both bots, 5 turns

The figures come from the page's own clock (user stopped → first bot audio played); see
``browser_latency.py``. Skipped without Debian's chromium or playwright.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from vani.testing.browser import find_chromium

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
sys.path.insert(0, str(Path(__file__).parent))


def test_browser_turn_latency_fakes(benchmark: BenchmarkFixture, tmp_path: Path) -> None:
    if find_chromium() is None:
        pytest.skip("Debian's chromium is not installed")
    import browser_latency

    result = benchmark.pedantic(
        lambda: browser_latency.measure("fakes", 2, tmp_path, verbose=False), rounds=1
    )
    benchmark.extra_info["latencies_ms"] = result.latencies_ms
    benchmark.extra_info["median_ms"] = result.median_ms
    assert len(result.latencies_ms) >= 2, "the page measured fewer turns than the caller spoke"
