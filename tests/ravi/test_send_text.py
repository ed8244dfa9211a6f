"""send-text end to end: the scripted LLM, the sentence aggregator and Sarvam TTS (its fake).

``audio_response: false`` answers that one turn in text only: nothing is synthesised, the client
gets the reply as ``bot-output`` with ``spoken: false``; the next turn is spoken again.
"""

from __future__ import annotations

from tests.ravi.rig import Session
from vani.frames import LLMTextFrame, TextFrame, TTSAudioRawFrame
from vani.processors.aggregators.llm_context import LLMContext
from vani.processors.aggregators.llm_response import LLMUserContextAggregator
from vani.processors.text import SentenceAggregator
from vani.services.llm.scripted import ScriptedLLMService
from vani.services.sarvam.tts import SarvamTTSService
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer


async def test_a_text_only_turn_skips_tts_and_the_next_turn_is_spoken() -> None:
    async with FakeSarvamTTSServer() as fake:
        context = LLMContext()
        llm = ScriptedLLMService(["Two pizzas, noted.", "Anything else?"])
        tts = SarvamTTSService(api_key="test-key", base_url=fake.base_url, retry_base_delay_s=0.02)
        async with Session(middle=[LLMUserContextAggregator(context), llm, tts]) as s:
            await s.send("client-ready", {"version": "2.2.0", "about": {"library": "t"}})
            await s.wait_for("bot-ready")
            await s.send(
                "send-text", {"content": "two pizzas", "options": {"audio_response": False}}
            )
            text_only = await s.wait_for("bot-output")
            await s.wait_for("bot-llm-stopped")
            assert text_only["data"]["text"] == "Two pizzas, noted."
            assert text_only["data"]["spoken"] is False
            assert "bot-tts-started" not in s.types()
            assert not [f for f in s.seen.frames if isinstance(f, TTSAudioRawFrame)]
            await s.send("send-text", {"content": "that is all"})
            spoken = await s.wait_for("bot-output", 2)
            assert spoken["data"]["text"] == "Anything else?"
            assert spoken["data"]["spoken"] is True
            await s.wait_for("bot-stopped-speaking")
        assert "bot-tts-started" in s.types()
        assert s.client.audio  # the second reply was played
        types = s.types()
        # the spoken reply's bot-output went out only once the bot was speaking it
        last_output = len(types) - 1 - types[::-1].index("bot-output")
        assert types.index("bot-started-speaking") < last_output
    assert [m["content"] for m in context.messages if m["role"] == "user"] == [
        "two pizzas",
        "that is all",
    ]


async def test_the_sentence_aggregator_passes_text_only_tokens_on() -> None:
    from vani.testing import run_test

    down, _ = await run_test(
        SentenceAggregator(),
        frames_to_send=[
            LLMTextFrame(text="Hello there. ", skip_tts=True),
            LLMTextFrame(text="Hi. "),
        ],
    )
    assert [(type(f).__name__, f.text) for f in down if isinstance(f, TextFrame)] == [
        ("LLMTextFrame", "Hello there. "),
        ("TextFrame", "Hi."),
    ]
