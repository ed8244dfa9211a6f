"""A light bot for the operations tests: no models and no network, so many calls fit in a test.

``send-text`` runs a scripted LLM whose reply is spoken by :class:`ToneTTS` (a tone per word,
100 ms each); ``client-message`` ``whoami`` answers with this process's pid, so a client knows
which instance or worker holds its call.
"""

from __future__ import annotations

import os

import numpy as np

from vani.frames import (
    Frame,
    FrameDirection,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from vani.pipeline import Pipeline, PipelineParams
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext
from vani.server import Session
from vani.services.llm import ScriptedLLMService

RATE = 24000
WORD_SECS = float(os.environ.get("TONE_BOT_WORD_SECS", "0.1"))


class ToneTTS(FrameProcessor):
    """Speaks each word as a short tone; the text follows its audio, as real TTS services do."""

    metrics_role = "tts"

    def __init__(self) -> None:
        super().__init__(name="tone-tts")
        self._open = False
        t = np.arange(int(RATE * WORD_SECS)) / RATE
        self._tone = (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()

    async def _word(self, text: str) -> None:
        if not self._open:
            self._open = True
            await self.push_frame(TTSStartedFrame())
        await self.push_frame(TTSAudioRawFrame(audio=self._tone, sample_rate=RATE))
        await self.push_frame(TTSTextFrame(text=text))

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.DOWNSTREAM and isinstance(frame, LLMTextFrame):
            await self._word(frame.text)
        elif direction is FrameDirection.DOWNSTREAM and isinstance(frame, TTSSpeakFrame):
            for word in frame.text.split():
                await self._word(word)
            await self.push_frame(TTSStoppedFrame())
            self._open = False
        elif isinstance(frame, LLMFullResponseEndFrame) and self._open:
            self._open = False
            await self.push_frame(TTSStoppedFrame())
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)


def _reply(context: LLMContext) -> str:
    said = str(context.messages[-1].get("content") or "") if context.messages else ""
    return f"You said {said}. Thank you for calling."


async def bot(session: Session) -> None:
    @session.ravi.event_handler("on_client_message")
    async def whoami(processor: object, message: object) -> dict[str, int]:
        return {"pid": os.getpid()}

    llm = ScriptedLLMService(rule=_reply)
    pipeline = Pipeline([session.input(), llm, ToneTTS(), session.output()])
    params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=RATE)
    await session.run(session.task(pipeline, params=params))
