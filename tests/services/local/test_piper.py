"""PiperTTSService: sentence by sentence, text after its audio, resampled, interruptible."""

from __future__ import annotations

import numpy as np
import pytest

from tests.services.local.wer import wer
from vani.audio.resample import StreamResampler
from vani.frames import (
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from vani.services.local.piper import PiperTTSService, split_clauses
from vani.services.local.whisper import load_whisper_model
from vani.testing import SleepFrame, run_test

SENTENCES = ["The pizza will arrive in thirty minutes.", "Thank you for calling."]


def tokens(text: str) -> list[Frame]:
    return [LLMTextFrame(text=w) for w in text.replace(" ", " \0").split("\0")]


def kinds(frames: list[Frame]) -> list[str]:
    """Frame type names with runs of audio collapsed to one 'audio'."""
    out: list[str] = []
    for f in frames:
        name = "audio" if isinstance(f, TTSAudioRawFrame) else type(f).__name__
        if not (out and out[-1] == name == "audio"):
            out.append(name)
    return out


async def test_piper_speaks_each_sentence_then_its_text_and_whisper_hears_it() -> None:
    frames = [LLMFullResponseStartFrame(), *tokens(" ".join(SENTENCES)), LLMFullResponseEndFrame()]
    down, _ = await run_test(PiperTTSService(), frames_to_send=frames)

    assert kinds(down) == [
        "LLMFullResponseStartFrame",
        "TTSStartedFrame",
        "audio",
        "TTSTextFrame",
        "audio",
        "TTSTextFrame",
        "TTSStoppedFrame",
        "LLMFullResponseEndFrame",
    ]
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == SENTENCES
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert {f.sample_rate for f in audio} == {24000}  # the pipeline's output rate
    pcm = b"".join(f.audio for f in audio)
    assert 2.0 < len(pcm) / 48000 < 6.0

    # Transcribed back by Whisper, the speech says the sentences.
    pcm16k = StreamResampler(24000, 16000).resample(pcm)
    samples = np.frombuffer(pcm16k, dtype="<i2").astype(np.float32) / 32768
    segments, _ = load_whisper_model().transcribe(samples, language="en", beam_size=1)
    heard = " ".join(s.text for s in segments)  # type: ignore[attr-defined]
    assert wer([(" ".join(SENTENCES), heard)]) <= 0.1


async def test_piper_resamples_to_the_rate_it_is_given() -> None:
    down, _ = await run_test(
        PiperTTSService(sample_rate=16000),
        frames_to_send=[*tokens("Hello there."), LLMFullResponseEndFrame()],
    )
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert audio
    assert {f.sample_rate for f in audio} == {16000}


async def test_an_interruption_stops_synthesis_at_once() -> None:
    long_reply = " ".join(["This sentence is one of many that nobody will hear."] * 6)
    frames = [
        LLMFullResponseStartFrame(),
        *tokens(long_reply),
        SleepFrame(sleep=0.05),
        InterruptionFrame(),
        SleepFrame(sleep=0.5),
    ]
    down, _ = await run_test(PiperTTSService(), frames_to_send=frames)
    cut = next(i for i, f in enumerate(down) if isinstance(f, InterruptionFrame))
    after = down[cut + 1 :]
    assert not any(isinstance(f, TTSAudioRawFrame | TTSTextFrame) for f in after)
    spoken = [f for f in down[:cut] if isinstance(f, TTSTextFrame)]
    assert len(spoken) < 6
    assert any(isinstance(f, TTSStartedFrame) for f in down[:cut])
    assert not any(isinstance(f, TTSStoppedFrame) for f in after)


def test_long_sentences_are_spoken_clause_by_clause() -> None:
    sentence = "Your order is placed: a large pepperoni and a cola, eighteen dollars in total."
    assert split_clauses(sentence, 16) == [
        "Your order is placed:",
        "a large pepperoni and a cola,",
        "eighteen dollars in total.",
    ]
    assert split_clauses("Short, and sweet.", 24) == ["Short, and sweet."]
    assert split_clauses(sentence, 0) == [sentence]
    # Nothing is lost or reordered.
    assert " ".join(split_clauses(sentence * 3, 10)) == (sentence * 3).strip()


async def test_a_voice_change_loads_the_new_voice_for_the_next_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handoff's TTSUpdateSettingsFrame: text before it in the old voice, after it the new."""
    import vani.services.local.piper as piper
    from vani.frames import TTSUpdateSettingsFrame

    real_load = piper.load_piper_voice
    default = real_load(None, None)
    loaded: list[object] = []
    spoken: list[tuple[object, str]] = []

    def load(model: object, config: object) -> object:
        loaded.append(model)
        return default if model is None else ("other", model)

    def synthesize(voice: object, text: str, rate: int) -> bytes:
        spoken.append((voice, text))
        return b"\0\0" * 160

    monkeypatch.setattr(piper, "load_piper_voice", load)
    monkeypatch.setattr(piper, "synthesize", synthesize)
    down, _ = await run_test(
        PiperTTSService(),
        frames_to_send=[
            *tokens("Triage speaking. Half a sentence"),
            TTSUpdateSettingsFrame(settings={"voice": "/voices/ravi.onnx"}),
            *tokens("Billing now."),
            LLMFullResponseEndFrame(),
        ],
    )
    assert loaded == [None, "/voices/ravi.onnx"]
    assert spoken == [
        (default, "Triage speaking."),
        (default, "Half a sentence"),
        (("other", "/voices/ravi.onnx"), "Billing now."),
    ]
    assert kinds(down).index("TTSUpdateSettingsFrame") == kinds(down).index("TTSStoppedFrame") + 1
