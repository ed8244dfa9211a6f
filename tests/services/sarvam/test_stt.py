"""SarvamSTTService against the fake Sarvam STT server, in real pipelines."""

from __future__ import annotations

import asyncio

import pytest

from tests.services.sarvam.speech import FRAME_BYTES, SCRIPT, fixture_pcm, frames_with_vad
from vani.audio.resample import StreamResampler
from vani.errors import AuthenticationError, ConfigurationError
from vani.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.services.sarvam import SarvamSTTService
from vani.testing import SleepFrame, run_test
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer, STTFailure

PREROLL_FRAMES = 20  # the default 400 ms


async def run_until_fatal(processor: FrameProcessor) -> list[ErrorFrame]:
    """Run ``processor`` alone until a fatal error ends the task; return every error."""
    task = PipelineTask(Pipeline([processor]), idle_timeout_secs=None)
    errors: list[ErrorFrame] = []

    async def on_error(_task: PipelineTask, frame: ErrorFrame) -> None:
        errors.append(frame)

    task.add_event_handler("on_error", on_error)
    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 10)
    return errors


def transcripts(frames: list[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, TranscriptionFrame)]


def stt_for(fake: FakeSarvamSTTServer, **kwargs: object) -> SarvamSTTService:
    return SarvamSTTService(
        api_key="test-key",
        base_url=fake.base_url,
        language="en-IN",
        reconnect_base_delay_s=0.02,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_spoken_turns_come_out_as_the_scripted_transcripts_after_each_turn_ends() -> None:
    frames, edges = frames_with_vad(fixture_pcm())
    assert len(edges) == 2
    async with FakeSarvamSTTServer(transcripts=SCRIPT) as fake:
        down, up = await run_test(stt_for(fake), frames_to_send=[*frames, SleepFrame(sleep=0.5)])
    assert transcripts(down) == SCRIPT
    # Each transcript comes after the stop of its own turn.
    order = [
        type(f) for f in down if isinstance(f, TranscriptionFrame | VADUserStoppedSpeakingFrame)
    ]
    assert order == [VADUserStoppedSpeakingFrame, TranscriptionFrame] * 2
    first = next(f for f in down if isinstance(f, TranscriptionFrame))
    assert first.language == "en-IN"
    assert first.timestamp.endswith("+00:00")
    assert not [f for f in up if isinstance(f, ErrorFrame)]
    # Audio is the pre-roll plus the turn, then a flush; nothing between turns.
    assert [u.reason for u in fake.utterances] == ["flush", "flush"]
    for utterance, (start, stop) in zip(fake.utterances, edges, strict=True):
        assert utterance.audio_bytes == FRAME_BYTES * (PREROLL_FRAMES + stop - start)
    (connection,) = fake.connections
    assert connection.params == {
        "model": "saaras:v3",
        "language-code": "en-IN",
        "sample_rate": "16000",
        "input_audio_codec": "pcm_s16le",
        "vad_signals": "false",
        "flush_signal": "true",
    }
    assert connection.headers["api-subscription-key"] == "test-key"
    assert connection.anomalies == []
    # The input audio itself is passed on.
    assert sum(isinstance(f, InputAudioRawFrame) for f in down) == len(fixture_pcm()) // FRAME_BYTES


async def test_a_turn_sarvam_hears_nothing_in_closes_with_an_empty_transcript() -> None:
    frames, _ = frames_with_vad(fixture_pcm())
    first_turn = frames[
        : frames.index(next(f for f in frames if isinstance(f, VADUserStoppedSpeakingFrame))) + 1
    ]
    async with FakeSarvamSTTServer(transcripts=[""]) as fake:
        down, _ = await run_test(stt_for(fake), frames_to_send=[*first_turn, SleepFrame(sleep=0.3)])
    assert transcripts(down) == [""]


async def test_a_socket_dropped_mid_turn_is_reopened_and_the_turn_resent_whole() -> None:
    frames, _ = frames_with_vad(fixture_pcm())
    async with FakeSarvamSTTServer(transcripts=SCRIPT) as fake:
        fake.fail_next_utterance(STTFailure(kind="abort"))
        stt = stt_for(fake)
        down, up = await run_test(stt, frames_to_send=[*frames, SleepFrame(sleep=0.8)])
    assert transcripts(down) == SCRIPT
    assert stt.connections_opened == 2
    assert len(fake.connections) == 2
    # The first turn's audio went twice: once on the dropped socket, once again on the new one.
    assert fake.utterances[0].transcript is None
    assert fake.utterances[1].audio_bytes == fake.utterances[0].audio_bytes
    assert any("dropped" in f.error for f in up if isinstance(f, ErrorFrame))
    assert not any(f.fatal for f in up if isinstance(f, ErrorFrame))


@pytest.mark.parametrize("code", [1011, 1003, 1000])
async def test_a_close_code_mid_call_is_survived_without_losing_a_turn(code: int) -> None:
    frames, _ = frames_with_vad(fixture_pcm())
    async with FakeSarvamSTTServer(transcripts=SCRIPT) as fake:
        fake.fail_next_utterance(STTFailure(kind="error-then-close", code=code, reason="x"))
        stt = stt_for(fake)
        down, up = await run_test(stt, frames_to_send=[*frames, SleepFrame(sleep=1.6)])
    assert transcripts(down) == SCRIPT
    assert not any(f.fatal for f in up if isinstance(f, ErrorFrame))


async def test_close_4000_is_a_fatal_error_naming_the_reason() -> None:
    async with FakeSarvamSTTServer() as fake:
        fake.close_after_connect = (4000, "language not enabled")
        errors = await run_until_fatal(stt_for(fake))
    assert errors
    assert errors[0].fatal
    assert "4000" in errors[0].error
    assert "language not enabled" in errors[0].error


@pytest.mark.parametrize("status", [403, 401])
async def test_a_refused_key_is_a_fatal_error_that_says_so(status: int) -> None:
    async with FakeSarvamSTTServer(api_key="the-right-key") as fake:
        fake.auth_status = status
        (error,) = await run_until_fatal(stt_for(fake))
    assert error.fatal
    assert f"refused the api key (http {status})" in error.error
    assert isinstance(error.exception, AuthenticationError)
    assert len(fake.rejected) == 1  # no retry loop against a refused key


async def test_long_silence_is_bridged_by_keepalive_audio_so_the_socket_stays_open() -> None:
    async with FakeSarvamSTTServer() as fake:
        fake.idle_timeout_s = 0.3
        stt = stt_for(fake, keepalive_interval_s=0.1)
        await run_test(stt, frames_to_send=[SleepFrame(sleep=1.2)])
    assert len(fake.connections) == 1
    assert fake.connections[0].close_code != 1008
    keepalives = [m for m in fake.connections[0].messages if isinstance(m, dict) and "audio" in m]
    assert len(keepalives) >= 4


async def test_without_keepalive_the_idle_close_is_followed_by_a_reconnect() -> None:
    async with FakeSarvamSTTServer() as fake:
        fake.idle_timeout_s = 0.2
        stt = stt_for(fake, keepalive_interval_s=0)
        _, up = await run_test(stt, frames_to_send=[SleepFrame(sleep=0.7)])
    assert fake.connections[0].close_code == 1008
    assert len(fake.connections) >= 2
    assert not [f for f in up if isinstance(f, ErrorFrame)]  # an idle close is routine


async def test_malformed_and_unknown_server_messages_are_skipped() -> None:
    frames, _ = frames_with_vad(fixture_pcm())
    async with FakeSarvamSTTServer(transcripts=SCRIPT) as fake:

        async def noise() -> None:
            while not fake.live_connections:
                await asyncio.sleep(0.01)
            for junk in (
                "not json",
                b"\x01\x02",
                '{"type":"mystery","data":{}}',
                '{"type":"data"}',
                "[1,2]",
                '{"type":"data","data":{"transcript":5}}',
            ):
                await fake.send_raw_all(junk)

        task = asyncio.create_task(noise())
        down, up = await run_test(stt_for(fake), frames_to_send=[*frames, SleepFrame(sleep=0.5)])
        await task
    assert transcripts(down) == SCRIPT
    assert not [f for f in up if isinstance(f, ErrorFrame)]


async def test_an_error_message_is_reported_without_ending_the_session() -> None:
    frames, _ = frames_with_vad(fixture_pcm())
    async with FakeSarvamSTTServer(transcripts=["only"]) as fake:
        fake.fail_next_utterance(
            STTFailure(kind="error", reason="audio too short", error_code="bad")
        )
        _, up = await run_test(
            stt_for(fake, transcript_timeout_s=0.3), frames_to_send=[*frames, SleepFrame(sleep=1.0)]
        )
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert any("audio too short" in e.error for e in errors)
    assert not any(e.fatal for e in errors)


async def test_sarvam_vad_mode_turns_speech_events_into_turns_with_the_transcript_after() -> None:
    pcm = fixture_pcm()
    frames: list[Frame] = [
        InputAudioRawFrame(audio=pcm[i : i + FRAME_BYTES]) for i in range(0, len(pcm), FRAME_BYTES)
    ]
    for order in ("before", "after"):
        async with FakeSarvamSTTServer(transcripts=SCRIPT) as fake:
            fake.end_speech_order = order  # type: ignore[assignment]
            fake.duplicate_end_speech = True
            down, up = await run_test(
                stt_for(fake, vad_source="sarvam"), frames_to_send=[*frames, SleepFrame(sleep=0.5)]
            )
        kinds = [
            type(f).__name__
            for f in down
            if isinstance(
                f, TranscriptionFrame | UserStartedSpeakingFrame | UserStoppedSpeakingFrame
            )
        ]
        assert (
            kinds
            == ["UserStartedSpeakingFrame", "UserStoppedSpeakingFrame", "TranscriptionFrame"] * 2
        )
        assert transcripts(down) == SCRIPT
        assert fake.connections[0].params["vad_signals"] == "true"
        assert fake.connections[0].params["flush_signal"] == "false"


async def test_a_start_end_pair_without_transcript_closes_the_turn_empty() -> None:
    pcm = fixture_pcm()
    frames: list[Frame] = [
        InputAudioRawFrame(audio=pcm[i : i + FRAME_BYTES]) for i in range(0, len(pcm), FRAME_BYTES)
    ]
    async with FakeSarvamSTTServer(transcripts=["second"]) as fake:
        fake.vad_without_transcript = True
        # Real-time gaps: the first turn's wait for a transcript ends before the second starts.
        frames.insert(200, SleepFrame(sleep=0.5))
        down, _ = await run_test(
            stt_for(fake, vad_source="sarvam", transcript_timeout_s=0.2),
            frames_to_send=[*frames, SleepFrame(sleep=0.5)],
        )
    assert transcripts(down) == ["", "second"]


def test_a_missing_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SARVAM_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="expected a sarvam api key"):
        SarvamSTTService()


def test_the_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SARVAM_API_KEY", "from-env")
    assert SarvamSTTService()._api_key == "from-env"


async def test_input_at_48k_is_resampled_to_the_16k_sarvam_expects() -> None:
    resampler = StreamResampler(16000, 48000)
    pcm48 = resampler.resample(fixture_pcm()) + resampler.flush()
    frames16, edges = frames_with_vad(fixture_pcm())
    frames: list[Frame] = []
    offset = 0
    for f in frames16:  # the same VAD edges, over 48 kHz audio
        if isinstance(f, InputAudioRawFrame):
            frames.append(
                InputAudioRawFrame(audio=pcm48[offset : offset + 1920], sample_rate=48000)
            )
            offset += 1920
        else:
            frames.append(f)
    async with FakeSarvamSTTServer(transcripts=SCRIPT) as fake:
        down, _ = await run_test(
            stt_for(fake),
            frames_to_send=[*frames, SleepFrame(sleep=0.5)],
            params=PipelineParams(audio_in_sample_rate=48000),
        )
    assert transcripts(down) == SCRIPT
    assert fake.connections[0].anomalies == []
    # What reached Sarvam is 16 kHz: per turn, the pre-roll and the turn at 640 bytes per 20 ms.
    for utterance, (start, stop) in zip(fake.utterances, edges, strict=True):
        expected = FRAME_BYTES * (PREROLL_FRAMES + stop - start)
        assert utterance.audio_bytes == pytest.approx(expected, rel=0.03)


async def test_a_transcript_with_null_language_falls_back_to_the_configured_one() -> None:
    frames, _ = frames_with_vad(fixture_pcm())
    async with FakeSarvamSTTServer(transcripts=["a", "b"]) as fake:
        fake.null_language = True
        stt = SarvamSTTService(api_key="test-key", base_url=fake.base_url, language="hi-IN")
        down, _ = await run_test(stt, frames_to_send=[*frames, SleepFrame(sleep=0.5)])
    assert [f.language for f in down if isinstance(f, TranscriptionFrame)] == ["hi-IN"] * 2


async def test_a_transcript_arriving_after_the_next_turn_began_goes_to_its_own_turn() -> None:
    frames, _ = frames_with_vad(fixture_pcm())
    async with FakeSarvamSTTServer(transcripts=SCRIPT) as fake:
        fake.processing_latency_s = 0.3  # the first reply lands while turn two is streaming
        down, _ = await run_test(stt_for(fake), frames_to_send=[*frames, SleepFrame(sleep=1.0)])
    assert transcripts(down) == SCRIPT


async def test_an_end_frame_mid_turn_still_delivers_that_turns_transcript() -> None:
    frames, _ = frames_with_vad(fixture_pcm())
    first_stop = next(i for i, f in enumerate(frames) if isinstance(f, VADUserStoppedSpeakingFrame))
    async with FakeSarvamSTTServer(transcripts=SCRIPT) as fake:
        down, _ = await run_test(stt_for(fake), frames_to_send=frames[: first_stop - 5])
    assert transcripts(down) == SCRIPT[:1]
    assert [u.reason for u in fake.utterances] == ["flush"]


async def test_a_very_long_turn_keeps_only_max_resend_s_of_audio_for_resending() -> None:
    frames, _ = frames_with_vad(fixture_pcm())
    first_stop = next(i for i, f in enumerate(frames) if isinstance(f, VADUserStoppedSpeakingFrame))
    async with FakeSarvamSTTServer(transcripts=SCRIPT) as fake:
        stt = stt_for(fake, max_resend_s=0.5)
        # Stop before the turn ends: the open turn is what holds audio.
        await run_test(stt, frames_to_send=frames[: first_stop - 5], send_end_frame=False)
        (turn,) = stt._turns
        assert turn.trimmed
        assert sum(len(c) for c in turn.chunks) <= 16000 + FRAME_BYTES  # 0.5 s at 16 kHz
