"""A live voice bot: talk to it from any Pipecat client (or vani's page) over WebSocket.

    SARVAM_API_KEY=... OPENAI_API_KEY=... vani run examples/live_bot.py
then open http://127.0.0.1:7860. ``vani run`` calls ``bot(session)`` once per call; see
docs/server.md. SARVAM_STT_URL / SARVAM_TTS_URL / OPENAI_BASE_URL point it elsewhere.
"""

import os

from vani.audio.vad_processor import VADProcessor
from vani.pipeline import Pipeline
from vani.processors.aggregators import FunctionSchema, LLMContext, LLMContextAggregatorPair
from vani.server import Session
from vani.services.llm import FunctionCallParams
from vani.services.openai import OpenAILLMService
from vani.services.sarvam import SarvamSTTService, SarvamTTSService

PROMPT = "You answer calls for Vani Pizza in one short spoken sentence."
SARVAM = "wss://api.sarvam.ai"


async def opening_hours(params: FunctionCallParams) -> dict[str, str]:
    return {"today": "11 am to 11 pm"}


async def bot(session: Session) -> None:
    name = session.call.custom_parameters.get("name", "there")
    llm = OpenAILLMService()
    llm.register_function("opening_hours", opening_hours)
    hours = FunctionSchema("opening_hours", "When the shop is open today.")
    system = {"role": "system", "content": f"{PROMPT} The caller is {name}."}
    talk = LLMContextAggregatorPair(LLMContext([system], [hours]))
    stt = SarvamSTTService(base_url=os.environ.get("SARVAM_STT_URL", SARVAM))
    tts = SarvamTTSService(base_url=os.environ.get("SARVAM_TTS_URL", SARVAM))
    steps = [session.input(), VADProcessor(), stt, talk.user(), llm, tts, session.output()]
    await session.run(Pipeline([*steps, talk.assistant()]))
