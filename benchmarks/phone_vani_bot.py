"""vani's side of ``phone_calls.py``: the live-calls bot (``live_vani_bot.py``'s pipeline) served
to Twilio media streams by ``vani run``, with a probe that notes when each call's first caller
audio reaches the VAD.

    VANI_BENCH_STT_URL=ws://… VANI_BENCH_TTS_URL=ws://… VANI_BENCH_OPENAI_URL=http://…/v1 \
        VANI_BENCH_PROBE=/tmp/probe.txt TWILIO_AUTH_TOKEN=… vani run benchmarks/phone_vani_bot.py

The probe appends ``<call sid> <time.monotonic()>`` to ``VANI_BENCH_PROBE`` once per call.
"""

from __future__ import annotations

import os
import time

from vani.audio.vad_processor import VADProcessor
from vani.frames import Frame, FrameDirection, InputAudioRawFrame
from vani.pipeline import Pipeline, PipelineParams
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.server import Session
from vani.services.openai import OpenAILLMService
from vani.services.sarvam import SarvamSTTService, SarvamTTSService

SYSTEM = "You are a restaurant's booking assistant. Answer in one short sentence."
STT_URL = os.environ["VANI_BENCH_STT_URL"]
TTS_URL = os.environ["VANI_BENCH_TTS_URL"]
OPENAI_URL = os.environ["VANI_BENCH_OPENAI_URL"]
PROBE = os.environ.get("VANI_BENCH_PROBE")


def note(call_id: str, when: float) -> None:
    """Append one probe line (once per call; the time was taken before this write)."""
    assert PROBE is not None
    with open(PROBE, "a") as f:
        f.write(f"{call_id} {when:.6f}\n")


class FirstAudioProbe(FrameProcessor):
    """Notes the monotonic time the first caller audio passes (then only forwards)."""

    def __init__(self, call_id: str) -> None:
        super().__init__(name="probe")
        self.call_id = call_id
        self.seen = PROBE is None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not self.seen and isinstance(frame, InputAudioRawFrame):
            self.seen = True
            note(self.call_id, time.monotonic())
        await self.push_frame(frame, direction)


async def bot(session: Session) -> None:
    call_id = str(getattr(session.call, "provider_call_id", "") or session.call.call_id)
    stt = SarvamSTTService(base_url=STT_URL)
    llm = OpenAILLMService(base_url=OPENAI_URL)
    tts = SarvamTTSService(base_url=TTS_URL)
    context = LLMContextAggregatorPair(LLMContext([{"role": "system", "content": SYSTEM}]))
    pipeline = Pipeline(
        [
            session.input(),
            FirstAudioProbe(call_id),
            VADProcessor(),
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
