"""LLM service benchmarks (pytest-benchmark), one group per operation.

    pytest benchmarks/bench_llm.py --benchmark-only       # full
    pytest benchmarks/bench_llm.py --benchmark-disable    # quick: each once, as a plain test

A zero-latency fake OpenAI server (``llm_scenarios.py serve``) runs in its own process, so the
process CPU time measured here is the client's alone. Each round is one streamed response of
200 one-token chunks, 1 ms apart (each read on its own, as a real stream's tokens are; a round's
wall time is that pace, so the figures to read are in ``extra_info``).

Groups:

* ``llm-response-200-tokens``: one whole response, ``LLMRunFrame`` to ``LLMFullResponseEndFrame``
  at the sink, through ``[user aggregator, OpenAILLMService, sink]``; next to it the bare
  ``openai`` SDK consuming the same stream (what any client built on the SDK pays at least;
  vani's service reads the stream on its own connection, docs/services.md). ``extra_info``
  holds the CPU µs per token of each.
* ``llm-first-token``: ``LLMRunFrame`` queued to the first ``LLMTextFrame`` at the sink (and
  the SDK's ``create()`` to its first content chunk).
* ``llm-pipecat``: Pipecat 1.14's ``OpenAILLMService`` in the same scenario against the same
  fake, run under ``/tmp/pipecat-venv`` (skipped when missing), together with the SDK baseline
  in that interpreter; its figures are in ``extra_info``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

# llm_scenarios.py is shared with the Pipecat run, which executes it under another interpreter.
sys.path.insert(0, str(Path(__file__).parent))

from llm_scenarios import LLMRound, run_sdk

import vani

HERE = Path(__file__).resolve().parent
ROUNDS = 15
TOKENS = 200
PIPECAT_PYTHON = Path("/tmp/pipecat-venv/bin/python")


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    # The server process imports the same vani as this one (source tree or installed wheel).
    vani_root = str(Path(vani.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([vani_root, *sys.path]))
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "llm_scenarios.py"), "serve", "--tokens", str(TOKENS)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline()
    try:
        yield int(line)
    finally:
        proc.stdin.close()  # the server stops when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    try:
        yield lp
    finally:
        lp.run_until_complete(lp.shutdown_asyncgens())
        lp.close()


def _base_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def _vani_rounds(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, port: int
) -> list[tuple[float, float, float, int, int]]:
    session = LLMRound("vani", _base_url(port))
    loop.run_until_complete(session.start())
    results: list[tuple[float, float, float, int, int]] = []
    try:
        loop.run_until_complete(session.round())  # warm-up: the connection, lazy imports

        def one() -> None:
            results.append(loop.run_until_complete(session.round()))

        benchmark.pedantic(one, rounds=ROUNDS, iterations=1)  # type: ignore[no-untyped-call]
    finally:
        loop.run_until_complete(session.stop())
    return results


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


@pytest.mark.benchmark(group="llm-response-200-tokens")
def test_vani_streams_a_response_token_by_token_to_the_sink(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, port: int
) -> None:
    results = _vani_rounds(benchmark, loop, port)
    assert all(r[3] == TOKENS for r in results), "every token must reach the sink"
    benchmark.extra_info["cpu_per_token_us"] = _median([r[2] for r in results]) * 1e6
    benchmark.extra_info["frames"] = _median([r[4] for r in results])
    benchmark.extra_info["wall_per_token_us"] = _median([r[1] for r in results]) * 1e6


@pytest.mark.benchmark(group="llm-response-200-tokens")
def test_bare_sdk_consumes_the_same_stream(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, port: int
) -> None:
    rounds = 1 if benchmark.disabled else ROUNDS
    result = benchmark.pedantic(  # type: ignore[no-untyped-call]
        lambda: loop.run_until_complete(run_sdk(_base_url(port), rounds)), rounds=1, iterations=1
    )
    assert result["tokens"] == TOKENS
    benchmark.extra_info.update(result)


@pytest.mark.benchmark(group="llm-first-token")
def test_vani_first_token_after_llm_run_frame(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop, port: int
) -> None:
    results = _vani_rounds(benchmark, loop, port)
    benchmark.extra_info["first_token_ms"] = _median([r[0] for r in results]) * 1e3


@pytest.mark.benchmark(group="llm-pipecat")
def test_pipecat_openai_service_on_the_same_fake(benchmark: BenchmarkFixture, port: int) -> None:
    if not PIPECAT_PYTHON.exists():
        pytest.skip(f"no Pipecat interpreter at {PIPECAT_PYTHON}")
    rounds = "2" if benchmark.disabled else str(ROUNDS)
    script = str(HERE / "llm_scenarios.py")

    def run(framework: str) -> dict[str, float]:
        command = [str(PIPECAT_PYTHON), script, "run", "--framework", framework]
        out = subprocess.run(
            [*command, "--port", str(port), "--rounds", rounds],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    results = benchmark.pedantic(  # type: ignore[no-untyped-call]
        lambda: {"pipecat": run("pipecat"), "sdk": run("sdk")}, rounds=1, iterations=1
    )
    assert results["pipecat"]["tokens"] == TOKENS
    for name, figures in results.items():
        for key, value in figures.items():
            benchmark.extra_info[f"{name}_{key}"] = value
