"""Pipecat 1.14 measured like bench_e2e.py measures vani: VAD stop -> first audio chunk out.

    /tmp/pipecat-venv/bin/python benchmarks/e2e_pipecat.py ROUNDS

Same pipeline shape and the same zero-latency fakes (STT, LLM, TTS written as Pipecat
processors), Pipecat's own LLMContextAggregatorPair with its external turn strategies (the turn
ends when the UserStoppedSpeakingFrame from upstream says so; no turn analyzer, zero timeout)
and Pipecat's BaseOutputTransport with a sink that records when the first chunk of each reply is
written. Prints one JSON line. Runs under the Pipecat venv; imports nothing from vani.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import warnings

from loguru import logger
from pipecat.frames.frames import (
    EndFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    StartFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.base_output import BaseOutputTransport
from pipecat.transports.base_transport import TransportParams
from pipecat.turns.user_start import ExternalUserTurnStartStrategy
from pipecat.turns.user_stop import ExternalUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

OUT_RATE = 24000
REPLY_AUDIO = bytes(OUT_RATE * 2 * 40 // 1000)


class Source(FrameProcessor):
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)


class ZeroSTT(FrameProcessor):
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            await self.push_frame(
                TranscriptionFrame(text="One large pepperoni, please.", user_id="", timestamp="")
            )


class ZeroLLM(FrameProcessor):
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self.push_frame(LLMFullResponseStartFrame())
            await self.push_frame(LLMTextFrame(text="Sure."))
            await self.push_frame(LLMFullResponseEndFrame())
        else:
            await self.push_frame(frame, direction)


class ZeroTTS(FrameProcessor):
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame):
            await self.push_frame(
                TTSAudioRawFrame(audio=REPLY_AUDIO, sample_rate=OUT_RATE, num_channels=1)
            )
            await self.push_frame(TTSTextFrame(text=frame.text, text_type="sentence"))
        else:
            await self.push_frame(frame, direction)


class TimingOutput(BaseOutputTransport):
    def __init__(self):
        super().__init__(TransportParams(audio_out_enabled=True, audio_out_sample_rate=OUT_RATE))
        self.first_chunk_ns = 0
        self.first_chunk = asyncio.Event()

    async def start(self, frame: StartFrame):
        await super().start(frame)
        await self.set_transport_ready(frame)

    async def write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if not self.first_chunk.is_set():
            self.first_chunk_ns = time.perf_counter_ns()
            self.first_chunk.set()
        return True


async def main(rounds: int) -> dict[str, float]:
    source, output = Source(), TimingOutput()
    context = LLMContext(messages=[{"role": "system", "content": "You sell pizza."}])
    strategies = UserTurnStrategies(
        start=[ExternalUserTurnStartStrategy()], stop=[ExternalUserTurnStopStrategy(timeout=0.0)]
    )
    pair = LLMContextAggregatorPair(
        context, user_params=LLMUserAggregatorParams(user_turn_strategies=strategies)
    )
    pipeline = Pipeline(
        [source, ZeroSTT(), pair.user(), ZeroLLM(), ZeroTTS(), output, pair.assistant()]
    )
    task = PipelineTask(
        pipeline,
        params=PipelineParams(audio_out_sample_rate=OUT_RATE),
        idle_timeout_secs=None,
        enable_rtvi=False,
    )
    started = asyncio.Event()

    @task.event_handler("on_pipeline_started")
    async def on_started(_task, _frame):
        started.set()

    runner = asyncio.create_task(PipelineRunner(handle_sigint=False).run(task))
    await asyncio.wait_for(started.wait(), 30)

    async def turn() -> int:
        await source.push_frame(VADUserStartedSpeakingFrame())
        await source.push_frame(UserStartedSpeakingFrame())
        await source.broadcast_interruption()  # as a VAD does: cuts the last reply
        await asyncio.sleep(0.001)  # let the interruption settle, as a real turn would
        output.first_chunk.clear()
        context.set_messages(context.get_messages()[:1])
        t0 = time.perf_counter_ns()
        await source.push_frame(VADUserStoppedSpeakingFrame())
        await source.push_frame(UserStoppedSpeakingFrame())
        await asyncio.wait_for(output.first_chunk.wait(), 10)
        return output.first_chunk_ns - t0

    for _ in range(min(20, rounds)):
        await turn()
    latencies = [await turn() for _ in range(rounds)]
    await task.queue_frame(EndFrame())
    await asyncio.wait_for(runner, 30)
    ordered = sorted(latencies)
    return {
        "median_us": statistics.median(ordered) / 1000,
        "p95_us": ordered[max(0, int(0.95 * len(ordered)) - 1)] / 1000,
        "turns": len(ordered),
    }


if __name__ == "__main__":
    warnings.simplefilter("ignore", DeprecationWarning)  # 1.3+ renames; same machinery
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    print(json.dumps(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))))
