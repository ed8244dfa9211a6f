"""Silero VAD on real speech: accuracy of edges, silence and noise, batching, the analyzer API."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from vani.audio.silero import get_batcher
from vani.audio.vad import VADAnalyzer, VADEvent, VADParams, VADState
from vani.errors import ConfigurationError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
TOLERANCE_SECS = 0.150


def _wav(name: str) -> tuple[bytes, int]:
    with wave.open(str(FIXTURES / name), "rb") as w:
        return w.readframes(w.getnframes()), w.getframerate()


def _segments(name: str) -> list[tuple[float, float]]:
    meta = json.loads((FIXTURES / name).read_text())
    return [(s["start_secs"], s["end_secs"]) for s in meta["segments"]]


def _chunks(pcm: bytes, rate: int, ms: int = 20) -> list[bytes]:
    step = rate * ms // 1000 * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def _turns(events: list[VADEvent]) -> list[tuple[float, float]]:
    starts = [e.timestamp for e in events if e.started]
    stops = [e.timestamp for e in events if e.stopped]
    assert len(starts) == len(stops), events
    return list(zip(starts, stops, strict=True))


def _analyze_sync(name: str, params: VADParams | None = None) -> list[VADEvent]:
    pcm, rate = _wav(name)
    vad = VADAnalyzer(sample_rate=rate, params=params)
    events = []
    for chunk in _chunks(pcm, rate):
        events += vad.analyze_sync(chunk)
    return events + vad.flush_sync()


@pytest.mark.parametrize("rate", ["16k", "8k"])
def test_vad_finds_each_utterance_within_150_ms_of_its_true_edges(rate: str) -> None:
    truth = _segments(f"speech_{rate}.json")
    turns = _turns(_analyze_sync(f"speech_{rate}.wav"))
    assert len(turns) == len(truth), turns
    for (start, stop), (true_start, true_end) in zip(turns, truth, strict=True):
        assert abs(start - true_start) <= TOLERANCE_SECS, (start, true_start)
        assert abs(stop - true_end) <= TOLERANCE_SECS, (stop, true_end)


@pytest.mark.parametrize(
    "name", ["silence_16k.wav", "noise_-20dbfs_16k.wav", "noise_-20dbfs_8k.wav"]
)
def test_vad_never_fires_on_silence_or_white_noise_at_minus_20_dbfs(name: str) -> None:
    assert _analyze_sync(name) == []


def test_vad_never_fires_on_noise_even_with_no_volume_gate() -> None:
    # The noise is loud, so only the model's own judgement keeps it from firing.
    assert _analyze_sync("noise_-20dbfs_16k.wav", VADParams(min_volume=0.0)) == []


def test_one_buffer_holding_two_utterances_returns_both_starts_and_stops() -> None:
    pcm, rate = _wav("speech_16k.wav")
    vad = VADAnalyzer(sample_rate=rate)
    events = vad.analyze_sync(pcm)
    assert [(e.started, e.stopped) for e in events if e.started or e.stopped] == [
        (True, False),
        (False, True),
        (True, False),
        (False, True),
    ]
    assert vad.state is VADState.QUIET


def test_start_is_decided_start_secs_after_its_edge_and_stop_stop_secs_after_its_edge() -> None:
    params = VADParams(start_secs=0.192, stop_secs=0.512)
    events = [e for e in _analyze_sync("speech_16k.wav", params) if e.started or e.stopped]
    for e in events:
        delay = e.decided_secs - e.timestamp
        assert delay == pytest.approx(0.192 if e.started else 0.512)


def test_odd_chunking_gives_the_same_events_as_20_ms_frames() -> None:
    pcm, rate = _wav("speech_16k.wav")
    vad = VADAnalyzer(sample_rate=rate)
    events = []
    sizes = [1, 333, 7, 1024, 641, 3]
    i = k = 0
    while i < len(pcm):
        events += vad.analyze_sync(pcm[i : i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    events += vad.flush_sync()
    assert [e.astuple() for e in events] == [e.astuple() for e in _analyze_sync("speech_16k.wav")]


async def test_batched_analysis_finds_the_same_turns_as_unbatched() -> None:
    pcm, rate = _wav("speech_16k.wav")
    vads = [VADAnalyzer(sample_rate=rate) for _ in range(4)]

    async def run(vad: VADAnalyzer) -> list[VADEvent]:
        events = []
        for chunk in _chunks(pcm, rate):
            events += await vad.analyze(chunk)
        return events + await vad.flush()

    results = await asyncio.gather(*(run(v) for v in vads))
    expected = [e.astuple() for e in _analyze_sync("speech_16k.wav")]
    for events in results:
        assert [e.astuple() for e in events] == expected


async def test_batched_and_unbatched_probabilities_agree_within_1e_5() -> None:
    speech, _ = _wav("speech_16k.wav")
    noise, _ = _wav("noise_-20dbfs_16k.wav")
    # Different audio per stream, and different chunk sizes, so rows of a batch differ.
    streams = [speech, noise + speech, speech[6400:], noise]
    chunk_bytes = [640, 1024, 320, 2048]
    batched = [VADAnalyzer(keep_probabilities=True) for _ in streams]

    async def run(vad: VADAnalyzer, pcm: bytes, step: int) -> None:
        for i in range(0, len(pcm), step):
            await vad.analyze(pcm[i : i + step])
            await asyncio.sleep(0)

    batcher = get_batcher(16000)
    before = batcher.batches, batcher.windows
    await asyncio.gather(
        *(run(v, p, s) for v, p, s in zip(batched, streams, chunk_bytes, strict=True))
    )
    batches, windows = batcher.batches - before[0], batcher.windows - before[1]
    assert windows > batches, "several streams shared inferences"
    for vad, pcm in zip(batched, streams, strict=True):
        alone = VADAnalyzer(keep_probabilities=True)
        alone.analyze_sync(pcm)
        assert alone.probabilities is not None
        assert vad.probabilities is not None
        assert len(vad.probabilities) == len(alone.probabilities) == len(pcm) // 1024
        np.testing.assert_allclose(vad.probabilities, alone.probabilities, rtol=0, atol=1e-5)


def test_analyzer_rejects_a_rate_silero_does_not_take() -> None:
    with pytest.raises(ConfigurationError, match="expected a vad sample rate of 8000 or 16000"):
        VADAnalyzer(sample_rate=44100)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"confidence": 2.0}, r"expected confidence in \[0, 1\], got 2.0"),
        ({"min_volume": -1.0}, r"expected min_volume in \[0, 1\], got -1.0"),
        ({"start_secs": -0.1}, "expected start_secs >= 0, got -0.1"),
        ({"stop_secs": -0.1}, "expected stop_secs >= 0, got -0.1"),
    ],
)
def test_vad_params_reject_out_of_range_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        VADParams(**kwargs)


def test_analyzer_reset_starts_again_at_time_zero() -> None:
    pcm, rate = _wav("speech_16k.wav")
    vad = VADAnalyzer(sample_rate=rate)
    first = vad.analyze_sync(pcm[:48000])
    vad.reset()
    assert vad.state is VADState.QUIET
    assert [e.astuple() for e in vad.analyze_sync(pcm[:48000])] == [e.astuple() for e in first]


def test_importing_vani_audio_vad_does_not_import_onnxruntime() -> None:
    code = "import sys, vani.audio.vad; print('onnxruntime' in sys.modules)"
    # Same environment as this test (PYTHONPATH or the installed wheel), same working directory.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_missing_model_file_raises_model_load_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import vani.audio.silero as silero
    from vani.errors import ModelLoadError

    monkeypatch.setattr(silero, "_session", None)
    monkeypatch.setattr(silero.importlib.resources, "files", lambda _package: tmp_path)
    with pytest.raises(ModelLoadError, match="cannot read the silero vad model at"):
        silero.silero_session()
