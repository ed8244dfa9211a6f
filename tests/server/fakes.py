"""The Sarvam and OpenAI fakes the example bot talks to (a fixture for the server tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from vani.testing.fake_openai import FakeOpenAIServer, StreamResponse, text_response, tool_call
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer


@dataclass
class Fakes:
    openai: FakeOpenAIServer
    stt: FakeSarvamSTTServer
    tts: FakeSarvamTTSServer


@pytest.fixture
async def fakes(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Fakes]:
    """Fakes for examples/live_bot.py, found through the environment (so a server in a
    subprocess finds them too): two transcripts, and three LLM answers (a tool call, its
    follow-up, the answer to the second turn)."""
    async with (
        FakeOpenAIServer() as openai_fake,
        FakeSarvamSTTServer(transcripts=["Are you open today?", "We arrive at seven."]) as stt,
        FakeSarvamTTSServer() as tts,
    ):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", openai_fake.base_url)
        monkeypatch.setenv("SARVAM_API_KEY", "test-key")
        monkeypatch.setenv("SARVAM_STT_URL", stt.base_url)
        monkeypatch.setenv("SARVAM_TTS_URL", tts.base_url)
        openai_fake.enqueue(StreamResponse(tool_call("call_1", "opening_hours", "{}")))
        openai_fake.enqueue(text_response("We are open", " from 11 am to 11 pm today."))
        openai_fake.enqueue(text_response("Lovely, see you at seven."))
        yield Fakes(openai_fake, stt, tts)
