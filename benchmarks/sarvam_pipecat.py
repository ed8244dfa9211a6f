"""Pipecat 1.14's Sarvam services on the scenarios of ``sarvam_scenarios.py``.

Run under Pipecat's interpreter by ``bench_sarvam.py``::

    /tmp/pipecat-venv/bin/python benchmarks/sarvam_pipecat.py STT_URL TTS_URL ROUNDS

and prints one JSON object. Pipecat's ``SarvamTTSService`` takes ``url=``, so it is pointed at
the fake directly. Its ``SarvamSTTService`` builds the ``sarvamai`` SDK client with the
production host and no override, so after construction its private ``_sarvam_client`` is
replaced by one whose ``SarvamAIEnvironment`` names the fake; nothing else is changed.
Pipecat streams all audio (no local-VAD gating), which is what it does in production too.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from sarvam_scenarios import (
    FIRST_AUDIO_ROUNDS,
    FIRST_AUDIO_TEXT,
    TTS_TEXT,
    seeded_pcm_frames,
)


def _pipecat() -> dict[str, Any]:
    logger = importlib.import_module("loguru").logger
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    worker = importlib.import_module("pipecat.pipeline.worker")
    return {
        "frames": importlib.import_module("pipecat.frames.frames"),
        "Pipeline": importlib.import_module("pipecat.pipeline.pipeline").Pipeline,
        "FrameProcessor": importlib.import_module(
            "pipecat.processors.frame_processor"
        ).FrameProcessor,
        "PipelineParams": worker.PipelineParams,
        "PipelineWorker": worker.PipelineWorker,
        "WorkerRunner": importlib.import_module("pipecat.workers.runner").WorkerRunner,
        "stt": importlib.import_module("pipecat.services.sarvam.stt"),
        "tts": importlib.import_module("pipecat.services.sarvam.tts"),
    }


PC = _pipecat()
F = PC["frames"]


class Sink(PC["FrameProcessor"]):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.input_audio = 0
        self.tts_audio = 0
        self.first_audio_at: float | None = None
        self.stopped = 0
        self.changed = asyncio.Event()

    async def process_frame(self, frame: Any, direction: Any) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, F.InputAudioRawFrame):
            self.input_audio += 1
        elif isinstance(frame, F.TTSAudioRawFrame):
            self.tts_audio += 1
            if self.first_audio_at is None:
                self.first_audio_at = time.perf_counter()
            self.changed.set()
        elif isinstance(frame, F.TTSStoppedFrame):
            self.stopped += 1
            self.changed.set()
        await self.push_frame(frame, direction)

    async def wait(self, predicate: Any) -> None:
        while not predicate():
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)


class Session:
    def __init__(self, processor: Any) -> None:
        self.sink = Sink()
        self.task = PC["PipelineWorker"](
            PC["Pipeline"]([processor, self.sink]),
            params=PC["PipelineParams"](audio_in_sample_rate=16000, audio_out_sample_rate=24000),
            enable_rtvi=False,
            enable_turn_tracking=False,
            idle_timeout_secs=None,
        )
        self.run: asyncio.Task[None] | None = None

    async def start(self) -> None:
        runner = PC["WorkerRunner"](handle_sigint=False)

        async def go() -> None:
            await runner.add_workers(self.task)
            await runner.run()

        self.run = asyncio.create_task(go())

    async def stop(self) -> None:
        await self.task.queue_frame(F.EndFrame())
        assert self.run is not None
        await asyncio.wait_for(self.run, 20)


async def stt_send(url: str, rounds: int) -> list[float]:
    sarvam = importlib.import_module("sarvamai")
    env = importlib.import_module("sarvamai.environment")
    stt_mod = PC["stt"]
    stt = stt_mod.SarvamSTTService(api_key="test-key", sample_rate=16000)
    stt._sarvam_client = sarvam.AsyncSarvamAI(
        api_subscription_key="test-key",
        environment=env.SarvamAIEnvironment(base=url.replace("ws", "http", 1), production=url),
    )
    session = Session(stt)
    await session.start()
    for _ in range(500):
        if stt._socket_client is not None:
            break
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("pipecat stt did not connect to the fake")
    frames = seeded_pcm_frames()
    cpu_us = []
    for _ in range(rounds):
        target = session.sink.input_audio + len(frames)
        t0 = time.process_time()
        await session.task.queue_frames(
            [F.InputAudioRawFrame(audio=f, sample_rate=16000, num_channels=1) for f in frames]
        )
        while session.sink.input_audio < target:
            await asyncio.sleep(0)
        # Pipecat sends from its own tasks: let them drain before reading the clock.
        await asyncio.sleep(0.05)
        cpu_us.append((time.process_time() - t0) / len(frames) * 1e6)
    await session.stop()
    return cpu_us


async def tts_receive(url: str, rounds: int) -> tuple[list[float], int]:
    tts = PC["tts"].SarvamTTSService(api_key="test-key", url=url + "/text-to-speech/ws")
    session = Session(tts)
    await session.start()
    await asyncio.sleep(0.3)
    cpu_us = []
    received = 0
    for _ in range(rounds):
        chunks, stopped = session.sink.tts_audio, session.sink.stopped
        t0 = time.process_time()
        await session.task.queue_frame(F.TTSSpeakFrame(text=TTS_TEXT))
        await session.sink.wait(lambda: session.sink.stopped > stopped)  # noqa: B023
        received = session.sink.tts_audio - chunks
        cpu_us.append((time.process_time() - t0) / received * 1e6)
    await session.stop()
    return cpu_us, received


async def first_audio(url: str, rounds: int) -> list[float]:
    tts = PC["tts"].SarvamTTSService(api_key="test-key", url=url + "/text-to-speech/ws")
    session = Session(tts)
    await session.start()
    await asyncio.sleep(0.3)
    latencies = []
    sink = session.sink
    for _ in range(rounds):
        stopped = sink.stopped
        sink.first_audio_at = None
        await session.task.queue_frames(
            [F.LLMFullResponseStartFrame(), F.LLMTextFrame(text=FIRST_AUDIO_TEXT)]
        )
        await asyncio.sleep(0.02)
        t0 = time.perf_counter()
        await session.task.queue_frame(F.LLMFullResponseEndFrame())
        await sink.wait(lambda: sink.first_audio_at is not None)
        latencies.append((sink.first_audio_at - t0) * 1000)
        await sink.wait(lambda: sink.stopped > stopped)  # noqa: B023
    await session.stop()
    return latencies


async def main(stt_url: str, tts_url: str, rounds: int) -> dict[str, float]:
    stt_cpu = await stt_send(stt_url, rounds)
    tts_cpu, chunks = await tts_receive(tts_url, rounds)
    latencies = await first_audio(tts_url, FIRST_AUDIO_ROUNDS if rounds > 1 else 3)
    return {
        "stt_client_cpu_us_per_20ms_median": statistics.median(stt_cpu),
        "tts_client_cpu_us_per_chunk_median": statistics.median(tts_cpu),
        "tts_chunks": chunks,
        "first_audio_ms_median": statistics.median(latencies),
    }


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    sys.stdout.write(json.dumps(result) + "\n")
