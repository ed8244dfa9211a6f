"""examples/restaurant_db_bot.py served by `vani run`'s server to a live WebSocket client: the
caller's customer_id comes from /start, the answer from the caller's own rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.server.client import CallClient, segment, speech_16k
from tests.server.helpers import running_server, start_call
from tests.tools.conftest import Database
from vani.server import load_bot
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer
from vani.tools.postgres import MiniLMEmbedder, PostgresTool, example

EXAMPLE = Path(__file__).parents[2] / "examples" / "restaurant_db_bot.py"


async def test_vani_run_serves_the_restaurant_bot_over_a_live_socket(
    database: Database, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        PostgresTool(database.tool_url, schemas=["restaurant"], embedder=embedder) as tool,
        FakeSarvamSTTServer(transcripts=["When is my booking?"]) as stt,
        FakeSarvamTTSServer() as tts,
    ):
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # the scripted brain
        monkeypatch.setenv("SARVAM_API_KEY", "test-key")
        monkeypatch.setenv("SARVAM_STT_URL", stt.base_url)
        monkeypatch.setenv("SARVAM_TTS_URL", tts.base_url)
        monkeypatch.setattr(example, "_tool", tool)  # what database() opens from DATABASE_URL
        async with running_server(load_bot(EXAMPLE)) as running:
            started = await start_call(running, {"body": {"customer_id": 2}})
            client = await CallClient.open(f"{started['wsUrl']}?token={started['token']}")
            pcm, segments = speech_16k()
            await client.client_ready()
            await client.wait_for("bot-ready", timeout=10)
            await client.stream(segment(pcm, 0.0, segments[0]["end_secs"]))
            streaming = asyncio.create_task(client.silence(15.0))
            await client.wait_until_said("You have 2 bookings", timeout=20)
            streaming.cancel()
            await client.close()
    types = client.types()
    assert "llm-function-call-started" in types and "llm-function-call-stopped" in types
