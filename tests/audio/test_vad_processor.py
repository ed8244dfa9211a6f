"""VADProcessor in a pipeline, on real speech, through ``vani.testing.run_test``."""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from vani._core.vad import VADEvent
from vani.audio.silero import SileroStream, get_batcher
from vani.audio.vad import SileroVADAnalyzer, VADParams, VADProcessor
from vani.errors import ConfigurationError
from vani.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    StartFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.pipeline import PipelineParams
from vani.testing import run_test

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def _speech(rate: str) -> tuple[bytes, int, list[tuple[float, float]]]:
    with wave.open(str(FIXTURES / f"speech_{rate}.wav"), "rb") as w:
        pcm, sr = w.readframes(w.getnframes()), w.getframerate()
    meta = json.loads((FIXTURES / f"speech_{rate}.json").read_text())
    return pcm, sr, [(s["start_secs"], s["end_secs"]) for s in meta["segments"]]


def _frames(pcm: bytes, rate: int, ms: int = 20) -> list[Frame]:
    step = rate * ms // 1000 * 2
    return [
        InputAudioRawFrame(audio=pcm[i : i + step], sample_rate=rate)
        for i in range(0, len(pcm), step)
    ]


def _events(frames: list[Frame]) -> list[Frame]:
    return [f for f in frames if not isinstance(f, InputAudioRawFrame)]


@pytest.mark.parametrize("rate", ["16k", "8k"])
async def test_vad_processor_announces_each_turn_and_passes_every_audio_frame(rate: str) -> None:
    pcm, sr, truth = _speech(rate)
    frames = _frames(pcm, sr)
    down, up = await run_test(
        VADProcessor(),
        frames_to_send=frames,
        params=PipelineParams(audio_in_sample_rate=sr),
    )
    audio = [f for f in down if isinstance(f, InputAudioRawFrame)]
    assert audio == frames, "every audio frame passes on, unchanged and in order"
    per_turn = [
        VADUserStartedSpeakingFrame,
        UserStartedSpeakingFrame,
        InterruptionFrame,
        VADUserStoppedSpeakingFrame,
        UserStoppedSpeakingFrame,
    ]
    assert [type(f) for f in _events(down)] == per_turn * len(truth)
    assert [type(f) for f in up] == [InterruptionFrame] * len(truth)
    starts = [f for f in down if isinstance(f, VADUserStartedSpeakingFrame)]
    stops = [f for f in down if isinstance(f, VADUserStoppedSpeakingFrame)]
    for start, stop, (true_start, true_end) in zip(starts, stops, truth, strict=True):
        assert abs(start.timestamp - true_start) <= 0.150
        assert abs(stop.timestamp - true_end) <= 0.150
        assert start.start_secs == VADParams().start_secs
        assert stop.stop_secs == VADParams().stop_secs


async def test_vad_events_follow_the_audio_that_decided_them() -> None:
    pcm, sr, _ = _speech("16k")
    down, _ = await run_test(VADProcessor(), frames_to_send=_frames(pcm, sr))
    seen_secs = 0.0
    for f in down:
        if isinstance(f, InputAudioRawFrame):
            seen_secs += len(f.audio) / 2 / sr
        elif isinstance(f, VADUserStartedSpeakingFrame):
            # Decided start_secs (in whole 32 ms windows) after the edge, so at least that much
            # audio went before it.
            decided = f.timestamp + round(f.start_secs / 0.032) * 0.032
            assert seen_secs >= decided - 1e-9


async def test_no_interruption_when_the_pipeline_does_not_allow_them() -> None:
    pcm, sr, truth = _speech("16k")
    down, up = await run_test(
        VADProcessor(),
        frames_to_send=_frames(pcm, sr),
        params=PipelineParams(allow_interruptions=False),
    )
    assert not any(isinstance(f, InterruptionFrame) for f in down + up)
    assert sum(isinstance(f, UserStartedSpeakingFrame) for f in down) == len(truth)


async def test_vad_processor_is_silent_on_noise() -> None:
    with wave.open(str(FIXTURES / "noise_-20dbfs_16k.wav"), "rb") as w:
        pcm = w.readframes(w.getnframes())
    down, up = await run_test(VADProcessor(), frames_to_send=_frames(pcm, 16000))
    assert _events(down) == []
    assert up == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            InputAudioRawFrame(audio=bytes(639), sample_rate=16000),
            "expected whole 16-bit samples (an even byte count), got 639 bytes",
        ),
        (
            InputAudioRawFrame(audio=bytes(1280), sample_rate=16000, num_channels=2),
            "expected mono input audio for the vad, got 2 channels",
        ),
        (
            InputAudioRawFrame(audio=bytes(440), sample_rate=11025),
            "expected input audio at 8000, 16000, 22050, 24000, 32000, 44100 or 48000 Hz,"
            " got 11025",
        ),
    ],
)
async def test_malformed_audio_is_reported_once_and_the_session_carries_on(
    bad: InputAudioRawFrame, message: str
) -> None:
    pcm, sr, truth = _speech("16k")
    frames = _frames(pcm, sr)
    frames[10:10] = [bad, bad]
    down, up = await run_test(VADProcessor(), frames_to_send=frames)
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert [e.error for e in errors] == [message], "reported once, however often it repeats"
    assert not errors[0].fatal
    assert sum(isinstance(f, VADUserStoppedSpeakingFrame) for f in down) == len(truth)
    assert [f for f in down if isinstance(f, InputAudioRawFrame)] == frames


async def test_48_khz_input_is_resampled_and_finds_the_same_turns() -> None:
    pcm, _, truth = _speech("16k")
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    # Upsample by 3 with linear interpolation: enough for speech detection, and independent
    # of the resampler under test.
    up3 = np.interp(np.arange(len(x) * 3) / 3, np.arange(len(x)), x)
    pcm48 = np.round(up3).astype("<i2").tobytes()
    down, _ = await run_test(
        VADProcessor(sample_rate=48000),
        frames_to_send=_frames(pcm48, 48000),
        params=PipelineParams(audio_in_sample_rate=48000),
    )
    starts = [f.timestamp for f in down if isinstance(f, VADUserStartedSpeakingFrame)]
    assert len(starts) == len(truth)
    for start, (true_start, _end) in zip(starts, truth, strict=True):
        assert abs(start - true_start) <= 0.150


def test_vad_processor_rejects_an_input_rate_it_cannot_take() -> None:
    with pytest.raises(ConfigurationError, match="got 11025"):
        VADProcessor(sample_rate=11025)


async def test_pipecat_spelling_takes_the_params_of_the_analyzer() -> None:
    pcm, sr, _truth = _speech("16k")
    # stop_secs longer than the 1.2 s gap: the two utterances make one turn (and one more
    # second of silence lets it end).
    params = VADParams(stop_secs=1.5)
    down, _ = await run_test(
        VADProcessor(vad_analyzer=SileroVADAnalyzer(params=params)),
        frames_to_send=_frames(pcm + bytes(2 * sr), sr),
    )
    stops = [f for f in down if isinstance(f, VADUserStoppedSpeakingFrame)]
    assert [f.stop_secs for f in stops] == [1.5]


async def test_concurrent_sessions_share_inference_batches_and_each_finds_its_turns() -> None:
    pcm, sr, truth = _speech("16k")
    batcher = get_batcher(16000)
    before = batcher.batches, batcher.windows
    results = await asyncio.gather(
        *(run_test(VADProcessor(), frames_to_send=_frames(pcm, sr)) for _ in range(4))
    )
    batches, windows = batcher.batches - before[0], batcher.windows - before[1]
    assert windows == 4 * (len(pcm) // 1024)
    assert batches < windows, "sessions shared model runs"
    for down, _up in results:
        starts = [f.timestamp for f in down if isinstance(f, VADUserStartedSpeakingFrame)]
        assert len(starts) == len(truth)


class _SlowModelVAD(VADProcessor):
    """Each batch of windows takes 20 ms more: the audio queues behind the model, as it does
    on a server past its capacity."""

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        real = self._batcher
        assert real is not None

        class Slow:
            async def analyze(self, stream: SileroStream) -> list[VADEvent]:
                await asyncio.sleep(0.02)
                return await real.analyze(stream)

            def discard(self, stream: SileroStream) -> None:
                real.discard(stream)

        self._batcher = Slow()  # type: ignore[assignment]


async def test_a_backlog_past_max_backlog_secs_is_passed_on_without_analysis() -> None:
    pcm, sr, truth = _speech("16k")
    frames = _frames(pcm, sr)
    vad = _SlowModelVAD(max_backlog_secs=0.1)
    down, _ = await run_test(
        vad, frames_to_send=frames, params=PipelineParams(audio_in_sample_rate=sr)
    )
    assert [f for f in down if isinstance(f, InputAudioRawFrame)] == frames
    total = len(pcm) / 2 / sr
    assert 0.0 < vad.skipped_secs < total


async def test_a_backlog_under_max_backlog_secs_changes_nothing() -> None:
    pcm, sr, truth = _speech("16k")
    frames = _frames(pcm, sr)
    vad = VADProcessor(max_backlog_secs=3600.0)
    down, _ = await run_test(
        vad, frames_to_send=frames, params=PipelineParams(audio_in_sample_rate=sr)
    )
    assert vad.skipped_secs == 0.0
    starts = [f for f in down if isinstance(f, VADUserStartedSpeakingFrame)]
    assert len(starts) == len(truth)


@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_max_backlog_secs_must_be_positive(bad: float) -> None:
    with pytest.raises(ConfigurationError, match="max_backlog_secs"):
        VADProcessor(max_backlog_secs=bad)
