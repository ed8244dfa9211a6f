"""vani's side of ``live_calls.py``: the bot ``vani run`` serves, the same pipeline as Pipecat's
in ``live_pipecat_bot.py``, pointed at the fakes of ``live_fakes.py``.

    VANI_BENCH_STT_URL=ws://… VANI_BENCH_TTS_URL=ws://… VANI_BENCH_OPENAI_URL=http://…/v1 \
        SARVAM_API_KEY=test-key OPENAI_API_KEY=sk-test vani run benchmarks/live_vani_bot.py

Per call: WebSocketTransport with the protobuf serializer (chosen by the server from the
client's framing) → RAVI (RTVI 2.2: ``client-ready`` answered with ``bot-ready``, events out
through the observer) → Silero VAD → Sarvam STT → user context aggregator → OpenAI LLM →
Sarvam TTS → transport output → assistant context aggregator. 16 kHz in, 24 kHz out, as on
Pipecat's side.
"""

from __future__ import annotations

import os

from vani.audio.vad_processor import VADProcessor
from vani.pipeline import Pipeline, PipelineParams
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.server import Session
from vani.services.openai import OpenAILLMService
from vani.services.sarvam import SarvamSTTService, SarvamTTSService

SYSTEM = "You are a restaurant's booking assistant. Answer in one short sentence."
STT_URL = os.environ["VANI_BENCH_STT_URL"]
TTS_URL = os.environ["VANI_BENCH_TTS_URL"]
OPENAI_URL = os.environ["VANI_BENCH_OPENAI_URL"]
# Off unless set: the bound on audio queued behind the VAD when the server is past capacity
# (``VADProcessor(max_backlog_secs=...)``; Pipecat has no counterpart).
MAX_BACKLOG_SECS = float(os.environ.get("VANI_BENCH_VAD_MAX_BACKLOG_SECS", "0")) or None
# "0": the STT keeps the input audio (``audio_passthrough=False``; the VAD is before it).
AUDIO_PASSTHROUGH = os.environ.get("VANI_BENCH_AUDIO_PASSTHROUGH", "1") != "0"


async def bot(session: Session) -> None:
    stt = SarvamSTTService(base_url=STT_URL, audio_passthrough=AUDIO_PASSTHROUGH)
    llm = OpenAILLMService(base_url=OPENAI_URL)
    tts = SarvamTTSService(base_url=TTS_URL)
    context = LLMContextAggregatorPair(LLMContext([{"role": "system", "content": SYSTEM}]))
    pipeline = Pipeline(
        [
            session.input(),
            VADProcessor(max_backlog_secs=MAX_BACKLOG_SECS),
            stt,
            context.user(),
            llm,
            tts,
            session.output(),
            context.assistant(),
        ]
    )
    params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000)
    await session.run(session.task(pipeline, params=params))
