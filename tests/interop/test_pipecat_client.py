"""Pipecat's own Python client (``WebsocketClientTransport`` + ``ProtobufFrameSerializer``, in
Pipecat's virtual environment) calls ``vani run examples/live_bot.py`` unchanged."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.server.fakes import Fakes
from tests.server.helpers import SECRET, vani_process

ROOT = Path(__file__).parents[2]
CLIENT = Path(__file__).parent / "pipecat_client.py"
CALLER = ROOT / "tests" / "fixtures" / "speech" / "speech_16k.wav"
PIPECAT = os.environ.get("VANI_PIPECAT_PYTHON")

pytestmark = pytest.mark.skipif(
    not PIPECAT,
    reason="VANI_PIPECAT_PYTHON is not set: it names the Python of a venv with pipecat-ai 1.14"
    " (tools/ci/setup-10-pipecat.sh makes one in CI)",
)


async def test_pipecats_python_client_talks_to_vani_run(fakes: Fakes) -> None:
    assert PIPECAT is not None
    async with vani_process(
        "run", str(ROOT / "examples" / "live_bot.py"), "--port", "0", "--secret", SECRET
    ) as server:
        client = await asyncio.create_subprocess_exec(
            PIPECAT,
            str(CLIENT),
            server.url,
            str(CALLER),
            "--turns",
            "2",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        out, err = await asyncio.wait_for(client.communicate(), 90)
    assert client.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    types = result["types"]

    # The handshake: client-ready answered by bot-ready, first, with vani's about.
    assert types[0] == "bot-ready", types
    ready = result["messages"][0]
    assert ready["data"]["about"]["library"] == "vani"
    assert ready["data"]["version"] == "2.2.0"
    assert "error" not in result and "error" not in types, (result.get("error"), types)

    # Both caller turns were transcribed and announced to the client.
    finals = [
        m["data"]["text"]
        for m in result["messages"]
        if m.get("type") == "user-input" and m["data"].get("final")
    ]
    assert finals == ["Are you open today?", "We arrive at seven."]
    for kind in ("user-started-speaking", "user-stopped-speaking", "bot-started-speaking"):
        assert kind in types

    # The bot's voice reached Pipecat's input transport as audio frames, at 24 kHz.
    assert result["audio_rates"] == [24000]
    assert result["audio_bytes"] > 24000 * 2 // 2  # more than half a second
    assert types.count("bot-stopped-speaking") >= 2
    assert len(fakes.openai.requests) == 3
