"""A restaurant voice agent that answers from Postgres: the menu by semantic search (pgvector),
the caller's own bookings and orders by query, never anyone else's.

    python -m vani.tools.postgres.example "$DATABASE_URL"     # once: schema + seed data
    DATABASE_URL=... vani run examples/restaurant_db_bot.py   # then open the printed URL

Speech: Sarvam with SARVAM_API_KEY, else Whisper + Piper on this machine (vani[local]). Brain:
OpenAI with OPENAI_API_KEY, else a scripted one that still calls the database tools. The caller
is the customer_id the client posts to /start (``{"body": {"customer_id": 2}}``); a real bot
takes it from its own authentication (a phone number lookup, a session). See docs/database.md.
"""

from typing import TYPE_CHECKING

from vani.pipeline import Pipeline
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.services.llm.base import LLMService
from vani.tools.postgres import PostgresTool
from vani.tools.postgres.example import PARAMS, SYSTEM_PROMPT, database, engines

if TYPE_CHECKING:
    from vani.server import Session


def build_pipeline(transport_in: FrameProcessor, transport_out: FrameProcessor,
                   tool: PostgresTool, customer_id: int, stt: FrameProcessor, llm: LLMService,
                   tts: FrameProcessor) -> Pipeline:  # fmt: skip
    from vani.audio.vad_processor import VADProcessor

    db = tool.session({"customer_id": customer_id})  # every query sees only this caller's rows
    db.register(llm)  # db_schema, db_query, db_search, db_refine
    talk = LLMContextAggregatorPair(
        LLMContext([{"role": "system", "content": SYSTEM_PROMPT}], db.tools)
    )
    steps = [transport_in, VADProcessor(), stt, talk.user(), llm, tts, transport_out]
    return Pipeline([*steps, talk.assistant()])


async def bot(session: "Session") -> None:
    tool = await database()  # one pool and one schema read per process ($DATABASE_URL)
    customer_id = int(str(session.call.custom_parameters.get("customer_id", 1)))
    stt, llm, tts = engines()
    pipeline = build_pipeline(session.input(), session.output(), tool, customer_id, stt, llm, tts)
    await session.run(session.task(pipeline, params=PARAMS))
