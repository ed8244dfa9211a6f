"""Noise suppression: the high-pass is exact across chunks, RNNoise removes noise, keeps the
length, keeps per-call state, and does not break the VAD on clean speech."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from vani.audio.noise import HighPassFilter, NoiseSuppressor, RNNoiseFilter
from vani.audio.vad import VADProcessor
from vani.errors import ConfigurationError
from vani.frames import (
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineParams
from vani.testing import run_test

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def _speech(rate: str = "16k") -> tuple[npt.NDArray[np.int16], int, list[tuple[float, float]]]:
    with wave.open(str(FIXTURES / f"speech_{rate}.wav"), "rb") as w:
        pcm, sr = w.readframes(w.getnframes()), w.getframerate()
    meta = json.loads((FIXTURES / f"speech_{rate}.json").read_text())
    edges = [(s["start_secs"], s["end_secs"]) for s in meta["segments"]]
    return np.frombuffer(pcm, dtype=np.int16), sr, edges


def _rms(x: npt.NDArray[np.int16]) -> float:
    return float(np.sqrt((x.astype(np.float64) ** 2).mean()))


def test_high_pass_matches_the_sample_by_sample_recurrence_across_chunks() -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(3000) * 3000).astype(np.int16)
    hp = HighPassFilter(16000, 80.0)
    a = hp.alpha
    want, px, py = [], 0.0, 0.0
    for v in x.astype(np.float64):
        py = a * (py + v - px)
        px = v
        want.append(py)
    got = np.concatenate([hp.process(x[i : i + 137]) for i in range(0, len(x), 137)])
    np.testing.assert_array_equal(got, np.clip(np.round(want), -32768, 32767).astype(np.int16))


def test_high_pass_removes_hum_and_keeps_speech_band() -> None:
    t = np.arange(16000) / 16000
    hum = (np.sin(2 * np.pi * 20 * t) * 8000).astype(np.int16)
    voice = (np.sin(2 * np.pi * 1000 * t) * 8000).astype(np.int16)
    assert _rms(HighPassFilter(16000).process(hum)[4000:]) < 0.3 * _rms(hum)
    assert _rms(HighPassFilter(16000).process(voice)[4000:]) > 0.95 * _rms(voice)
    with pytest.raises(ConfigurationError, match="cutoff"):
        HighPassFilter(8000, 5000)


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
def test_rnnoise_keeps_the_length_and_removes_white_noise(rate: int) -> None:
    rng = np.random.default_rng(2)
    noise = (rng.standard_normal(rate * 2) * 1000).astype(np.int16)
    f = RNNoiseFilter()
    f.setup(rate)
    step = rate // 50
    chunks = [noise[i : i + step].tobytes() for i in range(0, len(noise), step)]
    out = [f.process(c) for c in chunks]
    assert [len(o) for o in out] == [len(c) for c in chunks]
    clean = np.frombuffer(b"".join(out), dtype=np.int16)
    assert _rms(clean[rate:]) < 0.3 * _rms(noise[rate:])
    f.close()


def test_each_call_has_its_own_state() -> None:
    speech, rate, _ = _speech()
    chunk = speech[16000:16320].tobytes()
    a, b = RNNoiseFilter(), RNNoiseFilter()
    a.setup(rate)
    b.setup(rate)
    for _ in range(20):
        a.process(chunk)
    fresh = RNNoiseFilter()
    fresh.setup(rate)
    assert b.process(chunk) == fresh.process(chunk)


def test_filter_needs_a_rate() -> None:
    with pytest.raises(ConfigurationError, match="start"):
        RNNoiseFilter().process(b"\x00\x00")
    with pytest.raises(ConfigurationError, match="sample rate"):
        RNNoiseFilter().setup(11025)


def _frames(x: npt.NDArray[np.int16], rate: int) -> list[Frame]:
    step = rate // 50
    return [
        InputAudioRawFrame(audio=x[i : i + step].tobytes(), sample_rate=rate)
        for i in range(0, len(x), step)
    ]


@pytest.mark.parametrize("rate", ["16k", "8k"])
async def test_vad_still_finds_every_turn_of_clean_speech(rate: str) -> None:
    speech, sr, truth = _speech(rate)
    down, _ = await run_test(
        Pipeline([NoiseSuppressor(), VADProcessor()]),
        frames_to_send=_frames(speech, sr),
        params=PipelineParams(audio_in_sample_rate=sr),
    )
    starts = [f.timestamp for f in down if isinstance(f, VADUserStartedSpeakingFrame)]
    stops = [f.timestamp for f in down if isinstance(f, VADUserStoppedSpeakingFrame)]
    assert len(starts) == len(stops) == len(truth)
    for start, stop, (true_start, true_end) in zip(starts, stops, truth, strict=True):
        assert abs(start - true_start) <= 0.15
        assert abs(stop - true_end) <= 0.2
