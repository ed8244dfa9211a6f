"""A voice bot: Silero VAD, Sarvam speech, an OpenAI brain with one tool.

    SARVAM_API_KEY=... OPENAI_API_KEY=... python examples/voice_bot.py caller.wav
writes the call to call.wav (caller left, bot right). Other transports plug in the same way.
"""

import asyncio
import sys

from vani.audio.vad_processor import VADProcessor
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors.aggregators import FunctionSchema, LLMContext, LLMContextAggregatorPair
from vani.services.llm import FunctionCallParams
from vani.services.openai import OpenAILLMService
from vani.services.sarvam import SarvamSTTService, SarvamTTSService
from vani.transports.base import Transport
from vani.transports.file import FileTransport

PROMPT = "You answer calls for Vani Pizza in one short spoken sentence."
SARVAM = "wss://api.sarvam.ai"


async def opening_hours(params: FunctionCallParams) -> dict[str, str]:
    return {"today": "11 am to 11 pm"}


def build_bot(transport: Transport, llm_url: str | None = None, stt_url: str = SARVAM,
              tts_url: str = SARVAM) -> PipelineTask:  # fmt: skip
    llm = OpenAILLMService(base_url=llm_url)
    llm.register_function("opening_hours", opening_hours)
    hours = FunctionSchema("opening_hours", "When the shop is open today.")
    talk = LLMContextAggregatorPair(LLMContext([{"role": "system", "content": PROMPT}], [hours]))
    stt, tts = SarvamSTTService(base_url=stt_url), SarvamTTSService(base_url=tts_url)
    steps = [transport.input(), VADProcessor(), stt, talk.user(), llm, tts, transport.output()]
    return PipelineTask(Pipeline([*steps, talk.assistant()]))


if __name__ == "__main__":
    bot = build_bot(FileTransport(sys.argv[1], "call.wav", realtime=True))
    asyncio.run(PipelineRunner().run(bot))
