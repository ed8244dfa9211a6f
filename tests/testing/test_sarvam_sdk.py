"""Sarvam's official Python SDK (``sarvamai``) works against the fakes as it does against Sarvam.

Users' own code often talks to Sarvam through the SDK, and the fakes are shipped for their CI, so
every documented SDK usage the real service accepts must work here: the SDK's async streaming
clients are pointed at the fakes through its ``environment`` setting, and each test reads the
answers through the SDK's own parsed types.
"""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

sarvamai = pytest.importorskip("sarvamai")

from sarvamai import AsyncSarvamAI  # noqa: E402
from sarvamai.environment import SarvamAIEnvironment  # noqa: E402

from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer, STTFailure  # noqa: E402
from vani.testing.fake_sarvam_tts import (  # noqa: E402
    TTS_OUTPUT_CODECS,
    V3_SPEAKERS,
    FakeSarvamTTSServer,
)

KEY = "test-key"
SPEECH = Path(__file__).parent.parent / "fixtures" / "sarvam" / "two_utterances_16k.wav"


def client_for(base_url: str) -> AsyncSarvamAI:
    env = SarvamAIEnvironment(
        base=base_url.replace("ws", "http", 1), creative="", production=base_url
    )
    return AsyncSarvamAI(api_subscription_key=KEY, environment=env)


def speech_pcm() -> bytes:
    with wave.open(str(SPEECH), "rb") as wav:
        return wav.readframes(wav.getnframes())


async def send_speech(socket: object, pcm: bytes) -> None:
    # 20 ms of 16 kHz PCM per message, base64 inside the SDK's own audio message.
    step = 640
    for pos in range(0, len(pcm), step):
        chunk = base64.b64encode(pcm[pos : pos + step]).decode("ascii")
        await socket.transcribe(audio=chunk, encoding="audio/wav", sample_rate=16000)  # type: ignore[attr-defined]
    await socket.flush()  # type: ignore[attr-defined]


async def transcripts(socket: object, count: int) -> list[str]:
    texts: list[str] = []
    while len(texts) < count:
        message = await asyncio.wait_for(socket.recv(), 10)  # type: ignore[attr-defined]
        if message.type == "data":
            texts.append(message.data.transcript)
    return texts


@pytest.fixture
async def stt() -> AsyncIterator[FakeSarvamSTTServer]:
    async with FakeSarvamSTTServer(transcripts=["नमस्ते", "goodbye"], api_key=KEY) as fake:
        yield fake


@pytest.fixture
async def tts() -> AsyncIterator[FakeSarvamTTSServer]:
    async with FakeSarvamTTSServer(api_key=KEY) as fake:
        yield fake


# -- speech to text ----------------------------------------------------------------------------


async def test_stt_transcribes_through_the_sdk_with_an_explicit_model(
    stt: FakeSarvamSTTServer,
) -> None:
    client = client_for(stt.base_url)
    async with client.speech_to_text_streaming.connect(
        language_code="hi-IN", model="saaras:v3", mode="transcribe", input_audio_codec="pcm_s16le"
    ) as socket:
        await send_speech(socket, speech_pcm())
        assert await transcripts(socket, 2) == ["नमस्ते", "goodbye"]
    assert stt.connections[0].params["model"] == "saaras:v3"


async def test_stt_without_a_model_uses_the_documented_default_saaras_v4_and_accepts_mode(
    stt: FakeSarvamSTTServer,
) -> None:
    client = client_for(stt.base_url)
    async with client.speech_to_text_streaming.connect(
        language_code="en-IN", mode="transcribe"
    ) as socket:
        await send_speech(socket, speech_pcm())
        assert await transcripts(socket, 2) == ["नमस्ते", "goodbye"]
    assert "model" not in stt.connections[0].params
    assert not [a for a in stt.connections[0].anomalies if "model" in a or "mode" in a]


async def test_stt_key_passed_to_connect_is_checked_though_the_sdk_sends_the_header_twice(
    stt: FakeSarvamSTTServer,
) -> None:
    client = client_for(stt.base_url)
    async with client.speech_to_text_streaming.connect(
        language_code="en-IN", api_subscription_key=KEY
    ) as socket:
        await send_speech(socket, speech_pcm())
        assert len(await transcripts(socket, 2)) == 2


async def test_stt_refuses_a_wrong_key_given_to_connect(stt: FakeSarvamSTTServer) -> None:
    client = client_for(stt.base_url)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the SDK raises websockets' error
        async with client.speech_to_text_streaming.connect(
            language_code="en-IN", api_subscription_key="wrong-key"
        ):
            pass
    assert "403" in str(caught.value)


async def test_stt_error_messages_parse_as_the_sdks_error_data(stt: FakeSarvamSTTServer) -> None:
    stt.fail_next_utterance(STTFailure(kind="error", error_code=500))
    client = client_for(stt.base_url)
    async with client.speech_to_text_streaming.connect(language_code="en-IN") as socket:
        await send_speech(socket, speech_pcm())
        message = await asyncio.wait_for(socket.recv(), 10)
        while message.type != "error":
            message = await asyncio.wait_for(socket.recv(), 10)
    assert message.data.code == "500"
    assert message.data.error == "internal server error"


# -- text to speech ----------------------------------------------------------------------------


async def synthesize(
    tts: FakeSarvamTTSServer, *, model: str | None, text: str = "Hello there.", **config: object
) -> tuple[list[object], list[object]]:
    """Configure, send ``text``, flush; return the SDK's parsed audio and error messages."""
    client = client_for(tts.base_url)
    kwargs = {"model": model} if model is not None else {}
    audio: list[object] = []
    errors: list[object] = []
    async with client.text_to_speech_streaming.connect(
        send_completion_event="true", **kwargs
    ) as socket:
        await socket.configure(target_language_code="en-IN", **config)
        await socket.convert(text)
        await socket.flush()
        while True:
            message = await asyncio.wait_for(socket.recv(), 10)
            if message.type == "audio":
                audio.append(message.data)
            elif message.type == "error":
                errors.append(message.data)
                break
            elif message.type == "event" and message.data.event_type == "final":
                break
    return audio, errors


def decode_mp3(data: bytes) -> tuple[np.ndarray, int]:
    av = pytest.importorskip("av")
    with av.open(io.BytesIO(data), format="mp3") as container:
        frames = [f.to_ndarray() for f in container.decode(audio=0)]
        rate = container.streams.audio[0].rate
    return np.concatenate(frames, axis=1), rate


async def test_tts_default_sdk_config_gets_real_mp3(tts: FakeSarvamTTSServer) -> None:
    # configure()'s defaults: speaker anushka, output_audio_codec mp3, 22050 Hz, 128k.
    audio, errors = await synthesize(tts, model="bulbul:v2")
    assert errors == []
    assert {a.content_type for a in audio} == {"audio/mp3"}
    mp3 = b"".join(base64.b64decode(a.audio) for a in audio)
    samples, rate = decode_mp3(mp3)
    assert rate == 22050
    assert samples.shape[-1] > 0.3 * 22050  # "Hello there." is voice-like, not silence
    assert float(np.abs(samples).max()) > 0.05


async def test_tts_without_a_model_accepts_the_sdk_default_speaker(
    tts: FakeSarvamTTSServer,
) -> None:
    audio, errors = await synthesize(tts, model=None)
    assert errors == [] and audio


@pytest.mark.parametrize("codec", sorted(TTS_OUTPUT_CODECS))
async def test_tts_every_codec_the_sdk_offers_produces_audio(
    tts: FakeSarvamTTSServer, codec: str
) -> None:
    audio, errors = await synthesize(
        tts, model="bulbul:v3", speaker="shubh", output_audio_codec=codec, speech_sample_rate=16000
    )
    assert errors == []
    assert b"".join(base64.b64decode(a.audio) for a in audio)


async def test_tts_linear16_is_the_pcm_of_the_voice(tts: FakeSarvamTTSServer) -> None:
    audio, _ = await synthesize(
        tts,
        model="bulbul:v3",
        speaker="shubh",
        output_audio_codec="linear16",
        speech_sample_rate=16000,
    )
    pcm = b"".join(base64.b64decode(a.audio) for a in audio)
    assert len(pcm) == tts.syntheses[0].audio_bytes and len(pcm) % 2 == 0


@pytest.mark.parametrize("speaker", sorted(V3_SPEAKERS))
async def test_tts_every_bulbul_v3_speaker_the_sdk_documents_is_accepted(
    tts: FakeSarvamTTSServer, speaker: str
) -> None:
    audio, errors = await synthesize(
        tts, model="bulbul:v3", speaker=speaker, output_audio_codec="linear16"
    )
    assert errors == [] and audio


def test_the_fake_knows_the_37_bulbul_v3_speakers_the_sdk_documents() -> None:
    assert len(V3_SPEAKERS) == 37


@pytest.mark.parametrize("speaker", ["simran_en_customer", "shubh_hi_devotional"])
async def test_tts_bulbul_v4_flash_accepts_persona_voices(
    tts: FakeSarvamTTSServer, speaker: str
) -> None:
    audio, errors = await synthesize(
        tts, model="bulbul:v4-flash", speaker=speaker, output_audio_codec="linear16"
    )
    assert errors == [] and audio


async def test_tts_bulbul_v4_flash_refuses_a_plain_v3_speaker(tts: FakeSarvamTTSServer) -> None:
    _, errors = await synthesize(
        tts, model="bulbul:v4-flash", speaker="shubh", output_audio_codec="linear16"
    )
    assert len(errors) == 1
    assert "shubh" in errors[0].message


async def test_tts_unknown_speaker_is_still_refused(tts: FakeSarvamTTSServer) -> None:
    _, errors = await synthesize(tts, model="bulbul:v3", speaker="nobody", output_audio_codec="mp3")
    assert len(errors) == 1 and "nobody" in errors[0].message
