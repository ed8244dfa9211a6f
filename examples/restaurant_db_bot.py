"""A restaurant voice agent that answers from Postgres: the menu by semantic search (pgvector),
the caller's own bookings and orders by query, never anyone else's.

    python -m vani.tools.postgres.example "$DATABASE_URL"     # once: schema + seed data
    DATABASE_URL=... vani run examples/restaurant_db_bot.py   # then open the printed URL

Speech: Sarvam with SARVAM_API_KEY, else Whisper + Piper on this machine (vani[local]). Brain:
OpenAI with OPENAI_API_KEY, else a scripted one that still calls the database tools. The caller
is the customer_id the client posts to /start (``{"body": {"customer_id": 2}}``); a real bot
takes it from its own authentication (a phone number lookup, a session). See docs/database.md.
"""

import os
from typing import TYPE_CHECKING

from vani.audio.vad_processor import VADProcessor
from vani.pipeline import Pipeline, PipelineParams
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm import ScriptedLLMService
from vani.services.llm.base import LLMService
from vani.tools.postgres import MiniLMEmbedder, PostgresTool
from vani.tools.postgres.example import SYSTEM_PROMPT, restaurant_script

if TYPE_CHECKING:
    from vani.server import Session

PARAMS = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000)

_tool: PostgresTool | None = None


async def database() -> PostgresTool:
    """One pool and one introspection per process, shared by every call."""
    global _tool
    if _tool is None:
        _tool = await PostgresTool.connect(
            os.environ["DATABASE_URL"],
            schemas=["restaurant"],
            masks=["password_hash", "phone", "email"],
            embedder=MiniLMEmbedder(),
        )
    return _tool


def engines() -> tuple[FrameProcessor, LLMService, FrameProcessor]:
    if os.environ.get("SARVAM_API_KEY"):
        from vani.services.sarvam import SarvamSTTService, SarvamTTSService

        stt, tts = SarvamSTTService(), SarvamTTSService()
    else:
        from vani.services.local import PiperTTSService, WhisperSTTService

        stt, tts = WhisperSTTService(), PiperTTSService()
    if os.environ.get("OPENAI_API_KEY"):
        from vani.services.openai import OpenAILLMService

        return stt, OpenAILLMService(), tts
    return stt, ScriptedLLMService(rule=restaurant_script), tts


def build_pipeline(
    steps_in: FrameProcessor,
    steps_out: FrameProcessor,
    tool: PostgresTool,
    customer_id: int,
    stt: FrameProcessor,
    llm: LLMService,
    tts: FrameProcessor,
) -> Pipeline:
    db = tool.session({"customer_id": customer_id})  # every query sees only this caller's rows
    db.register(llm)
    talk = LLMContextAggregatorPair(
        LLMContext([{"role": "system", "content": SYSTEM_PROMPT}], db.tools)
    )
    steps = [steps_in, VADProcessor(), stt, talk.user(), llm, tts, steps_out, talk.assistant()]
    return Pipeline(steps)


async def bot(session: "Session") -> None:
    """``vani run``'s entry point: one call."""
    tool = await database()
    customer_id = int(str(session.call.custom_parameters.get("customer_id", 1)))
    stt, llm, tts = engines()
    pipeline = build_pipeline(session.input(), session.output(), tool, customer_id, stt, llm, tts)
    await session.run(session.task(pipeline, params=PARAMS))
