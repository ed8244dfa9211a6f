"""A phone call through each provider's media stream (Twilio, Telnyx, Plivo, Exotel) with the
offline engines ``vani serve`` uses: Silero VAD, Whisper tiny.en hearing a real 8 kHz telephone
recording, a scripted LLM that calls a tool, Piper speaking back; the simulator as caller and
provider (signed webhook, the provider's wire format, marks where the provider has them)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from vani.audio.vad_processor import VADProcessor
from vani.frames import JSONObject
from vani.pipeline import Pipeline, PipelineParams
from vani.processors.aggregators import FunctionSchema, LLMContext, LLMContextAggregatorPair
from vani.server import RunningServer, ServerConfig, Session, VaniServer
from vani.server.telephony import TelephonyCallInfo, TelephonySettings
from vani.services.llm import FunctionCallParams, ScriptedLLMService, ScriptedToolCall
from vani.services.llm.scripted import ScriptedTurn
from vani.testing import FakeTelephonyAPI, TelephonySimulator

SPEECH = Path(__file__).parents[1] / "fixtures" / "telephone"


@pytest.mark.slow  # Whisper and Piper load and run: ~10 s per provider
@pytest.mark.parametrize("provider", ["twilio", "telnyx", "plivo", "exotel"])
async def test_a_phone_call_with_the_offline_engines(provider: str) -> None:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("piper")
    from vani.services.local import PiperTTSService, WhisperSTTService

    heard: list[str] = []
    calls: list[TelephonyCallInfo] = []

    def brain(context: LLMContext) -> ScriptedTurn | str:
        last: JSONObject = context.messages[-1]
        if last.get("role") == "user":
            heard.append(str(last.get("content")))
            return ScriptedTurn(tool_calls=[ScriptedToolCall("report_outage", {})])
        return "I am sorry. A technician is on the way."

    async def report_outage(params: FunctionCallParams) -> dict[str, str]:
        return {"ticket": "42"}

    async def bot(session: Session) -> None:
        assert isinstance(session.call, TelephonyCallInfo)
        calls.append(session.call)
        llm = ScriptedLLMService(rule=brain)
        llm.register_function("report_outage", report_outage)
        schema = FunctionSchema("report_outage", "Open a ticket for a broken phone line.")
        talk = LLMContextAggregatorPair(LLMContext([], [schema]))
        pipeline = Pipeline(
            [
                session.input(),
                VADProcessor(),
                WhisperSTTService(),
                talk.user(),
                llm,
                PiperTTSService(),
                session.output(),
                talk.assistant(),
            ]
        )
        params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=22050)
        await session.run(session.task(pipeline, params=params))

    async with FakeTelephonyAPI() as api:
        settings = TelephonySettings(credentials=api.credentials())
        server = VaniServer(bot, ServerConfig(port=0, secret="s" * 32), telephony=settings)
        async with RunningServer(server) as running:
            sim = TelephonySimulator(
                provider,
                running.url,
                twilio_auth_token=api.twilio_auth_token,
                plivo_auth_token=api.plivo_auth_token,
                telnyx_signing_key=api.telnyx_signing_key,
                reorder_every=7 if provider == "telnyx" else 0,
            )
            async with sim:
                await sim.silence(0.3)
                await sim.play(SPEECH / "tt-weasels.wav")
                line = sim.start_playing(bytes(16000 * 60))
                await sim.wait_for_audio(1.0, timeout=60)
                if provider != "exotel":  # Exotel has no playback marks
                    await sim.wait_for_event("mark_echo", timeout=30)
                line.cancel()
                await sim.hang_up()
            async with asyncio.timeout(5):
                while running.server.admission.active:
                    await asyncio.sleep(0.02)

    assert sim.of("unknown") == []  # every message the bot sent was the provider's format
    assert calls and calls[0].provider == provider and calls[0].from_number == "+15550001111"
    (said,) = heard
    words = said.lower()
    # Whisper tiny on 8 kHz phone audio sometimes spells the animal "weasles": the words of
    # the recording are checked, not Whisper's spelling of a rare one.
    assert "weas" in words and "eaten" in words and "phone system" in words, said
    pcm = np.frombuffer(sim.heard_audio(), dtype="<i2")
    assert np.abs(pcm).max() > 1000  # Piper's voice, not silence
    assert api.of("hang_up") == []  # the caller hung up
    assert json.dumps(calls[0].custom_parameters) == "{}"
