"""The fake Sarvam TTS server behaves like the real protocol (vani/testing/fake_sarvam_tts.py)."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer, TTSError, synthesize_voice_like

KEY = {"api-subscription-key": "test-key"}
PATH = "/text-to-speech/ws?model=bulbul:v3&send_completion_event=true"
CONFIG = {
    "type": "config",
    "data": {
        "target_language_code": "hi-IN",
        "speaker": "shubh",
        "speech_sample_rate": "16000",  # Pipecat sends a string; both forms are accepted
        "output_audio_codec": "linear16",
    },
}


async def send(ws: ClientConnection, message: dict[str, object]) -> None:
    await ws.send(json.dumps(message))


async def recv(ws: ClientConnection) -> dict[str, object]:
    value = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert isinstance(value, dict)
    return value


async def collect_until_final(ws: ClientConnection) -> tuple[bytes, list[str]]:
    audio = b""
    ids: list[str] = []
    while True:
        message = await recv(ws)
        data = message["data"]
        assert isinstance(data, dict)
        if message["type"] == "event":
            assert data["event_type"] == "final"
            return audio, ids
        assert message["type"] == "audio"
        audio += base64.b64decode(data["audio"])
        ids.append(data["request_id"])


async def test_each_flush_gets_audio_whose_length_follows_the_text_then_a_final() -> None:
    async with FakeSarvamTTSServer() as fake:
        async with connect(fake.base_url + PATH, additional_headers=KEY) as ws:
            await send(ws, CONFIG)
            for text in ("नमस्ते", "A much longer sentence than the first one."):
                await send(ws, {"type": "text", "data": {"text": text}})
                await send(ws, {"type": "flush"})
                audio, ids = await collect_until_final(ws)
                assert audio == synthesize_voice_like(text, 16000, fake.ms_per_char * len(text))
                assert len(set(ids)) == 1
        assert [s.text for s in fake.syntheses] == [
            "नमस्ते",
            "A much longer sentence than the first one.",
        ]
        assert fake.syntheses[1].audio_bytes > 3 * fake.syntheses[0].audio_bytes
        assert fake.syntheses[0].request_id != fake.syntheses[1].request_id


async def test_text_before_config_and_over_long_text_get_error_messages() -> None:
    async with FakeSarvamTTSServer() as fake:
        async with connect(fake.base_url + PATH, additional_headers=KEY) as ws:
            await send(ws, {"type": "text", "data": {"text": "too early"}})
            assert (await recv(ws))["type"] == "error"
            await send(ws, CONFIG)
            await send(ws, {"type": "text", "data": {"text": "x" * 2501}})
            error = await recv(ws)
            assert "too long" in error["data"]["message"]  # type: ignore[index]
        assert "text before config" in fake.connections[0].anomalies


async def test_an_invalid_speaker_is_an_error_message() -> None:
    async with FakeSarvamTTSServer() as fake:
        async with connect(fake.base_url + PATH, additional_headers=KEY) as ws:
            await send(ws, {**CONFIG, "data": {**CONFIG["data"], "speaker": "anushka"}})  # type: ignore[dict-item]
            error = await recv(ws)
        assert "invalid speaker" in error["data"]["message"]  # type: ignore[index]


async def test_an_empty_flush_gets_a_final_or_nothing_as_configured() -> None:
    async with FakeSarvamTTSServer() as fake:
        ws = await connect(fake.base_url + PATH, additional_headers=KEY)
        await send(ws, CONFIG)
        await send(ws, {"type": "flush"})
        assert (await recv(ws))["type"] == "event"
        fake.final_on_empty_flush = False
        await send(ws, {"type": "flush"})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.2)
        await ws.close()


async def test_no_final_is_sent_without_send_completion_event() -> None:
    async with FakeSarvamTTSServer() as fake:
        path = PATH.replace("send_completion_event=true", "send_completion_event=false")
        async with connect(fake.base_url + path, additional_headers=KEY) as ws:
            await send(ws, CONFIG)
            await send(ws, {"type": "text", "data": {"text": "hello"}})
            await send(ws, {"type": "flush"})
            kinds: list[str | bytes] = []
            try:
                while True:
                    kinds.append((await asyncio.wait_for(ws.recv(), 0.3))[:20])
            except TimeoutError:
                pass  # nothing more came: in particular no final
        assert kinds
        assert all('"audio"' in k for k in kinds)


async def test_a_retryable_error_and_a_mid_synthesis_close_are_simulated() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.fail_next_flush(TTSError("rate_limit exceeded", 429))
        fake.disconnect_during_next_synthesis("close", after_chunks=1, code=1011)
        async with connect(fake.base_url + PATH, additional_headers=KEY) as ws:
            await send(ws, CONFIG)
            await send(ws, {"type": "text", "data": {"text": "first"}})
            await send(ws, {"type": "flush"})
            error = await recv(ws)
            assert error["data"] == {  # type: ignore[comparison-overlap]
                "message": "rate_limit exceeded",
                "code": 429,
                "details": {},
                "request_id": None,
            }
            await send(ws, {"type": "text", "data": {"text": "second one here"}})
            await send(ws, {"type": "flush"})
            assert (await recv(ws))["type"] == "audio"
            with pytest.raises(ConnectionClosed) as closed:
                await recv(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1011


async def test_a_wrong_key_or_model_is_refused_at_the_upgrade() -> None:
    async with FakeSarvamTTSServer() as fake:
        with pytest.raises(InvalidStatus) as bad_key:
            await connect(fake.base_url + PATH, additional_headers={"api-subscription-key": "no"})
        with pytest.raises(InvalidStatus) as bad_model:
            await connect(
                fake.base_url + PATH.replace("bulbul:v3", "bulbul:v9"), additional_headers=KEY
            )
    assert bad_key.value.response.status_code == 403
    assert bad_model.value.response.status_code == 400


async def test_the_idle_socket_is_closed_unless_pinged() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.idle_timeout_s = 0.25
        async with connect(fake.base_url + PATH, additional_headers=KEY) as ws:
            for _ in range(4):
                await asyncio.sleep(0.1)
                await send(ws, {"type": "ping"})
            assert fake.connections[0].close_code is None
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 2)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008
