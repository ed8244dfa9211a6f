"""A bot for ``vani run`` whose speech engines and LLM answer at once (zero latency).

Silero VAD (real) → a speech-to-text that has the transcript ready the moment the VAD stops →
the user context → a scripted LLM that answers in one sentence → a text-to-speech that turns
each piece of text into a tone at once → the caller. Every millisecond between the caller's end
of speech and the first bot audio is then the framework's own (the VAD's ``stop_secs`` wait, the
pipeline, the WebSocket transport's pacing, the socket, the page's jitter buffer).

Used by ``benchmarks/browser_latency.py`` (vani's share of browser → bot → browser latency)
and by the browser tests (tests/browser/). Try it: ``vani run benchmarks/browser_fakes_bot.py``.
"""

from __future__ import annotations

import math
import struct

from vani.audio.vad_processor import VADProcessor
from vani.frames import (
    Frame,
    FrameDirection,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineParams
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.server.session import Session
from vani.services.llm import ScriptedLLMService

OUT_RATE = 24000
TRANSCRIPT = "I would like a large pepperoni pizza."
REPLY = "Sure, one large pepperoni."
MS_PER_CHARACTER = 40


def _tone(num_samples: int, freq: float = 330.0, amplitude: float = 0.2) -> bytes:
    fade = min(240, num_samples // 2)  # 10 ms ramps: no clicks
    samples = []
    for i in range(num_samples):
        gain = min(1.0, i / fade, (num_samples - i) / fade) if fade else 1.0
        value = amplitude * gain * math.sin(2 * math.pi * freq * i / OUT_RATE)
        samples.append(int(value * 32767))
    return struct.pack(f"<{num_samples}h", *samples)


class InstantSTT(FrameProcessor):
    """Has the transcript ready the moment the VAD says the user stopped."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            await self.push_frame(TranscriptionFrame(text=TRANSCRIPT, user_id="caller"))


class InstantTTS(FrameProcessor):
    """Speaks each piece of text at once: a tone as long as the text would take, then the text."""

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMTextFrame) and frame.text.strip():
            num_samples = OUT_RATE * MS_PER_CHARACTER * len(frame.text) // 1000
            audio = _tone(max(num_samples, OUT_RATE // 5))
            await self.push_frame(TTSAudioRawFrame(audio=audio, sample_rate=OUT_RATE))
            await self.push_frame(TTSTextFrame(text=frame.text))
        else:
            await self.push_frame(frame, direction)


async def bot(session: Session) -> None:
    context = LLMContext(messages=[{"role": "system", "content": "You take pizza orders."}])
    talk = LLMContextAggregatorPair(context)
    pipeline = Pipeline(
        [
            session.input(),
            VADProcessor(),
            InstantSTT(),
            talk.user(),
            ScriptedLLMService(rule=lambda _context: REPLY),
            InstantTTS(),
            session.output(),
            talk.assistant(),
        ]
    )
    params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=OUT_RATE)
    await session.run(session.task(pipeline, params=params))
