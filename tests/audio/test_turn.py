"""The smart-turn model: features and predictions against Pipecat's, the batcher, the analyzer,
and the VADProcessor's turn logic on speech."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import vani.audio.turn as turn
from vani.audio.turn import (
    EndOfTurnState,
    SmartTurnAnalyzer,
    SmartTurnParams,
    TurnBatcher,
    get_turn_batcher,
    run_smart_turn,
)
from vani.audio.turn_features import log_mel_features
from vani.audio.vad import VADParams, VADProcessor
from vani.errors import ConfigurationError
from vani.frames import (
    Frame,
    InputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.pipeline import PipelineParams
from vani.testing import run_test

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"

_PIPECAT = r"""
import sys, numpy as np
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
out = sys.argv[1]
analyzer = LocalSmartTurnAnalyzerV3(sample_rate=16000)
analyzer._sample_rate = 16000
feats, probs = [], []
for path in sys.argv[2:]:
    x = np.load(path)[-128000:]
    padded = np.pad(x, (128000 - len(x), 0))
    feats.append(compute_whisper_log_mel_features(padded, do_normalize=True))
    probs.append(analyzer._predict_endpoint(np.load(path))["probability"])
np.savez(out, features=np.stack(feats), probs=np.array(probs))
"""


def _pipecat_python() -> str:
    python = os.environ.get("VANI_PIPECAT_PYTHON")
    if not python:
        pytest.skip("VANI_PIPECAT_PYTHON is not set (tools/ci/setup-10-pipecat.sh sets it)")
    return python


def _speech() -> tuple[npt.NDArray[np.float32], list[tuple[float, float]]]:
    with wave.open(str(FIXTURES / "speech_16k.wav"), "rb") as w:
        pcm = w.readframes(w.getnframes())
    meta = json.loads((FIXTURES / "speech_16k.json").read_text())
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    return audio, [(s["start_secs"], s["end_secs"]) for s in meta["segments"]]


def _segments() -> list[npt.NDArray[np.float32]]:
    audio, _ = _speech()
    rng = np.random.default_rng(7)
    noise = (rng.standard_normal(16000 * 9) * 0.05).astype(np.float32)
    s = 16000
    return [
        audio[: int(2.4 * s)],  # a whole sentence and a short pause
        audio[: int(1.5 * s)],  # cut mid-sentence
        audio[int(3.0 * s) :],  # the second sentence to the end
        audio,  # both sentences
        np.concatenate([audio, audio]),  # longer than the model's 8 s window
        noise[:1234],  # a few ms
        noise,  # 9 s of noise
        np.zeros(16000, dtype=np.float32),  # digital silence
    ]


def test_features_and_predictions_match_pipecats(tmp_path: Path) -> None:
    python = _pipecat_python()
    segments = _segments()
    paths = []
    for i, seg in enumerate(segments):
        path = tmp_path / f"seg{i}.npy"
        np.save(path, seg)
        paths.append(str(path))
    out = tmp_path / "pipecat.npz"
    subprocess.run([python, "-c", _PIPECAT, str(out), *paths], check=True, capture_output=True)
    ref = np.load(out)
    mine = np.stack([log_mel_features(seg) for seg in segments])
    assert mine.shape == ref["features"].shape == (len(segments), 80, 800)
    np.testing.assert_allclose(mine, ref["features"], atol=1e-6)
    probs = run_smart_turn(mine)
    np.testing.assert_allclose(probs, ref["probs"], atol=1e-5)


def test_features_reject_other_shapes() -> None:
    with pytest.raises(ValueError, match="1-d"):
        log_mel_features(np.zeros((2, 100), dtype=np.float32))


def test_params_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="stop_secs"):
        SmartTurnParams(stop_secs=0)
    with pytest.raises(ConfigurationError, match="max_duration_secs"):
        SmartTurnParams(max_duration_secs=9)
    with pytest.raises(ConfigurationError, match="threshold"):
        SmartTurnParams(threshold=1.5)
    with pytest.raises(ConfigurationError, match="max_batch"):
        TurnBatcher(max_batch=0)


@pytest.mark.parametrize("offload", [True, False])
async def test_batched_answers_equal_unbatched_ones(offload: bool) -> None:
    segments = _segments()
    alone = run_smart_turn(np.stack([log_mel_features(s) for s in segments]))
    batcher = TurnBatcher(max_batch=3, offload=offload)
    got = await asyncio.gather(*(batcher.analyze(s) for s in segments))
    np.testing.assert_allclose(got, alone, atol=1e-5)
    assert batcher.items == len(segments)
    assert batcher.batches == 3  # 8 questions in batches of at most 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux's")
async def test_the_inference_thread_yields_the_core_to_the_event_loop() -> None:
    # The model runs on a thread WORKER_NICENESS steps nicer than the loop's, and only that
    # thread: the loop (and the rest of the process) keeps its priority.
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    loop_niceness = niceness()
    worker_niceness = await asyncio.get_running_loop().run_in_executor(turn._worker(), niceness)
    assert worker_niceness == min(loop_niceness + turn.WORKER_NICENESS, 19)
    assert niceness() == loop_niceness
    assert 0.0 <= await TurnBatcher().analyze(_segments()[0]) <= 1.0  # runs there, and answers


async def test_a_question_given_up_before_its_batch_costs_nothing() -> None:
    segments = _segments()
    batcher = TurnBatcher(max_batch=1)
    first = asyncio.ensure_future(batcher.analyze(segments[0]))
    second = asyncio.ensure_future(batcher.analyze(segments[1]))
    third = asyncio.ensure_future(batcher.analyze(segments[2]))
    await asyncio.sleep(0)
    second.cancel()
    await asyncio.gather(first, third)
    assert batcher.items == 2
    assert batcher.skipped == 1


async def test_a_failed_inference_reaches_every_waiter() -> None:
    batcher = TurnBatcher(max_batch=2, offload=False)
    bad = np.zeros((3, 3), dtype=np.float32)  # not 1-d: the features raise
    results = await asyncio.gather(
        batcher.analyze(bad), batcher.analyze(_segments()[0]), return_exceptions=True
    )
    assert all(isinstance(r, ValueError) for r in results)
    # The batcher recovers for the next question.
    assert 0.0 <= await batcher.analyze(_segments()[0]) <= 1.0


def _pcm(audio: npt.NDArray[np.float32]) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()


async def test_analyzer_hears_the_turn_from_just_before_the_speech() -> None:
    audio, truth = _speech()
    analyzer = SmartTurnAnalyzer(sample_rate=16000, batcher=TurnBatcher(offload=False))
    step = 320
    start, end = truth[0]
    for i in range(0, int((end + 0.2) * 16000), step):
        t = i / 16000
        analyzer.append_audio(_pcm(audio[i : i + step]), start <= t <= end)
    assert analyzer.speech_triggered
    segment = analyzer._stream.segment() if analyzer._stream else None
    assert segment is not None
    # 0.5 s of pre-speech (the first chunk marked as speech is included).
    assert abs(len(segment) / 16000 - (end + 0.2 - start + 0.5)) < 0.03
    state, metrics = await analyzer.analyze_end_of_turn()
    assert metrics is not None
    assert abs(metrics.probability - analyzer.predict_sync()) < 1e-5 or state is (
        EndOfTurnState.COMPLETE
    )


def test_analyzer_cap_ends_the_turn_after_stop_secs_of_silence() -> None:
    analyzer = SmartTurnAnalyzer(sample_rate=8000, params=SmartTurnParams(stop_secs=1.0))
    chunk = b"\x10\x00" * 160  # 20 ms at 8 kHz
    silence = b"\x00\x00" * 160
    assert analyzer.append_audio(silence, False) is EndOfTurnState.INCOMPLETE
    assert not analyzer.speech_triggered
    for _ in range(10):
        analyzer.append_audio(chunk, True)
    states = [analyzer.append_audio(silence, False) for _ in range(50)]
    assert states[:49] == [EndOfTurnState.INCOMPLETE] * 49
    assert states[49] is EndOfTurnState.COMPLETE
    assert not analyzer.speech_triggered  # cleared


def test_analyzer_needs_a_rate() -> None:
    with pytest.raises(ConfigurationError, match="set_sample_rate"):
        SmartTurnAnalyzer().append_audio(b"\x00\x00", False)


def _frames(audio: npt.NDArray[np.float32], rate: int = 16000) -> list[Frame]:
    pcm = _pcm(audio)
    step = rate * 20 // 1000 * 2
    return [
        InputAudioRawFrame(audio=pcm[i : i + step], sample_rate=rate)
        for i in range(0, len(pcm), step)
    ]


def _event_times(down: list[Frame]) -> list[tuple[str, float]]:
    t = 0.0
    out: list[tuple[str, float]] = []
    for f in down:
        if isinstance(f, InputAudioRawFrame):
            t += len(f.audio) / 2 / f.sample_rate
        else:
            out.append((type(f).__name__, t))
    return out


async def test_turn_model_keeps_the_turn_open_while_the_model_says_incomplete() -> None:
    # Whatever the model answers, a turn ends at most the cap after the last speech, and the
    # user's turn starts once however many pauses the VAD sees inside it.
    audio, truth = _speech()
    tail = np.zeros(16000 * 4, dtype=np.float32)
    params = SmartTurnParams(stop_secs=1.5)
    vad = VADProcessor(turn_analyzer=SmartTurnAnalyzer(params=params), turn_inline=True)
    assert vad.params.stop_secs == 0.2
    down, _ = await run_test(
        vad,
        frames_to_send=_frames(np.concatenate([audio, tail])),
        params=PipelineParams(audio_in_sample_rate=16000),
    )
    events = _event_times(down)
    stops = [t for name, t in events if name == UserStoppedSpeakingFrame.__name__]
    starts = [t for name, t in events if name == UserStartedSpeakingFrame.__name__]
    vad_stops = [t for name, t in events if name == VADUserStoppedSpeakingFrame.__name__]
    assert len(starts) == len(stops) >= 1
    assert len(vad_stops) >= len(stops)
    last_end = truth[-1][1]
    assert stops[-1] <= last_end + params.stop_secs + 0.3
    assert vad.last_turn_metrics is not None


TURN = Path(__file__).resolve().parents[1] / "fixtures" / "turn"


def _clip(name: str) -> tuple[npt.NDArray[np.float32], int]:
    with wave.open(str(TURN / f"{name}.wav"), "rb") as w:
        pcm, rate = w.readframes(w.getnframes()), w.getframerate()
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0, rate


async def _turn_ends(audio: npt.NDArray[np.float32], rate: int, **kwargs: object) -> list[float]:
    vad = VADProcessor(turn_analyzer=SmartTurnAnalyzer(), **kwargs)  # type: ignore[arg-type]
    down, _ = await run_test(
        vad, frames_to_send=_frames(audio, rate), params=PipelineParams(audio_in_sample_rate=rate)
    )
    return [t for n, t in _event_times(down) if n == UserStoppedSpeakingFrame.__name__]


async def test_a_complete_sentence_ends_the_turn_right_after_the_short_vad_stop() -> None:
    # Real telephone speech (8 kHz), a whole sentence: the turn ends at the VAD's 0.2 s stop
    # plus its window, well before the 0.8 s a VAD alone needs.
    voice, rate = _clip("asterisk/cannot-complete-as-dialed")
    lead, tail = np.zeros(rate // 2, np.float32), np.zeros(rate * 3, np.float32)
    stops = await _turn_ends(np.concatenate([lead, voice, tail]), rate, turn_inline=True)
    end = 0.5 + len(voice) / rate
    assert len(stops) == 1
    assert 0 < stops[0] - end < 0.6


async def test_a_pause_mid_sentence_does_not_end_the_turn() -> None:
    # The same speaker's sentence cut at a word gap with 0.7 s of silence inserted (longer than
    # the VAD's stop): the model hears the unfinished sentence and the turn stays open.
    voice, rate = _clip("asterisk/feature-not-avail-line")
    cut = int(1.88 * rate)
    silence = np.zeros(int(0.7 * rate), np.float32)
    lead, tail = np.zeros(rate // 2, np.float32), np.zeros(rate * 3, np.float32)
    audio = np.concatenate([lead, voice[:cut], silence, voice[cut:], tail])
    stops = await _turn_ends(audio, rate, turn_inline=True)
    end = 0.5 + 0.7 + len(voice) / rate
    assert len(stops) == 1
    assert stops[0] > end


async def test_the_question_runs_beside_the_audio_and_the_turn_still_ends() -> None:
    voice, rate = _clip("asterisk/cannot-complete-as-dialed")
    lead, tail = np.zeros(rate // 2, np.float32), np.zeros(rate * 3, np.float32)
    stops = await _turn_ends(np.concatenate([lead, voice, tail]), rate)
    await get_turn_batcher().wait_idle()
    assert len(stops) == 1
    assert stops[0] > 0.5 + len(voice) / rate


async def test_without_a_turn_model_every_vad_stop_ends_the_turn() -> None:
    audio, truth = _speech()
    down, _ = await run_test(
        VADProcessor(params=VADParams()),
        frames_to_send=_frames(audio),
        params=PipelineParams(audio_in_sample_rate=16000),
    )
    stops = [f for f in down if isinstance(f, UserStoppedSpeakingFrame)]
    assert len(stops) == len(truth)
