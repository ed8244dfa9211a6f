"""Dhara benchmarks (pytest-benchmark), one group per operation.

    pytest benchmarks/bench_dhara.py --benchmark-only        # full
    pytest benchmarks/bench_dhara.py --benchmark-disable     # quick: each once, as a plain test

* ``dhara-load``: read, schema-check, build and semantically validate the restaurant flow file.
* ``dhara-apply``: the atomic step of a transition (context rebuilt, tools swapped, functions
  registered on the service) for a node with three functions, per transition.
* ``dhara-roundtrip``: a whole transition through a running pipeline, the official ``openai``
  SDK and the zero-latency fake server (``dhara_scenarios.py``, which also runs Pipecat's flows
  side by side); the median per transition is in ``extra_info``.
* ``dhara-handoff``: the same round trip when each move is an agent handoff (new system prompt,
  model, temperature and voice).
* ``dhara-vs-pipecat``: both round trips for vani and for Pipecat's flows in the same run
  (Pipecat in its own interpreter, ``VANI_PIPECAT_PYTHON``; skipped when unset).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

sys.path.insert(0, str(Path(__file__).parent))

from dhara_scenarios import compare, run_vani

from vani.dhara import ContextStrategy, Flow, FlowFunction, FlowManager, Node, load_flow
from vani.pipeline import Pipeline, PipelineTask
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import ScriptedLLMService

FLOW_FILE = Path(__file__).resolve().parents[1] / "examples" / "restaurant_flow.json"


def test_load_and_validate_a_flow_file(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "dhara-load"
    flow = benchmark(load_flow, FLOW_FILE)
    assert flow.node_names == ["greet", "order", "confirm", "end"]


def _node(name: str, other: str, strategy: ContextStrategy) -> Node:
    return Node(
        name=name,
        task_messages=[{"role": "system", "content": f"Prompt of {name}, for {{{{who}}}}."}],
        functions=[
            FlowFunction(name=f"to_{other}", transition_to=other),
            FlowFunction(name=f"ask_{name}", handler="ask"),
            FlowFunction(
                name=f"order_{name}",
                handler="ask",
                parameters={
                    "type": "object",
                    "properties": {"size": {"type": "string", "enum": ["s", "m", "l"]}},
                },
            ),
        ],
        context_strategy=strategy,
    )


def test_apply_a_transition(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "dhara-apply"

    async def ask(args: dict[str, object]) -> str:
        return "ok"

    strategy = ContextStrategy.append()
    flow = Flow(
        initial_node="a",
        role_message="Bench.",
        nodes=[_node("a", "b", strategy), _node("b", "a", strategy)],
    )
    llm = ScriptedLLMService()
    aggregators = LLMContextAggregatorPair(
        LLMContext(messages=[{"role": "user", "content": f"turn {i}"} for i in range(20)])
    )
    task = PipelineTask(Pipeline([aggregators.user(), llm]), idle_timeout_secs=None)
    manager = FlowManager(
        task=task, llm=llm, context_aggregator=aggregators, flow=flow, handlers={"ask": ask}
    )
    manager.state["who"] = "Asha"
    nodes = flow.nodes

    def bounce() -> None:
        # Two transitions per call: a -> b -> a (the first one enters a).
        manager._apply(nodes[1], None)
        manager._apply(nodes[0], None)

    benchmark(bounce)
    assert manager.current_node == "a"
    assert [t.name for t in aggregators.context.tools] == ["to_b", "ask_a", "order_a"]
    benchmark.extra_info["transitions_per_call"] = 2


def test_transition_round_trip_through_the_openai_sdk(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "dhara-roundtrip"
    results: list[dict[str, float]] = []

    def run() -> None:
        results.append(asyncio.run(run_vani(30)))

    benchmark.pedantic(run, rounds=3, iterations=1)
    assert all(r["transitions"] == 30 for r in results)
    benchmark.extra_info["per_transition_us_median"] = sorted(
        r["per_transition_us_median"] for r in results
    )[len(results) // 2]


def test_handoff_round_trip_through_the_openai_sdk(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "dhara-handoff"
    results: list[dict[str, float]] = []

    def run() -> None:
        results.append(asyncio.run(run_vani(30, "handoff")))

    benchmark.pedantic(run, rounds=3, iterations=1)
    assert all(r["transitions"] == 30 for r in results)
    benchmark.extra_info["per_handoff_us_median"] = sorted(
        r["per_transition_us_median"] for r in results
    )[len(results) // 2]


@pytest.mark.skipif(not os.environ.get("VANI_PIPECAT_PYTHON"), reason="VANI_PIPECAT_PYTHON unset")
def test_transition_and_handoff_beside_pipecat_flows(benchmark: BenchmarkFixture) -> None:
    benchmark.group = "dhara-vs-pipecat"
    tables: list[dict[str, dict[str, float]]] = []

    def run() -> None:
        tables.append(compare(os.environ["VANI_PIPECAT_PYTHON"], 30, 1))

    benchmark.pedantic(run, rounds=1, iterations=1)
    for scenario, figures in tables[-1].items():
        for framework, median in figures.items():
            benchmark.extra_info[f"{scenario}_{framework}_us_median"] = median
