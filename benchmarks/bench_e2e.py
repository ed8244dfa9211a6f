"""End-to-end framework latency and process memory (pytest-benchmark), one group per operation.

    pytest benchmarks/bench_e2e.py --benchmark-only        # full
    pytest benchmarks/bench_e2e.py --benchmark-disable     # quick: each once, as a plain test
    python benchmarks/bench_e2e.py                         # the same figures as a table

Groups:

* ``e2e-turn-latency``: from the VAD's stop (``VADUserStoppedSpeakingFrame`` entering the
  pipeline) to the first bot audio chunk leaving the output transport, with zero-latency fakes
  for STT, LLM and TTS, so every microsecond is the framework's own: user aggregator, context,
  LLM, TTS and the output transport's queue, chunking and pacing. Two vani variants (minimal
  fake LLM; the real ``ScriptedLLMService`` machinery) and Pipecat 1.14 measured the same way
  by ``e2e_pipecat.py`` under ``/tmp/pipecat-venv`` (skipped when missing), with the same fakes
  and its external turn strategies set to zero timeout. Each round is one user turn; every turn
  starts with the user speaking and an interruption broadcast from the source (as the VAD
  does), which cuts the previous reply; only VAD stop -> first chunk is timed.
* ``e2e-rss``: peak RSS of a whole ``vani demo`` call in a fresh process (offline: Silero,
  Whisper, Piper), and of the same pipeline with the Sarvam STT/TTS and OpenAI fakes instead of
  the local models (``e2e_rss.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from vani.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import ScriptedLLMService
from vani.transports.base import BaseOutputTransport, TransportParams
from vani.transports.clock import WallClock

HERE = Path(__file__).parent
PIPECAT_PYTHON = Path("/tmp/pipecat-venv/bin/python")
ROUNDS = 300
OUT_RATE = 24000
REPLY_AUDIO = bytes(OUT_RATE * 2 * 40 // 1000)  # 40 ms: one output chunk


class _Source(FrameProcessor):
    """Where the benchmark injects the VAD's frames."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class ZeroSTT(FrameProcessor):
    """Has the transcript ready the moment the VAD stops."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            await self.push_frame(TranscriptionFrame(text="One large pepperoni, please."))


class ZeroLLM(FrameProcessor):
    """Answers every context at once with one short sentence."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self.push_frame(LLMFullResponseStartFrame())
            await self.push_frame(LLMTextFrame(text="Sure."))
            await self.push_frame(LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)


class ZeroTTS(FrameProcessor):
    """Speaks every text token at once: 40 ms of audio, then the text (after its audio)."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame):
            await self.push_frame(TTSAudioRawFrame(audio=REPLY_AUDIO, sample_rate=OUT_RATE))
            await self.push_frame(TTSTextFrame(text=frame.text))
        else:
            await self.push_frame(frame, direction)


class TimingOutput(BaseOutputTransport):
    """An output transport whose "client" records when the first chunk of each reply leaves."""

    def __init__(self) -> None:
        super().__init__(TransportParams(), WallClock(), name="TimingOutput")
        self.first_chunk_ns = 0
        self.first_chunk = asyncio.Event()

    async def write_audio(self, chunk: bytes, *, at: float) -> None:
        if not self.first_chunk.is_set():
            self.first_chunk_ns = time.perf_counter_ns()
            self.first_chunk.set()

    async def clear_playback(self, *, at: float) -> None:
        return None


class TurnBench:
    """One pipeline, running on its own loop; :meth:`turn` measures one user turn (ns)."""

    def __init__(self, scripted_llm: bool) -> None:
        self.loop = asyncio.new_event_loop()
        self.source = _Source(name="vad")
        self.output = TimingOutput()
        context = LLMContext(messages=[{"role": "system", "content": "You sell pizza."}])
        pair = LLMContextAggregatorPair(context)
        llm: FrameProcessor
        if scripted_llm:
            llm = ScriptedLLMService(rule=lambda _context: "Sure.")
        else:
            llm = ZeroLLM(name="llm")
        self._context = context
        pipeline = Pipeline(
            [self.source, ZeroSTT(), pair.user(), llm, ZeroTTS(), self.output, pair.assistant()]
        )
        self.task = PipelineTask(
            pipeline,
            params=PipelineParams(audio_out_sample_rate=OUT_RATE),
            idle_timeout_secs=None,
        )
        self.runner: asyncio.Task[None] | None = None

    def start(self) -> None:
        async def begin() -> None:
            started = asyncio.Event()

            @self.task.event_handler("on_pipeline_started")
            async def on_started(_task: PipelineTask, _frame: Frame) -> None:
                started.set()

            self.runner = asyncio.get_running_loop().create_task(
                PipelineRunner(handle_sigint=False).run(self.task)
            )
            await started.wait()

        self.loop.run_until_complete(begin())

    async def _prepare(self) -> None:
        await self.source.push_frame(VADUserStartedSpeakingFrame())
        await self.source.push_frame(UserStartedSpeakingFrame())
        await self.source.broadcast_interruption()  # as the VAD does: cuts the last reply
        await asyncio.sleep(0.001)  # let the interruption settle, as a real turn would
        self.output.first_chunk.clear()
        # Keep the context small: a long conversation would measure list copies, not us.
        del self._context.messages[1:]

    async def _stop(self) -> int:
        t0 = time.perf_counter_ns()
        await self.source.push_frame(VADUserStoppedSpeakingFrame())
        await self.source.push_frame(UserStoppedSpeakingFrame())
        await self.output.first_chunk.wait()
        return self.output.first_chunk_ns - t0

    def prepare(self) -> None:
        """The user starts a turn (untimed)."""
        self.loop.run_until_complete(self._prepare())

    def stop(self) -> int:
        """The VAD stops; returns ns until the first chunk of the reply left the output."""
        return self.loop.run_until_complete(self._stop())

    def turn(self) -> int:
        self.prepare()
        return self.stop()

    def close(self) -> None:
        async def end() -> None:
            await self.task.queue_frame(EndFrame())
            if self.runner is not None:
                await asyncio.wait_for(self.runner, 10)

        try:
            self.loop.run_until_complete(end())
        finally:
            self.loop.close()


@contextmanager
def running(scripted_llm: bool) -> Iterator[TurnBench]:
    bench = TurnBench(scripted_llm)
    bench.start()
    try:
        yield bench
    finally:
        bench.close()


def summary_us(latencies_ns: list[int]) -> dict[str, float]:
    ordered = sorted(latencies_ns)
    return {
        "median_us": statistics.median(ordered) / 1000,
        "p95_us": ordered[max(0, int(0.95 * len(ordered)) - 1)] / 1000,
        "turns": len(ordered),
    }


def measure_vani(scripted_llm: bool, rounds: int) -> dict[str, float]:
    with running(scripted_llm) as bench:
        for _ in range(20):
            bench.turn()  # warm up
        return summary_us([bench.turn() for _ in range(rounds)])


def run_script(script: str, *args: str, python: str = sys.executable) -> dict[str, float]:
    env = dict(os.environ)
    # The child imports the same vani as this process (source tree or installed wheel).
    import vani

    vani_root = str(Path(vani.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([vani_root, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [python, str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )
    if out.returncode != 0:
        raise AssertionError(f"{script} failed:\n{out.stderr[-3000:]}")
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _quick(benchmark: BenchmarkFixture) -> bool:
    return benchmark.disabled or os.environ.get("VANI_BENCH_QUICK") == "1"


# -- latency -------------------------------------------------------------------------------------


@pytest.mark.benchmark(group="e2e-turn-latency")
@pytest.mark.parametrize("llm", ["zero-fake", "scripted-service"])
def test_vani_latency_from_vad_stop_to_first_audio_chunk(
    benchmark: BenchmarkFixture, llm: str
) -> None:
    with running(scripted_llm=llm == "scripted-service") as bench:
        for _ in range(20):
            bench.turn()
        latencies: list[int] = []

        def one() -> None:
            latencies.append(bench.stop())

        # Timed: VAD stop to first chunk out (plus one run_until_complete); the new turn that
        # interrupts the previous reply is set up untimed.
        benchmark.pedantic(
            one, setup=bench.prepare, rounds=1 if _quick(benchmark) else ROUNDS, iterations=1
        )
    stats = summary_us(latencies)
    benchmark.extra_info.update(stats)
    assert latencies
    assert all(x > 0 for x in latencies)


@pytest.mark.benchmark(group="e2e-turn-latency")
def test_pipecat_latency_measured_the_same_way(benchmark: BenchmarkFixture) -> None:
    if not PIPECAT_PYTHON.exists():
        pytest.skip("no Pipecat venv at /tmp/pipecat-venv")
    rounds = "5" if _quick(benchmark) else str(ROUNDS)
    result = benchmark.pedantic(
        lambda: run_script("e2e_pipecat.py", rounds, python=str(PIPECAT_PYTHON)),
        rounds=1,
        iterations=1,
    )
    benchmark.extra_info.update({f"pipecat_{k}": v for k, v in result.items()})
    assert result["turns"] == int(rounds)


# -- memory --------------------------------------------------------------------------------------


@pytest.mark.benchmark(group="e2e-rss")
@pytest.mark.parametrize("engines", ["offline", "cloud-fakes"])
def test_peak_rss_of_a_whole_demo_call(benchmark: BenchmarkFixture, engines: str) -> None:
    result = benchmark.pedantic(lambda: run_script("e2e_rss.py", engines), rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    assert result["bot_replies"] >= 1
    assert result["peak_rss_mib"] > 0


def _table(rows: list[tuple[str, Callable[[], dict[str, float]]]]) -> None:
    for name, fn in rows:
        print(f"{name:<40} {json.dumps(fn())}", flush=True)


if __name__ == "__main__":
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS
    rows: list[tuple[str, Callable[[], dict[str, float]]]] = [
        ("vani, zero fakes", lambda: measure_vani(False, rounds)),
        ("vani, ScriptedLLMService", lambda: measure_vani(True, rounds)),
    ]
    if PIPECAT_PYTHON.exists():
        rows.append(
            (
                "pipecat 1.14, zero fakes",
                lambda: run_script("e2e_pipecat.py", str(rounds), python=str(PIPECAT_PYTHON)),
            )
        )
    rows += [
        ("rss: vani demo offline", lambda: run_script("e2e_rss.py", "offline")),
        ("rss: same pipeline, cloud fakes", lambda: run_script("e2e_rss.py", "cloud-fakes")),
    ]
    _table(rows)
