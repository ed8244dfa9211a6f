"""The fake Sarvam STT server behaves like the real protocol (vani/testing/fake_sarvam_stt.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer, STTFailure

FIXTURE = Path(__file__).parent.parent / "fixtures" / "sarvam" / "two_utterances_16k.wav"
KEY = {"api-subscription-key": "test-key"}
QUERY = "/speech-to-text/ws?model=saaras:v3&language-code=en-IN&sample_rate=16000"


def fixture_pcm() -> bytes:
    with wave.open(str(FIXTURE)) as w:
        return w.readframes(w.getnframes())


def audio_message(pcm: bytes, rate: int = 16000) -> str:
    data = base64.b64encode(pcm).decode()
    return json.dumps({"audio": {"data": data, "sample_rate": rate, "encoding": "audio/wav"}})


async def send_pcm(ws: ClientConnection, pcm: bytes) -> None:
    for i in range(0, len(pcm), 640):
        await ws.send(audio_message(pcm[i : i + 640]))


async def recv_json(ws: ClientConnection) -> dict[str, object]:
    value = json.loads(await asyncio.wait_for(ws.recv(), 5.0))
    assert isinstance(value, dict)
    return value


async def test_energy_endpointing_answers_each_spoken_utterance_with_the_next_transcript() -> None:
    async with FakeSarvamSTTServer(transcripts=["book a table", "two at eight"]) as fake:
        async with connect(fake.base_url + QUERY, additional_headers=KEY) as ws:
            await send_pcm(ws, fixture_pcm())
            first = await recv_json(ws)
            second = await recv_json(ws)
        assert first["type"] == "data"
        assert second["type"] == "data"
        texts = [m["data"]["transcript"] for m in (first, second)]  # type: ignore[index]
        assert texts == ["book a table", "two at eight"]
        assert first["data"]["language_code"] == "en-IN"  # type: ignore[index]
        assert [u.reason for u in fake.utterances] == ["energy", "energy"]
        assert fake.connections[0].anomalies == []


async def test_flush_finalises_and_a_flush_on_silence_gets_an_empty_transcript() -> None:
    async with FakeSarvamSTTServer(transcripts=["whole thing"]) as fake:
        url = fake.base_url + QUERY + "&flush_signal=true"
        async with connect(url, additional_headers=KEY) as ws:
            await send_pcm(ws, fixture_pcm())
            await ws.send(json.dumps({"type": "flush"}))
            reply = await recv_json(ws)
            await send_pcm(ws, bytes(3200))
            await ws.send(json.dumps({"type": "flush"}))
            empty = await recv_json(ws)
        assert reply["data"]["transcript"] == "whole thing"  # type: ignore[index]
        assert empty["data"]["transcript"] == ""  # type: ignore[index]
        assert [u.reason for u in fake.utterances] == ["flush", "flush"]


async def test_vad_signals_wrap_the_transcript_in_start_and_end_speech_events() -> None:
    async with FakeSarvamSTTServer(transcripts=["one", "two"]) as fake:
        fake.end_speech_order = "before"
        url = fake.base_url + QUERY + "&vad_signals=true"
        async with connect(url, additional_headers=KEY) as ws:
            await send_pcm(ws, fixture_pcm())
            got = [await recv_json(ws) for _ in range(6)]
        kinds = [m["data"].get("signal_type") or m["data"]["transcript"] for m in got]  # type: ignore[union-attr,index]
        assert kinds == ["START_SPEECH", "END_SPEECH", "one", "START_SPEECH", "END_SPEECH", "two"]


@pytest.mark.parametrize("status", [403, 401])
async def test_a_wrong_key_is_refused_at_the_upgrade(status: int) -> None:
    async with FakeSarvamSTTServer() as fake:
        fake.auth_status = status
        with pytest.raises(InvalidStatus) as info:
            await connect(fake.base_url + QUERY, additional_headers={"api-subscription-key": "x"})
        assert info.value.response.status_code == status


async def test_a_bad_language_code_is_refused_with_400() -> None:
    async with FakeSarvamSTTServer() as fake:
        with pytest.raises(InvalidStatus) as info:
            await connect(fake.base_url + QUERY.replace("en-IN", "xx-XX"), additional_headers=KEY)
        assert info.value.response.status_code == 400


async def test_a_failed_utterance_closes_with_its_code_and_keeps_the_script_entry() -> None:
    async with FakeSarvamSTTServer(transcripts=["kept"]) as fake:
        fake.fail_next_utterance(STTFailure(kind="error-then-close", code=1011))
        url = fake.base_url + QUERY + "&flush_signal=true"
        async with connect(url, additional_headers=KEY) as ws:
            await send_pcm(ws, fixture_pcm()[:64000])
            await ws.send(json.dumps({"type": "flush"}))
            error = await recv_json(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        assert error["type"] == "error"
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1011
        async with connect(url, additional_headers=KEY) as ws:
            await send_pcm(ws, fixture_pcm()[:64000])
            await ws.send(json.dumps({"type": "flush"}))
            assert (await recv_json(ws))["data"]["transcript"] == "kept"  # type: ignore[index]


async def test_an_idle_socket_is_closed_with_1008() -> None:
    async with FakeSarvamSTTServer() as fake:
        fake.idle_timeout_s = 0.2
        async with connect(fake.base_url + QUERY, additional_headers=KEY) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 3)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1008


async def test_protocol_noise_from_the_client_is_recorded_as_anomalies() -> None:
    async with FakeSarvamSTTServer() as fake:
        async with connect(fake.base_url + QUERY, additional_headers=KEY) as ws:
            await ws.send("not json")
            await ws.send(b"\x00\x01")
            await ws.send(json.dumps({"type": "mystery"}))
            await ws.send(audio_message(b"\x00\x00\x01", rate=44100))
            await ws.send(json.dumps({"type": "end_of_stream", "audio": {"data": ""}}))
            await asyncio.sleep(0.1)
        anomalies = " | ".join(fake.connections[0].anomalies)
        for expected in (
            "non-json",
            "binary frame",
            "unknown message type 'mystery'",
            "odd audio byte count 3",
            "sample_rate 44100",
        ):
            assert expected in anomalies
