"""A phone bot: answer calls from Twilio, Telnyx, Plivo or Exotel (see docs/telephony.md).

    SARVAM_API_KEY=... OPENAI_API_KEY=... TWILIO_ACCOUNT_SID=... TWILIO_AUTH_TOKEN=... \\
        vani run examples/phone_bot.py --host 0.0.0.0 --public-url wss://bot.example.com

then point the number's voice webhook at https://bot.example.com/telephony/twilio (or
/telephony/telnyx with TELNYX_API_KEY and TELNYX_PUBLIC_KEY, /telephony/plivo with PLIVO_AUTH_ID
and PLIVO_AUTH_TOKEN: a webhook whose signature those do not check is refused; Exotel's Voicebot
applet at /telephony/exotel). The bot
greets the caller, answers with a tool, reads keypad digits (``DTMF: 12``) and hangs up through
the provider's API when the LLM calls ``end_call``. SARVAM_STT_URL / SARVAM_TTS_URL /
OPENAI_BASE_URL point it elsewhere (the tests use vani.testing's fakes).
"""

import os

from vani.audio.vad_processor import VADProcessor
from vani.frames import EndFrame, TTSSpeakFrame
from vani.pipeline import Pipeline, PipelineParams
from vani.processors.aggregators import (
    DTMFAggregator,
    FunctionSchema,
    LLMContext,
    LLMContextAggregatorPair,
)
from vani.server import Session
from vani.services.llm import FunctionCallParams
from vani.services.openai import OpenAILLMService
from vani.services.sarvam import SarvamSTTService, SarvamTTSService

PROMPT = "You answer phone calls for Vani Pizza in short spoken sentences."
GREETING = "Hello, Vani Pizza here. How can I help?"
SARVAM = "wss://api.sarvam.ai"


async def opening_hours(params: FunctionCallParams) -> dict[str, str]:
    return {"today": "11 am to 11 pm"}


async def bot(session: Session) -> None:
    call = session.call
    caller = getattr(call, "from_number", "") or "unknown"
    extra = " ".join(f"{k}={v}" for k, v in call.custom_parameters.items())
    system = {
        "role": "system",
        "content": f"{PROMPT} The caller's number is {caller}. Call parameters: {extra or 'none'}.",
    }
    llm = OpenAILLMService()
    talk = LLMContextAggregatorPair(
        LLMContext(
            [system],
            [
                FunctionSchema("opening_hours", "When the shop is open today."),
                FunctionSchema("end_call", "Hang up once the caller is done."),
            ],
        )
    )
    stt = SarvamSTTService(base_url=os.environ.get("SARVAM_STT_URL", SARVAM))
    tts = SarvamTTSService(base_url=os.environ.get("SARVAM_TTS_URL", SARVAM))
    pipeline = Pipeline(
        [
            session.input(),
            VADProcessor(),
            stt,
            DTMFAggregator(),
            talk.user(),
            llm,
            tts,
            session.output(),
            talk.assistant(),
        ]
    )
    task = session.task(pipeline, params=PipelineParams(audio_in_sample_rate=16000))

    async def end_call(params: FunctionCallParams) -> dict[str, bool]:
        await task.queue_frame(EndFrame())  # plays out what is queued, then hangs up
        return {"ok": True}

    llm.register_function("opening_hours", opening_hours)
    llm.register_function("end_call", end_call)

    @session.transport.event_handler("on_client_connected")
    async def greet(_transport: object, _connection: object) -> None:
        await task.queue_frame(TTSSpeakFrame(text=GREETING))

    await session.run(task)
