"""examples/starlette_app.py, unchanged: an existing Starlette app serving a vani call at /call,
under real uvicorn, called by a protobuf (Pipecat framing) client."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import urllib.request
from pathlib import Path
from types import ModuleType

from websockets.asyncio.client import connect
from ws_support import tone, uvicorn_server

from vani.frames import (
    InputAudioRawFrame,
    InputTransportMessageFrame,
    OutputAudioRawFrame,
    OutputTransportMessageUrgentFrame,
)
from vani.serializers import ProtobufFrameSerializer

EXAMPLE = Path(__file__).parents[2] / "examples" / "starlette_app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("starlette_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_the_example_stays_short() -> None:
    assert len(EXAMPLE.read_text().splitlines()) <= 50


async def test_the_app_keeps_its_routes_and_serves_a_call() -> None:
    app = load_example().app
    codec = ProtobufFrameSerializer()  # the client's side of Pipecat's framing
    async with uvicorn_server(app) as port:
        home = await asyncio.to_thread(get_json, f"http://127.0.0.1:{port}/")
        assert home == {"service": "my app", "voice": "/call"}
        async with connect(f"ws://127.0.0.1:{port}/call") as ws:
            ready = {
                "label": "rtvi-ai",
                "type": "client-ready",
                "id": "c1",
                "data": {"version": "2.2.0", "about": {"library": "test"}},
            }
            await ws.send(codec.serialize(OutputTransportMessageUrgentFrame(message=ready)))  # type: ignore[arg-type]
            for _ in range(10):  # 20 ms frames at 16 kHz, as the browser client records
                pcm = tone(0.02, 16000)
                frame = OutputAudioRawFrame(audio=pcm, sample_rate=16000, num_channels=1)
                await ws.send(codec.serialize(frame))  # type: ignore[arg-type]
            messages: list[dict[str, object]] = []
            audio = 0
            while audio < 0.15 * 24000 * 2 or not messages:
                data = await asyncio.wait_for(ws.recv(), 5)
                assert isinstance(data, bytes)  # protobuf: every message is binary
                for f in codec.deserialize(data):
                    if isinstance(f, InputAudioRawFrame):
                        assert f.sample_rate == 24000  # the pipeline's output rate
                        audio += len(f.audio)
                    elif isinstance(f, InputTransportMessageFrame):
                        messages.append(f.message)  # type: ignore[arg-type]
            bot_ready = [m for m in messages if m.get("type") == "bot-ready"]
            assert bot_ready and bot_ready[0]["id"] == "c1", json.dumps(messages)
        # The call ended with the socket: nothing of it is left running.
        for _ in range(200):
            if not [t for t in asyncio.all_tasks() if "WebSocketTransport" in t.get_name()]:
                break
            await asyncio.sleep(0.01)
        assert not [t for t in asyncio.all_tasks() if "WebSocketTransport" in t.get_name()]
