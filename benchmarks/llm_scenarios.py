"""LLM benchmark scenarios, runnable under vani's or Pipecat's interpreter.

It imports neither framework at module level, so ``bench_llm.py`` can run it with a Pipecat
venv's Python and read one JSON object from stdout::

    python benchmarks/llm_scenarios.py serve --tokens 200        # the fake, in its own process
    python benchmarks/llm_scenarios.py run --framework vani|pipecat|sdk --port P --rounds 20

The fake (``vani.testing.FakeOpenAIServer``, so ``serve`` needs vani) answers every request
at once with ``--tokens`` one-token chunks plus a usage chunk, ``--spacing-ms`` apart (default
1 ms: a 1,000-token/s stream, faster than any hosted model, each token read on its own as a
real stream's are; 0 sends the whole reply in one burst, which vani's service reads as one
frame). What is measured is the client. Each round sends an ``LLMRunFrame`` into ``[user
aggregator, LLM service, sink]`` (the same shape in both frameworks; Pipecat's user aggregator
turns the run frame into a context frame, vani's LLM takes it directly) and records:

* ``first_token_ms``: from queueing ``LLMRunFrame`` to the first ``LLMTextFrame`` at the sink;
* ``per_token_us``: wall time per token from the first to the last token at the sink (the
  spacing, plus any time the client falls behind it);
* ``cpu_per_token_us``: process CPU time of the whole round divided by the tokens;
* ``frames``: the ``LLMTextFrame`` s (or the SDK's content chunks) that carried them.

Tokens are counted in the text (each is `` t<n>``), not by frames.

``--framework sdk`` is the baseline: the bare ``openai`` SDK consuming the same stream
(``create(stream=True)`` then ``async for``), with no framework. Framework overhead per token
is ``per_token_us`` (or CPU) minus the baseline's, in the same interpreter. Pipecat runs in its
minimal configuration (RTVI, turn tracking and the idle timeout off).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import statistics
import sys
import time
from typing import Any

MESSAGES = [
    {"role": "system", "content": "You are a benchmark."},
    {"role": "user", "content": "Count."},
]
WAIT_S = 10.0


async def serve(tokens: int, spacing_ms: float) -> None:
    fake = importlib.import_module("vani.testing.fake_openai")
    parts: list[Any] = []
    for i in range(tokens):
        if i and spacing_ms > 0:
            parts.append(fake.Pause(spacing_ms / 1e3))
        parts.append(fake.Text(f" t{i}"))

    def respond(request: Any) -> Any:
        return fake.StreamResponse(parts)

    server = fake.FakeOpenAIServer(responder=respond, validate=True)
    await server.start()
    print(server.port, flush=True)
    # Serve until the parent closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.close()


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _tokens(text: str) -> int:
    return text.count(" t")


def _result(
    first: list[float], per_token: list[float], cpu: list[float], tokens: int, frames: int
) -> dict[str, float]:
    return {
        "first_token_ms": _median(first) * 1e3,
        "per_token_us": _median(per_token) * 1e6,
        "cpu_per_token_us": _median(cpu) * 1e6,
        "tokens": tokens,
        "frames": frames,
        "rounds": len(first),
    }


async def run_sdk(base_url: str, rounds: int) -> dict[str, float]:
    openai = importlib.import_module("openai")
    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=base_url)
    first: list[float] = []
    per_token: list[float] = []
    cpu: list[float] = []
    tokens = frames = 0
    for _ in range(rounds + 1):  # the first round warms the connection up
        c0, t0 = time.process_time(), time.perf_counter()
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        t_first = t_last = 0.0
        count = pieces = 0
        async for chunk in stream:
            for choice in chunk.choices:
                if choice.delta.content:
                    t_last = time.perf_counter()
                    if not count:
                        t_first = t_last
                    count += _tokens(choice.delta.content)
                    pieces += 1
        c1 = time.process_time()
        first.append(t_first - t0)
        per_token.append((t_last - t_first) / max(1, count - 1))
        cpu.append((c1 - c0) / max(1, count))
        tokens, frames = count, pieces
    await client.close()
    return _result(first[1:], per_token[1:], cpu[1:], tokens, frames)


def _load(framework: str) -> dict[str, Any]:
    """The classes a round needs, from vani or Pipecat."""
    if framework == "vani":
        frames = importlib.import_module("vani.frames")
        agg = importlib.import_module("vani.processors.aggregators")
        pipeline = importlib.import_module("vani.pipeline")

        def make_task(p: Any) -> Any:
            return pipeline.PipelineTask(p, idle_timeout_secs=None)

        async def run_task(task: Any) -> None:
            await pipeline.PipelineRunner(handle_sigint=False).run(task)

        def make_llm(base_url: str) -> Any:
            openai_mod = importlib.import_module("vani.services.openai")
            return openai_mod.OpenAILLMService(
                api_key="sk-bench", base_url=base_url, model="gpt-4o-mini"
            )

        return {
            "frames": frames,
            "FrameProcessor": importlib.import_module("vani.processors").FrameProcessor,
            "Pipeline": pipeline.Pipeline,
            "LLMContext": agg.LLMContext,
            "Pair": agg.LLMContextAggregatorPair,
            "make_task": make_task,
            "run_task": run_task,
            "make_llm": make_llm,
        }
    logger = importlib.import_module("loguru").logger
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    frames = importlib.import_module("pipecat.frames.frames")
    universal = importlib.import_module("pipecat.processors.aggregators.llm_response_universal")
    context_mod = importlib.import_module("pipecat.processors.aggregators.llm_context")
    try:
        worker = importlib.import_module("pipecat.pipeline.worker")
        params_cls, task_cls = worker.PipelineParams, worker.PipelineWorker
        runner_cls = importlib.import_module("pipecat.workers.runner").WorkerRunner
    except ImportError:
        task_module = importlib.import_module("pipecat.pipeline.task")
        params_cls, task_cls = task_module.PipelineParams, task_module.PipelineTask
        runner_cls = importlib.import_module("pipecat.pipeline.runner").PipelineRunner

    def make_task(p: Any) -> Any:
        return task_cls(
            p,
            params=params_cls(),
            enable_rtvi=False,
            enable_turn_tracking=False,
            idle_timeout_secs=None,
        )

    async def run_task(task: Any) -> None:
        runner = runner_cls(handle_sigint=False)
        if hasattr(runner, "add_workers"):
            await runner.add_workers(task)
            await runner.run()
        else:
            await runner.run(task)

    def make_llm(base_url: str) -> Any:
        llm_mod = importlib.import_module("pipecat.services.openai.llm")
        return llm_mod.OpenAILLMService(api_key="sk-bench", base_url=base_url, model="gpt-4o-mini")

    return {
        "frames": frames,
        "FrameProcessor": importlib.import_module(
            "pipecat.processors.frame_processor"
        ).FrameProcessor,
        "Pipeline": importlib.import_module("pipecat.pipeline.pipeline").Pipeline,
        "LLMContext": context_mod.LLMContext,
        "Pair": universal.LLMContextAggregatorPair,
        "make_task": make_task,
        "run_task": run_task,
        "make_llm": make_llm,
    }


class LLMRound:
    """A started ``[user aggregator, LLM, sink]`` session; :meth:`round` times one response."""

    def __init__(self, framework: str, base_url: str) -> None:
        self.fw = _load(framework)
        frames = self.fw["frames"]
        text_cls, end_cls = frames.LLMTextFrame, frames.LLMFullResponseEndFrame
        outer = self

        class Sink(self.fw["FrameProcessor"]):  # type: ignore[misc]
            async def process_frame(self, frame: Any, direction: Any) -> None:
                await super().process_frame(frame, direction)
                if isinstance(frame, text_cls):
                    now = time.perf_counter()
                    if outer.first_at is None:
                        outer.first_at = now
                    outer.last_at = now
                    outer.count += _tokens(frame.text)
                    outer.frames += 1
                elif isinstance(frame, end_cls) and outer.done is not None:
                    outer.done.set()
                await self.push_frame(frame, direction)

        self.context = self.fw["LLMContext"](messages=[dict(m) for m in MESSAGES])
        pair = self.fw["Pair"](self.context)
        self.llm = self.fw["make_llm"](base_url)
        self.task = self.fw["make_task"](self.fw["Pipeline"]([pair.user(), self.llm, Sink()]))
        self.first_at: float | None = None
        self.last_at = 0.0
        self.count = self.frames = 0
        self.done: asyncio.Event | None = None
        self._run: asyncio.Task[None] | None = None

    async def start(self) -> None:
        started = asyncio.Event()

        async def on_started(task: Any, frame: Any) -> None:
            started.set()

        self.task.event_handler("on_pipeline_started")(on_started)
        self._run = asyncio.create_task(self.fw["run_task"](self.task))
        await asyncio.wait_for(started.wait(), WAIT_S)

    async def round(self) -> tuple[float, float, float, int, int]:
        """One response: (seconds to first token, seconds per token, CPU s per token, tokens,
        frames)."""
        self.context.set_messages([dict(m) for m in MESSAGES])
        self.first_at, self.last_at, self.count, self.frames = None, 0.0, 0, 0
        self.done = asyncio.Event()
        c0, t0 = time.process_time(), time.perf_counter()
        await self.task.queue_frame(self.fw["frames"].LLMRunFrame())
        await asyncio.wait_for(self.done.wait(), WAIT_S)
        c1 = time.process_time()
        assert self.first_at is not None, "no token reached the sink"
        count = self.count
        return (
            self.first_at - t0,
            (self.last_at - self.first_at) / max(1, count - 1),
            (c1 - c0) / max(1, count),
            count,
            self.frames,
        )

    async def stop(self) -> None:
        assert self._run is not None
        await self.task.queue_frame(self.fw["frames"].EndFrame())
        await asyncio.wait_for(asyncio.shield(self._run), WAIT_S)


async def run_framework(framework: str, base_url: str, rounds: int) -> dict[str, float]:
    session = LLMRound(framework, base_url)
    await session.start()
    first: list[float] = []
    per_token: list[float] = []
    cpu: list[float] = []
    tokens = frames = 0
    try:
        await session.round()  # warm-up: connection, imports on first use
        for _ in range(rounds):
            f, p, c, tokens, frames = await session.round()
            first.append(f)
            per_token.append(p)
            cpu.append(c)
    finally:
        await session.stop()
    return _result(first, per_token, cpu, tokens, frames)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--tokens", type=int, default=200)
    s.add_argument("--spacing-ms", type=float, default=1.0)
    r = sub.add_parser("run")
    r.add_argument("--framework", choices=["vani", "pipecat", "sdk"], required=True)
    r.add_argument("--port", type=int, required=True)
    r.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    if args.cmd == "serve":
        asyncio.run(serve(args.tokens, args.spacing_ms))
        return
    base_url = f"http://127.0.0.1:{args.port}/v1"
    if args.framework == "sdk":
        result = asyncio.run(run_sdk(base_url, args.rounds))
    else:
        result = asyncio.run(run_framework(args.framework, base_url, args.rounds))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
