"""configure_smart_turn(): which model file the process loads, its provider and threads, the
shared batchers' batch size, Pipecat's per-analyzer spellings of them, and the errors a wrong
setting gets."""

from __future__ import annotations

import asyncio
import importlib.resources
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

import vani.audio.turn as turn
from vani.audio.turn import (
    LocalSmartTurnAnalyzerV3,
    SmartTurnParams,
    configure_smart_turn,
    get_turn_batcher,
    run_smart_turn,
    smart_turn_session,
)
from vani.audio.turn_features import log_mel_features
from vani.audio.vad import VADProcessor
from vani.errors import ConfigurationError, ModelLoadError
from vani.frames import ErrorFrame, InputAudioRawFrame, UserStoppedSpeakingFrame
from vani.pipeline import PipelineParams
from vani.testing import run_test

TURN = Path(__file__).resolve().parents[1] / "fixtures" / "turn"


def _bundled(name: str) -> Path:
    return Path(str(importlib.resources.files("vani") / "models" / name))


@pytest.fixture
def fresh() -> Iterator[None]:
    """No model loaded and default settings; the process's own model and settings come back
    afterwards, so the other tests keep sharing the one session."""
    saved = (turn._session, turn._settings, dict(turn._batchers))
    turn._session, turn._settings = None, turn._Settings()
    turn._batchers.clear()
    try:
        yield
    finally:
        turn._session, turn._settings = saved[0], saved[1]
        turn._batchers.clear()
        turn._batchers.update(saved[2])


def _probability(seed: int = 1) -> float:
    audio = np.random.default_rng(seed).standard_normal(16000 * 2).astype(np.float32) * 0.1
    return float(run_smart_turn(log_mel_features(audio)[None])[0])


def test_threads_and_provider_reach_the_session(fresh: None) -> None:
    configure_smart_turn(threads=2, providers=["CPUExecutionProvider"])
    session = cast(Any, smart_turn_session())
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.get_session_options().intra_op_num_threads == 2


def test_the_default_session_runs_one_thread_on_the_cpu(fresh: None) -> None:
    session = cast(Any, smart_turn_session())
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert session.get_session_options().intra_op_num_threads == 1


def test_another_model_file_is_the_one_loaded(fresh: None, tmp_path: Path) -> None:
    bundled = _probability()
    turn._session = None
    copy = tmp_path / "smart-turn.onnx"
    shutil.copyfile(_bundled(turn.MODEL_FILE), copy)
    configure_smart_turn(model_path=copy)
    assert turn._settings.model_path == str(copy)
    assert _probability() == pytest.approx(bundled, abs=1e-6)


def test_a_file_that_is_no_model_fails_to_load_and_can_be_replaced(
    fresh: None, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model at all")
    configure_smart_turn(model_path=junk)
    with pytest.raises(ModelLoadError, match="cannot load the smart-turn model"):
        smart_turn_session()
    # Nothing was loaded, so the settings can still be changed.
    configure_smart_turn()
    assert 0.0 <= _probability() <= 1.0


def test_a_model_with_another_input_is_refused_when_loaded(fresh: None) -> None:
    configure_smart_turn(model_path=_bundled("silero_vad.onnx"))
    with pytest.raises(ModelLoadError, match=r"not a smart-turn v3 model.*input_features"):
        smart_turn_session()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threads": 0}, "threads >= 1"),
        ({"max_batch": 0}, "max_batch >= 1"),
        ({"providers": []}, "non-empty list"),
        ({"providers": "CPUExecutionProvider"}, "non-empty list"),
        ({"providers": ["NoSuchExecutionProvider"]}, "no NoSuchExecutionProvider.*CPUExecution"),
        ({"model_path": "/nonexistent/smart-turn.onnx"}, "no smart-turn model file"),
    ],
)
def test_wrong_settings_are_refused_at_once(
    fresh: None, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        configure_smart_turn(**kwargs)
    assert turn._settings == turn._Settings()


def test_settings_cannot_change_under_a_loaded_model(fresh: None) -> None:
    smart_turn_session()
    configure_smart_turn()  # the same settings: nothing to change
    with pytest.raises(ConfigurationError, match=r"already loaded.*before the first question"):
        configure_smart_turn(threads=2)
    assert turn._settings.threads == 1


async def test_the_shared_batcher_takes_the_configured_batch_size(fresh: None) -> None:
    configure_smart_turn(max_batch=4)
    batcher = get_turn_batcher()
    assert batcher.max_batch == 4
    with pytest.raises(ConfigurationError, match="max_batch=4"):
        configure_smart_turn(max_batch=2)
    # Four questions asked together run as one batch.
    audio = np.random.default_rng(2).standard_normal(16000).astype(np.float32) * 0.1
    probs = await asyncio.gather(*(batcher.analyze(audio) for _ in range(4)))
    assert batcher.batches == 1 and batcher.items == 4
    assert len(set(probs)) == 1


def test_pipecats_constructor_arguments_are_accepted(fresh: None, tmp_path: Path) -> None:
    # As a Pipecat bot writes it: the model path from the environment (often unset) and one CPU.
    LocalSmartTurnAnalyzerV3(smart_turn_model_path=None, cpu_count=1, params=SmartTurnParams())
    assert turn._settings == turn._Settings()
    copy = tmp_path / "smart-turn.onnx"
    shutil.copyfile(_bundled(turn.MODEL_FILE), copy)
    LocalSmartTurnAnalyzerV3(smart_turn_model_path=str(copy), cpu_count=2)
    assert (turn._settings.model_path, turn._settings.threads) == (str(copy), 2)
    smart_turn_session()
    # Every analyzer shares the one model: the same settings again are fine, others are not.
    LocalSmartTurnAnalyzerV3(smart_turn_model_path=str(copy), cpu_count=2)
    with pytest.raises(ConfigurationError, match="already loaded"):
        LocalSmartTurnAnalyzerV3(cpu_count=1)


async def test_a_model_that_cannot_load_still_lets_the_turn_end(
    fresh: None, tmp_path: Path
) -> None:
    # The model is broken: the question fails, the call hears about it as an error, and the
    # user's turn still ends by the cap instead of hanging the call.
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00" * 64)
    configure_smart_turn(model_path=junk)
    with wave.open(str(TURN / "asterisk" / "cannot-complete-as-dialed.wav"), "rb") as w:
        pcm, rate = w.readframes(w.getnframes()), w.getframerate()
    silence = b"\x00\x00" * rate * 3
    audio = b"\x00\x00" * (rate // 2) + pcm + silence
    step = rate * 20 // 1000 * 2
    frames = [
        InputAudioRawFrame(audio=audio[i : i + step], sample_rate=rate)
        for i in range(0, len(audio), step)
    ]
    params = SmartTurnParams(stop_secs=1.0)
    # Inline, so the question surely runs: the harness feeds audio faster than real time, and
    # a question still queued when the cap ends the turn is withdrawn unasked.
    vad = VADProcessor(turn_analyzer=LocalSmartTurnAnalyzerV3(params=params), turn_inline=True)
    down, up = await run_test(
        vad, frames_to_send=frames, params=PipelineParams(audio_in_sample_rate=rate)
    )
    assert sum(isinstance(f, UserStoppedSpeakingFrame) for f in down) == 1
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert errors and "cannot load the smart-turn model" in errors[0].error
