"""SarvamSTTService behind the real Silero VADProcessor, on the shared speech fixture.

Skipped until both the VAD processor (``vani.audio.vad``) and the speech fixtures
(``tests/fixtures/speech``) are present in this checkout.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from vani.frames import Frame, InputAudioRawFrame, TranscriptionFrame, UserStoppedSpeakingFrame
from vani.pipeline import Pipeline
from vani.services.sarvam import SarvamSTTService
from vani.testing import SleepFrame, run_test
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer

SPEECH = Path(__file__).parents[2] / "fixtures" / "speech" / "speech_16k.wav"


@pytest.mark.parametrize("passthrough", [True, False])
async def test_silero_vad_turns_reach_sarvam_with_preroll_and_come_back_as_transcripts(
    passthrough: bool,
) -> None:
    vad = pytest.importorskip("vani.audio.vad")
    if not SPEECH.exists():
        pytest.skip("the shared speech fixture is not in this checkout")
    segments = json.loads(SPEECH.with_suffix(".json").read_text())["segments"]
    script = [s["text"] for s in segments]
    with wave.open(str(SPEECH)) as w:
        pcm = w.readframes(w.getnframes())
    frames: list[Frame] = [
        InputAudioRawFrame(audio=pcm[i : i + 640], sample_rate=16000)
        for i in range(0, len(pcm) - 639, 640)
    ]
    async with FakeSarvamSTTServer(transcripts=script) as fake:
        stt = SarvamSTTService(
            api_key="test-key",
            base_url=fake.base_url,
            language="en-IN",
            audio_passthrough=passthrough,
        )
        down, _ = await run_test(
            Pipeline([vad.VADProcessor(), stt]), frames_to_send=[*frames, SleepFrame(sleep=0.5)]
        )
    assert [f.text for f in down if isinstance(f, TranscriptionFrame)] == script
    audio_out = [f for f in down if isinstance(f, InputAudioRawFrame)]
    assert audio_out == (frames if passthrough else [])
    turn_edges = [
        type(f) for f in down if isinstance(f, TranscriptionFrame | UserStoppedSpeakingFrame)
    ]
    assert turn_edges == [UserStoppedSpeakingFrame, TranscriptionFrame] * 2
    # Each utterance Sarvam got covers its speech and at least the 300 ms before the VAD fired.
    for utterance, segment in zip(fake.utterances, segments, strict=True):
        speech_bytes = (segment["end_secs"] - segment["start_secs"]) * 32000
        assert utterance.had_speech
        assert utterance.audio_bytes >= speech_bytes + 0.3 * 32000
    assert fake.connections[0].anomalies == []
