"""Dhara scenarios shared by ``bench_dhara.py`` and the Pipecat comparison: node transitions
and agent handoffs.

    python benchmarks/dhara_scenarios.py vani --transitions 200 [--scenario handoff]
    /tmp/pipecat-venv/bin/python benchmarks/dhara_scenarios.py pipecat --transitions 200
    python benchmarks/dhara_scenarios.py compare --pipecat-python /tmp/pipecat-venv/bin/python

``VANI_PIPECAT_PYTHON`` is the default for ``--pipecat-python``.

**handoff**: the same bounce between two *agents*, each with its own system prompt (role
message), model and temperature: vani hands over with ``Agent.handoff_function`` (the LLM
settings, the voice frame and the RAVI server-message come with it); Pipecat's flows with a node
whose ``role_message`` changes (its ``LLMUpdateSettingsFrame`` system instruction) and a
pre-action pushing an ``LLMUpdateSettingsFrame`` with the model and temperature, the way a Flows
program switches persona. Each request then carries the new prompt and settings.

A two-node flow bounces between nodes ``a`` and ``b``: in each node the only tool moves to the
other one, and the scripted server (vani's fake OpenAI server on 127.0.0.1, zero latency, the
same for both frameworks) always calls it. One transition is the whole round trip: the tool call
streamed by the server, parsed by the SDK, the handler, the node change (prompt and tools swapped,
``reset`` strategy so every request has the same size), and the next request arriving at the
server. The figure is the median time between consecutive requests. Both sides use the official
``openai`` SDK through their own ``OpenAILLMService``; Pipecat runs ``pipecat.flows`` (bundled
with Pipecat 1.14) under its minimal configuration (no RTVI, no turn tracking, no idle timer).

The fake server is imported from this source tree even under Pipecat's interpreter (it needs
only ``vani.frames`` and the standard library).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _server(transitions: int) -> tuple[Any, list[int]]:
    sys.path.insert(0, str(ROOT))
    from vani.testing.fake_openai import FakeOpenAIServer, StreamResponse, text_response, tool_call

    arrivals: list[int] = []

    def respond(request: Any) -> Any:
        arrivals.append(time.perf_counter_ns())
        MODELS.add(str(request.body.get("model")))
        tools = [t["function"]["name"] for t in request.body.get("tools", [])]
        if len(arrivals) > transitions or not tools:
            return text_response("done")
        return StreamResponse(tool_call(f"call_{len(arrivals)}", tools[0], "{}"))

    return FakeOpenAIServer(responder=respond, split_delay=0.0), arrivals


#: The models the requests named (a handoff scenario must show both agents' models).
MODELS: set[str] = set()


def _figures(arrivals: list[int], transitions: int) -> dict[str, Any]:
    gaps = [(b - a) / 1e3 for a, b in itertools.pairwise(arrivals)][:transitions]
    return {
        "models": sorted(MODELS),
        "transitions": len(gaps),
        "per_transition_us_median": statistics.median(gaps),
        "per_transition_us_mean": statistics.fmean(gaps),
    }


async def run_vani(transitions: int, scenario: str = "transition") -> dict[str, Any]:
    from vani.dhara import Agent, ContextStrategy, Flow, FlowFunction, FlowManager, Node
    from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
    from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
    from vani.services.openai import OpenAILLMService

    server, arrivals = _server(transitions)
    await server.start()
    try:
        llm = OpenAILLMService(
            api_key="sk-bench",
            base_url=server.base_url,
            max_tool_rounds=transitions + 10,
        )
        aggregators = LLMContextAggregatorPair(LLMContext())
        task = PipelineTask(
            Pipeline([aggregators.user(), llm, aggregators.assistant()]), idle_timeout_secs=None
        )

        def node(name: str, other: str) -> Node:
            return Node(
                name=name,
                task_messages=[{"role": "system", "content": f"Prompt of {name}."}],
                functions=[FlowFunction(name=f"to_{other}", transition_to=other)],
                context_strategy=ContextStrategy.reset(),
            )

        flow = Flow(initial_node="a", role_message="Bench.", nodes=[node("a", "b"), node("b", "a")])
        agents = {
            name: Agent(
                name=name,
                instructions=f"You are agent {name}.",
                task_messages=[{"role": "system", "content": f"Prompt of {name}."}],
                model=f"model-{name}",
                temperature=0.2 if name == "a" else 0.7,
                voice=f"voice-{name}",
                context_strategy=ContextStrategy.reset(),
            )
            for name in ("a", "b")
        }
        agents["a"].functions = [agents["b"].handoff_function(name="to_b")]
        agents["b"].functions = [agents["a"].handoff_function(name="to_a")]
        manager = FlowManager(
            task=task,
            llm=llm,
            context_aggregator=aggregators,
            flow=flow if scenario == "transition" else None,
        )
        runner = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
        await asyncio.sleep(0.05)
        await manager.initialize(None if scenario == "transition" else agents["a"])
        await _wait(arrivals, transitions + 1)
        await task.cancel()
        await runner
    finally:
        await server.close()
    return _figures(arrivals, transitions)


async def run_pipecat(transitions: int, scenario: str = "transition") -> dict[str, Any]:
    import logging

    from loguru import logger as loguru_logger

    loguru_logger.remove()  # Pipecat logs every frame and call at DEBUG otherwise
    logging.disable(logging.WARNING)
    from pipecat.flows import (
        ContextStrategy,
        ContextStrategyConfig,
        FlowManager,
        FlowsFunctionSchema,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.runner import PipelineRunner
    from pipecat.pipeline.task import PipelineParams, PipelineTask
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
    from pipecat.services.openai.llm import OpenAILLMService

    if scenario == "handoff":
        from pipecat.frames.frames import LLMUpdateSettingsFrame
        from pipecat.services.openai.base_llm import OpenAILLMSettings

    server, arrivals = _server(transitions)
    await server.start()
    try:
        llm = OpenAILLMService(api_key="sk-bench", base_url=server.base_url, model="gpt-4o-mini")
        aggregators = LLMContextAggregatorPair(LLMContext())
        task = PipelineTask(
            Pipeline([aggregators.user(), llm, aggregators.assistant()]),
            params=PipelineParams(),
            enable_rtvi=False,
            enable_turn_tracking=False,
            idle_timeout_secs=None,
        )
        nodes: dict[str, Any] = {}

        def node(name: str, other: str) -> Any:
            async def move(args: Any, flow_manager: Any) -> Any:
                return {"status": "transferred"}, nodes[other]

            config: dict[str, Any] = {
                "name": name,
                "role_messages": [{"role": "system", "content": "Bench."}],
                "task_messages": [{"role": "system", "content": f"Prompt of {name}."}],
                "functions": [
                    FlowsFunctionSchema(
                        name=f"to_{other}",
                        description="move",
                        properties={},
                        required=[],
                        handler=move,
                    )
                ],
            }
            if scenario == "handoff":
                settings = OpenAILLMSettings(
                    model=f"model-{name}", temperature=0.2 if name == "a" else 0.7
                )

                async def switch(action: Any, flow_manager: Any) -> None:
                    # Through the pipeline, so the LLM service applies it before its next run.
                    await flow_manager.task.queue_frame(LLMUpdateSettingsFrame(delta=settings))

                del config["role_messages"]
                config["role_message"] = f"You are agent {name}."
                config["pre_actions"] = [{"type": "function", "handler": switch}]
            return config

        nodes["a"], nodes["b"] = node("a", "b"), node("b", "a")
        manager = FlowManager(
            task=task,
            llm=llm,
            context_aggregator=aggregators,
            context_strategy=ContextStrategyConfig(strategy=ContextStrategy.RESET),
        )
        runner = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
        await asyncio.sleep(0.2)
        await manager.initialize(nodes["a"])
        await _wait(arrivals, transitions + 1)
        await task.cancel()
        await runner
    finally:
        await server.close()
    return _figures(arrivals, transitions)


async def _wait(arrivals: list[int], count: int, timeout_secs: float = 120.0) -> None:
    async with asyncio.timeout(timeout_secs):
        while len(arrivals) < count:
            await asyncio.sleep(0.01)


def compare(pipecat_python: str, transitions: int, rounds: int) -> dict[str, dict[str, float]]:
    """Both scenarios, both frameworks, in the same run; medians of ``rounds`` runs (µs)."""
    table: dict[str, dict[str, float]] = {}
    for scenario in ("transition", "handoff"):
        results: dict[str, list[float]] = {"vani": [], "pipecat": []}
        for _ in range(rounds):
            for name, python in (("vani", sys.executable), ("pipecat", pipecat_python)):
                out = subprocess.run(
                    [
                        python,
                        __file__,
                        name,
                        "--transitions",
                        str(transitions),
                        "--scenario",
                        scenario,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                ).stdout
                figures = json.loads(out.strip().splitlines()[-1])
                results[name].append(figures["per_transition_us_median"])
        vani = statistics.median(results["vani"])
        pipecat = statistics.median(results["pipecat"])
        table[scenario] = {"vani": vani, "pipecat": pipecat}
        print(f"{scenario} round trip, {transitions} x {rounds} rounds (median µs)")
        print(f"  vani    {vani:10.1f}")
        print(f"  pipecat {pipecat:10.1f}")
        print(f"  ratio   {pipecat / vani:10.2f}x")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", choices=["vani", "pipecat", "compare"])
    parser.add_argument("--transitions", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenario", choices=["transition", "handoff"], default="transition")
    parser.add_argument(
        "--pipecat-python",
        default=os.environ.get("VANI_PIPECAT_PYTHON", "/tmp/pipecat-venv/bin/python"),
    )
    args = parser.parse_args()
    if args.framework == "compare":
        compare(args.pipecat_python, args.transitions, args.rounds)
        return
    run = run_vani if args.framework == "vani" else run_pipecat
    print(json.dumps(asyncio.run(run(args.transitions, args.scenario))))


if __name__ == "__main__":
    main()
