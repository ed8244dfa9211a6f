"""Sarvam client benchmarks (pytest-benchmark), one group per operation.

    pytest benchmarks/bench_sarvam.py --benchmark-only       # full
    pytest benchmarks/bench_sarvam.py --benchmark-disable    # quick: each once, as a plain test

Groups:

* ``sarvam-stt-encode-20ms``: building the wire message for 20 ms of audio (base64 + JSON),
  vani's concatenation against ``json.dumps`` of the dict (what a generic client does).
* ``sarvam-stt-send-20ms``: client CPU per 20 ms frame pushed through a pipeline into a
  connected ``SarvamSTTService`` during a turn (frame handling, encoding, socket write).
* ``sarvam-tts-receive-chunk``: client CPU per 20 ms audio message received and turned into a
  ``TTSAudioRawFrame`` (JSON, base64, framing, the pipeline hop).
* ``sarvam-tts-end-to-first-audio``: wall time from queueing ``LLMFullResponseEndFrame`` to the
  first ``TTSAudioRawFrame`` at the sink, with a zero-latency fake.
* ``sarvam-pipecat``: Pipecat 1.14's Sarvam services on the same scenarios against the same
  fakes, run under ``/tmp/pipecat-venv`` (skipped when that is missing); results in
  ``extra_info`` next to vani's.

The fakes run in their own processes, so process CPU time is the client's alone.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

# sarvam_scenarios.py is shared with sarvam_pipecat.py, which runs under another interpreter.
sys.path.insert(0, str(Path(__file__).parent))

from sarvam_scenarios import (
    FIRST_AUDIO_ROUNDS,
    FIRST_AUDIO_TEXT,
    STT_FRAMES,
    TTS_CHUNKS,
    TTS_TEXT,
    fake_server,
    seeded_pcm_frames,
)

from vani.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    VADUserStartedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.services.sarvam import SarvamSTTService, SarvamTTSService

ROUNDS = 5
PIPECAT_PYTHON = Path("/tmp/pipecat-venv/bin/python")


class _Sink(FrameProcessor):
    """Counts audio frames and wakes waiters; records when the first TTS audio arrived."""

    def __init__(self) -> None:
        super().__init__(name="bench-sink")
        self.input_audio = 0
        self.tts_audio = 0
        self.first_audio_at: float | None = None
        self.stopped = 0
        self.changed = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self.input_audio += 1
        elif isinstance(frame, TTSAudioRawFrame):
            self.tts_audio += 1
            if self.first_audio_at is None:
                self.first_audio_at = time.perf_counter()
            self.changed.set()
        elif isinstance(frame, TTSStoppedFrame):
            self.stopped += 1
            self.changed.set()
        await self.push_frame(frame, direction)

    async def wait(self, predicate: object) -> None:
        assert callable(predicate)
        while not predicate():
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)


class _Session:
    def __init__(self, processor: FrameProcessor) -> None:
        self.sink = _Sink()
        self.task = PipelineTask(
            Pipeline([processor, self.sink]),
            params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000),
            idle_timeout_secs=None,
        )
        self.run: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.run = asyncio.create_task(PipelineRunner(handle_sigint=False).run(self.task))

    async def stop(self) -> None:
        await self.task.queue_frame(EndFrame())
        assert self.run is not None
        await asyncio.wait_for(self.run, 20)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    try:
        yield lp
    finally:
        lp.run_until_complete(lp.shutdown_asyncgens())
        lp.close()


# -- encoding -----------------------------------------------------------------------------------


@pytest.mark.benchmark(group="sarvam-stt-encode-20ms")
def test_vani_encodes_20ms_of_audio_by_concatenation(benchmark: BenchmarkFixture) -> None:
    stt = SarvamSTTService(api_key="k")
    pcm = seeded_pcm_frames(1)[0]
    message = benchmark(stt._audio_message, pcm)
    assert json.loads(message) == {
        "audio": {
            "data": base64.b64encode(pcm).decode(),
            "sample_rate": 16000,
            "encoding": "audio/wav",
        }
    }


@pytest.mark.benchmark(group="sarvam-stt-encode-20ms")
def test_json_dumps_of_the_audio_dict_for_comparison(benchmark: BenchmarkFixture) -> None:
    pcm = seeded_pcm_frames(1)[0]

    def encode(data: bytes) -> str:
        audio = {
            "data": base64.b64encode(data).decode(),
            "sample_rate": 16000,
            "encoding": "audio/wav",
        }
        return json.dumps({"audio": audio})

    assert json.loads(benchmark(encode, pcm))["audio"]["sample_rate"] == 16000


# -- STT send -------------------------------------------------------------------------------------


@pytest.mark.benchmark(group="sarvam-stt-send-20ms")
def test_stt_client_cost_per_20ms_frame_sent(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop
) -> None:
    frames = seeded_pcm_frames()
    cpu_us: list[float] = []
    with fake_server("stt") as url:
        stt = SarvamSTTService(
            api_key="test-key", base_url=url, language="en-IN", keepalive_interval_s=0
        )
        session = _Session(stt)

        async def start() -> None:
            await session.start()
            while stt.connections_opened == 0:
                await asyncio.sleep(0.01)
            await session.task.queue_frame(VADUserStartedSpeakingFrame())

        async def push() -> None:
            target = session.sink.input_audio + len(frames)
            t0 = time.process_time()
            await session.task.queue_frames([InputAudioRawFrame(audio=f) for f in frames])
            while session.sink.input_audio < target:
                await asyncio.sleep(0)
            await asyncio.sleep(0.05)  # as for Pipecat: let any background sending finish
            cpu_us.append((time.process_time() - t0) / len(frames) * 1e6)

        loop.run_until_complete(start())
        benchmark.pedantic(lambda: loop.run_until_complete(push()), rounds=ROUNDS, iterations=1)
        loop.run_until_complete(session.stop())
    benchmark.extra_info["frames_per_round"] = STT_FRAMES
    benchmark.extra_info["client_cpu_us_per_20ms_median"] = statistics.median(cpu_us)


# -- TTS receive ----------------------------------------------------------------------------------


@pytest.mark.benchmark(group="sarvam-tts-receive-chunk")
def test_tts_client_cost_per_audio_chunk_received(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop
) -> None:
    cpu_us: list[float] = []
    with fake_server("tts") as url:
        tts = SarvamTTSService(api_key="test-key", base_url=url)
        session = _Session(tts)

        async def speak() -> None:
            chunks, stopped = session.sink.tts_audio, session.sink.stopped
            t0 = time.process_time()
            await session.task.queue_frame(TTSSpeakFrame(text=TTS_TEXT))
            await session.sink.wait(lambda: session.sink.stopped > stopped)
            received = session.sink.tts_audio - chunks
            assert received == TTS_CHUNKS
            cpu_us.append((time.process_time() - t0) / received * 1e6)

        loop.run_until_complete(session.start())
        benchmark.pedantic(lambda: loop.run_until_complete(speak()), rounds=ROUNDS, iterations=1)
        loop.run_until_complete(session.stop())
    benchmark.extra_info["chunks_per_round"] = TTS_CHUNKS
    benchmark.extra_info["client_cpu_us_per_chunk_median"] = statistics.median(cpu_us)


# -- TTS first audio ------------------------------------------------------------------------------


async def vani_first_audio_ms(url: str, rounds: int) -> list[float]:
    tts = SarvamTTSService(api_key="test-key", base_url=url)
    session = _Session(tts)
    await session.start()
    latencies: list[float] = []
    sink = session.sink
    for _ in range(rounds):
        stopped = sink.stopped
        sink.first_audio_at = None
        await session.task.queue_frames(
            [LLMFullResponseStartFrame(), LLMTextFrame(text=FIRST_AUDIO_TEXT)]
        )
        await asyncio.sleep(0.02)  # the text is in; nothing is spoken before the end
        assert sink.first_audio_at is None
        t0 = time.perf_counter()
        await session.task.queue_frame(LLMFullResponseEndFrame())
        await sink.wait(lambda: sink.first_audio_at is not None)
        assert sink.first_audio_at is not None
        latencies.append((sink.first_audio_at - t0) * 1000)
        await sink.wait(lambda: sink.stopped > stopped)  # noqa: B023 - awaited in this iteration
    await session.stop()
    return latencies


@pytest.mark.benchmark(group="sarvam-tts-end-to-first-audio")
def test_tts_time_from_response_end_to_first_audio(
    benchmark: BenchmarkFixture, loop: asyncio.AbstractEventLoop
) -> None:
    with fake_server("tts") as url:
        latencies = benchmark.pedantic(
            lambda: loop.run_until_complete(vani_first_audio_ms(url, FIRST_AUDIO_ROUNDS)),
            rounds=1,
            iterations=1,
        )
    assert len(latencies) == FIRST_AUDIO_ROUNDS
    benchmark.extra_info["first_audio_ms_median"] = statistics.median(latencies)
    benchmark.extra_info["first_audio_ms_p90"] = sorted(latencies)[int(0.9 * len(latencies)) - 1]


# -- Pipecat, same scenarios, same fakes ----------------------------------------------------------


@pytest.mark.benchmark(group="sarvam-pipecat")
def test_pipecat_sarvam_services_on_the_same_scenarios(benchmark: BenchmarkFixture) -> None:
    if not PIPECAT_PYTHON.exists():
        pytest.skip("no Pipecat venv at /tmp/pipecat-venv")
    quick = os.environ.get("VANI_BENCH_QUICK") == "1" or benchmark.disabled
    with fake_server("stt") as stt_url, fake_server("tts") as tts_url:
        script = Path(__file__).with_name("sarvam_pipecat.py")
        args = [str(PIPECAT_PYTHON), str(script), stt_url, tts_url, "1" if quick else str(ROUNDS)]

        def run() -> dict[str, float]:
            out = subprocess.run(args, capture_output=True, text=True, timeout=300, check=False)
            if out.returncode != 0:
                raise AssertionError(f"pipecat run failed:\n{out.stderr[-3000:]}")
            result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
            return result

        results = benchmark.pedantic(run, rounds=1, iterations=1)
    for key, value in results.items():
        benchmark.extra_info[f"pipecat_{key}"] = value
    assert results["tts_chunks"] == TTS_CHUNKS
