"""SarvamTTSService against the fake Sarvam TTS server, in real pipelines."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vani.errors import AuthenticationError
from vani.frames import (
    ErrorFrame,
    Frame,
    FrameDirection,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    MetricsFrame,
    TextFrame,
    TTFBMetricsData,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.text import SentenceAggregator
from vani.services.sarvam import SarvamTTSService
from vani.testing import SleepFrame, run_test
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer, TTSError, synthesize_voice_like

REPLY = "Namaste! Your table for two is booked at 8.30 p.m. tonight. Anything else?"
SENTENCES = ["Namaste!", "Your table for two is booked at 8.30 p.m. tonight.", "Anything else?"]


def llm_reply(text: str, token_chars: int = 4) -> list[Frame]:
    tokens = [text[i : i + token_chars] for i in range(0, len(text), token_chars)]
    return [
        LLMFullResponseStartFrame(),
        *[LLMTextFrame(text=t) for t in tokens],
        LLMFullResponseEndFrame(),
    ]


def tts_for(fake: FakeSarvamTTSServer, **kwargs: object) -> SarvamTTSService:
    return SarvamTTSService(
        api_key="test-key",
        base_url=fake.base_url,
        retry_base_delay_s=0.02,
        **kwargs,  # type: ignore[arg-type]
    )


def expected_pcm(fake: FakeSarvamTTSServer, text: str, rate: int = 24000) -> bytes:
    return synthesize_voice_like(text, rate, max(fake.min_audio_ms, fake.ms_per_char * len(text)))


def audio_of(frames: list[Frame], context_id: str | None = None) -> bytes:
    return b"".join(
        f.audio
        for f in frames
        if isinstance(f, TTSAudioRawFrame) and (context_id is None or f.context_id == context_id)
    )


def kinds(frames: list[Frame]) -> list[str]:
    """Frame type names, with runs of audio collapsed into one 'audio'."""
    out: list[str] = []
    for f in frames:
        name = "audio" if isinstance(f, TTSAudioRawFrame) else type(f).__name__
        if not (name == "audio" and out and out[-1] == "audio"):
            out.append(name)
    return out


async def run_until_fatal(processor: FrameProcessor, frames: list[Frame]) -> list[ErrorFrame]:
    task = PipelineTask(Pipeline([processor]), idle_timeout_secs=None)
    errors: list[ErrorFrame] = []

    async def on_error(_task: PipelineTask, frame: ErrorFrame) -> None:
        errors.append(frame)

    task.add_event_handler("on_error", on_error)
    await task.queue_frames(frames)
    await asyncio.wait_for(PipelineRunner(handle_sigint=False).run(task), 10)
    return errors


async def test_a_streamed_reply_is_spoken_sentence_by_sentence_between_started_and_stopped() -> (
    None
):
    async with FakeSarvamTTSServer() as fake:
        down, up = await run_test(tts_for(fake), frames_to_send=llm_reply(REPLY))
    assert kinds(down) == [
        "LLMFullResponseStartFrame",
        "TTSStartedFrame",
        *["audio", "TTSTextFrame"] * 3,
        "TTSStoppedFrame",
        "LLMFullResponseEndFrame",
    ]
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == SENTENCES
    assert audio_of(down) == b"".join(expected_pcm(fake, s) for s in SENTENCES)
    assert all(f.sample_rate == 24000 for f in down if isinstance(f, TTSAudioRawFrame))
    assert not [f for f in up if isinstance(f, ErrorFrame)]
    (connection,) = fake.connections
    assert connection.params == {"model": "bulbul:v3", "send_completion_event": "true"}
    assert connection.headers["api-subscription-key"] == "test-key"
    first = connection.messages[0]
    assert first == {
        "type": "config",
        "data": {
            "target_language_code": "en-IN",
            "output_audio_codec": "linear16",
            "speech_sample_rate": 24000,
        },
    }
    texts = [m["data"]["text"] for m in connection.messages_of_type("text")]  # type: ignore[index]
    assert texts == SENTENCES
    assert len(connection.messages_of_type("flush")) == 3
    assert connection.anomalies == []


async def test_riff_headers_are_stripped_and_samples_split_across_messages_are_rejoined() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.riff_header = True
        fake.irregular_chunks = True  # odd sizes: samples split across messages
        down, _ = await run_test(tts_for(fake), frames_to_send=llm_reply(REPLY, token_chars=1))
    assert audio_of(down) == b"".join(expected_pcm(fake, s) for s in SENTENCES)
    assert all(len(f.audio) % 2 == 0 for f in down if isinstance(f, TTSAudioRawFrame))


async def test_an_interruption_stops_synthesis_and_no_late_audio_of_it_is_played() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.chunk_interval_s = 0.05  # each sentence streams for about two seconds
        tts = tts_for(fake)
        long_reply = "This is a rather long answer that keeps going for quite some time. " * 2
        frames = [
            *llm_reply(long_reply),
            SleepFrame(sleep=0.4),
            InterruptionFrame(),
            SleepFrame(sleep=0.4),
            *llm_reply("Sure, stopping."),
        ]
        down, _ = await run_test(tts, frames_to_send=frames)
    started = [f for f in down if isinstance(f, TTSStartedFrame)]
    assert len(started) == 2
    old, new = started[0].context_id, started[1].context_id
    cut = next(i for i, f in enumerate(down) if isinstance(f, InterruptionFrame))
    assert audio_of(down[:cut], old)  # some of the first reply was heard
    assert not audio_of(down[cut:], old)  # and none of it after the interruption
    assert audio_of(down[cut:], new) == expected_pcm(fake, "Sure, stopping.")
    assert [f.text for f in down[cut:] if isinstance(f, TTSTextFrame)] == ["Sure, stopping."]
    # The interrupted synthesis was cut by closing its socket; the next reply used a fresh one.
    assert fake.syntheses[0].cut_by_client
    assert not fake.syntheses[0].completed
    assert len(fake.connections) == 2
    assert tts.connections_opened == 2


async def test_an_interruption_while_idle_keeps_the_socket() -> None:
    async with FakeSarvamTTSServer() as fake:
        tts = tts_for(fake)
        await run_test(
            tts,
            frames_to_send=[
                *llm_reply("One."),
                SleepFrame(sleep=0.2),
                InterruptionFrame(),
                *llm_reply("Two."),
            ],
        )
    assert len(fake.connections) == 1


async def test_a_drop_mid_sentence_ends_that_reply_and_the_next_reply_is_spoken_whole() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.disconnect_during_next_synthesis("abort", after_chunks=2)
        frames = [
            *llm_reply("First reply is cut off here."),
            SleepFrame(sleep=0.2),
            *llm_reply("Second reply."),
        ]
        down, up = await run_test(tts_for(fake), frames_to_send=frames)
    errors = [f for f in up if isinstance(f, ErrorFrame)]
    assert len(errors) == 1
    assert "closed mid-utterance" in errors[0].error
    assert not errors[0].fatal
    assert sum(isinstance(f, TTSStoppedFrame) for f in down) == 2
    second = [f for f in down if isinstance(f, TTSStartedFrame)][1].context_id
    assert audio_of(down, second) == expected_pcm(fake, "Second reply.")
    assert len(fake.connections) == 2


async def test_a_rate_limit_error_is_retried_on_a_fresh_socket() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.fail_next_flush(TTSError("rate_limit exceeded, please retry", 429))
        down, up = await run_test(tts_for(fake), frames_to_send=llm_reply(REPLY))
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == SENTENCES
    assert audio_of(down) == b"".join(expected_pcm(fake, s) for s in SENTENCES)
    assert not [f for f in up if isinstance(f, ErrorFrame)]
    assert len(fake.connections) == 2


async def test_a_fatal_error_message_ends_the_reply_with_a_clear_error() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.fail_next_flush(TTSError("invalid speaker for this model", None))
        down, up = await run_test(tts_for(fake), frames_to_send=llm_reply("Hello there."))
    (error,) = [f for f in up if isinstance(f, ErrorFrame)]
    assert "invalid speaker" in error.error
    assert "not retryable" in error.error
    assert kinds(down) == [
        "LLMFullResponseStartFrame",
        "TTSStartedFrame",
        "TTSStoppedFrame",
        "LLMFullResponseEndFrame",
    ]


@pytest.mark.parametrize("status", [403, 401])
async def test_a_refused_key_is_a_fatal_error_that_says_so(status: int) -> None:
    async with FakeSarvamTTSServer(api_key="right") as fake:
        fake.auth_status = status
        errors = await run_until_fatal(tts_for(fake), [])
    (error,) = errors
    assert error.fatal
    assert f"refused the api key (http {status})" in error.error
    assert isinstance(error.exception, AuthenticationError)


async def test_pings_keep_an_idle_socket_open() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.idle_timeout_s = 0.3
        await run_test(tts_for(fake, ping_interval_s=0.1), frames_to_send=[SleepFrame(sleep=1.0)])
    (connection,) = fake.connections
    assert len(connection.messages_of_type("ping")) >= 5
    assert connection.close_code != 1008


async def test_time_to_first_audio_is_reported_when_metrics_are_on() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.first_chunk_delay_s = 0.05
        down, _ = await run_test(
            tts_for(fake),
            frames_to_send=llm_reply("Hello."),
            params=PipelineParams(enable_metrics=True),
        )
    values = [
        d.value
        for f in down
        if isinstance(f, MetricsFrame)
        for d in f.data
        if isinstance(d, TTFBMetricsData)
    ]
    assert len(values) == 1
    assert 0.05 <= values[0] < 5


async def test_markdown_and_emoji_are_not_spoken_and_speak_frames_work_alone() -> None:
    async with FakeSarvamTTSServer() as fake:
        down, _ = await run_test(
            Pipeline([SentenceAggregator(), tts_for(fake)]),
            frames_to_send=[
                *llm_reply("**Booked** 🎉! See you at *8*."),
                TTSSpeakFrame(text="नमस्ते। फिर मिलेंगे।"),
            ],
        )
    texts = [m["data"]["text"] for m in fake.connections[0].messages_of_type("text")]  # type: ignore[index]
    assert texts == ["Booked!", "See you at 8.", "नमस्ते।", "फिर मिलेंगे।"]
    assert sum(isinstance(f, TTSStoppedFrame) for f in down) == 2
    assert not [f for f in down if type(f) is TextFrame]


async def test_hindi_config_and_voice_controls_are_sent_in_the_config() -> None:
    async with FakeSarvamTTSServer() as fake:
        tts = tts_for(
            fake,
            model="bulbul:v2",
            speaker="anushka",
            language="hi-IN",
            pace=1.1,
            pitch=0.1,
            loudness=1.2,
            enable_preprocessing=True,
            sample_rate=16000,
        )
        down, _ = await run_test(tts, frames_to_send=llm_reply("नमस्ते, आपका स्वागत है।"))
    config = fake.connections[0].messages[0]
    assert config == {
        "type": "config",
        "data": {
            "target_language_code": "hi-IN",
            "output_audio_codec": "linear16",
            "speaker": "anushka",
            "pace": 1.1,
            "pitch": 0.1,
            "loudness": 1.2,
            "enable_preprocessing": True,
            "speech_sample_rate": 16000,
        },
    }
    assert fake.connections[0].params["model"] == "bulbul:v2"
    assert audio_of(down) == expected_pcm(fake, "नमस्ते, आपका स्वागत है।", 16000)


async def test_an_output_rate_sarvam_lacks_is_requested_at_24k_and_resampled() -> None:
    async with FakeSarvamTTSServer() as fake:
        down, _ = await run_test(
            tts_for(fake),
            frames_to_send=llm_reply("Hello there."),
            params=PipelineParams(audio_out_sample_rate=48000),
        )
    assert fake.connections[0].messages[0]["data"]["speech_sample_rate"] == 24000  # type: ignore[index,call-overload]
    audio = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert all(f.sample_rate == 48000 for f in audio)
    sent_samples = len(expected_pcm(fake, "Hello there.")) // 2
    assert sum(len(f.audio) for f in audio) // 2 == 2 * sent_samples


async def test_malformed_server_messages_are_skipped_and_the_reply_still_plays() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.first_chunk_delay_s = 0.1

        async def noise() -> None:
            while not fake.live_connections:
                await asyncio.sleep(0.01)
            for junk in (
                "not json",
                b"\x00",
                '{"type":"mystery"}',
                '{"type":"audio","data":{"audio":"@@not base64@@"}}',
                '{"type":"audio","data":{}}',
                '{"type":"event","data":{"event_type":"other"}}',
            ):
                await fake.send_raw_all(junk)

        task = asyncio.create_task(noise())
        down, up = await run_test(tts_for(fake), frames_to_send=llm_reply("Still fine."))
        await task
    assert audio_of(down) == expected_pcm(fake, "Still fine.")
    assert not [f for f in up if isinstance(f, ErrorFrame)]


async def test_a_server_that_goes_silent_mid_reply_does_not_hold_the_response_forever() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.first_chunk_delay_s = 5.0  # nothing comes back in time
        down, up = await run_test(
            tts_for(fake, end_timeout_s=0.3), frames_to_send=llm_reply("Anyone there?")
        )
    assert kinds(down)[-2:] == ["TTSStoppedFrame", "LLMFullResponseEndFrame"]
    assert any("sent nothing" in f.error for f in up if isinstance(f, ErrorFrame))


class _BargeInOnFirstAudio(FrameProcessor):
    """Interrupts the pipeline from downstream of the TTS when the first audio reaches it."""

    def __init__(self) -> None:
        super().__init__(name="barge-in")
        self.fired = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame) and not self.fired:
            self.fired = True
            await self.broadcast_interruption()


async def test_an_interruption_raised_downstream_also_stops_synthesis() -> None:
    async with FakeSarvamTTSServer() as fake:
        fake.chunk_interval_s = 0.05
        fake.first_chunk_delay_s = 0.3  # the whole reply is in before the first audio
        barge_in = _BargeInOnFirstAudio()
        down, _ = await run_test(
            Pipeline([tts_for(fake), barge_in]),
            frames_to_send=[
                *llm_reply("A long sentence that will not be finished. " * 3),
                SleepFrame(sleep=0.5),
            ],
        )
    assert barge_in.fired
    assert len([f for f in down if isinstance(f, TTSAudioRawFrame)]) == 1
    assert fake.syntheses[0].cut_by_client


async def test_a_voice_change_mid_call_speaks_the_next_reply_in_the_new_voice() -> None:
    """An agent handoff: the reply before the frame finishes in the old voice on its socket,
    the next is sent on a fresh socket configured with the new speaker."""
    from vani.frames import TTSUpdateSettingsFrame

    async with FakeSarvamTTSServer() as fake:
        tts = tts_for(fake, model="bulbul:v2", speaker="anushka")
        down, _ = await run_test(
            tts,
            frames_to_send=[
                *llm_reply("Hello from triage."),
                TTSUpdateSettingsFrame(settings={"voice": "abhilash", "pace": 1.2}),
                *llm_reply("Billing here."),
            ],
        )

    first, second = fake.connections
    assert first.messages[0]["data"]["speaker"] == "anushka"  # type: ignore[index]
    assert second.messages[0]["data"]["speaker"] == "abhilash"  # type: ignore[index]
    assert second.messages[0]["data"]["pace"] == 1.2  # type: ignore[index]
    assert [m["data"]["text"] for m in first.messages_of_type("text")] == ["Hello from triage."]  # type: ignore[index]
    assert [m["data"]["text"] for m in second.messages_of_type("text")] == ["Billing here."]  # type: ignore[index]
    assert [f.text for f in down if isinstance(f, TTSTextFrame)] == [
        "Hello from triage.",
        "Billing here.",
    ]
    # The frame travels on, in order, between the two replies.
    names = kinds(down)
    assert names.index("TTSUpdateSettingsFrame") > names.index("TTSStoppedFrame")


async def test_the_text_leaves_for_the_server_before_the_started_frame_goes_down() -> None:
    # The server synthesizes while the started frame's downstream work runs.
    sent_when_started: list[list[int]] = []

    class Probe(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TTSStartedFrame):
                utterance = tts._utterance
                assert utterance is not None
                sent_when_started.append([s.sent_on for s in utterance.sentences])
            await self.push_frame(frame, direction)

    async with FakeSarvamTTSServer() as fake:
        tts = tts_for(fake)
        down, _ = await run_test(Pipeline([tts, Probe()]), frames_to_send=llm_reply(REPLY))
    assert len(sent_when_started) == 1 and sent_when_started[0][0] >= 0
    assert kinds(down)[:3] == ["LLMFullResponseStartFrame", "TTSStartedFrame", "audio"]
    assert kinds(down)[-2:] == ["TTSStoppedFrame", "LLMFullResponseEndFrame"]


class _BurstTTS(FakeSarvamTTSServer):
    """Writes each reply's messages to the socket in one write, as a fast server's audio
    arrives over a real network: the client reads them all at once."""

    async def _synthesize(self, ws: Any, state: Any, text: str) -> None:
        sent: list[str] = []

        class Collect:
            async def send(self, message: str) -> None:
                sent.append(message)

        await super()._synthesize(Collect(), state, text)  # type: ignore[arg-type]
        for message in sent:
            ws.protocol.send_text(message.encode())
        ws.send_data()


async def test_a_replys_first_audio_goes_on_before_the_rest_of_a_burst_is_decoded() -> None:
    # What comes after the TTS (the output transport's writer) runs in a task of its own: it
    # must get its turn after the first audio, not after every message that came with it.
    events: list[str] = []

    class Output(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TTSAudioRawFrame):
                if "audio" not in events:
                    asyncio.get_running_loop().call_soon(events.append, "writer")
                events.append("audio")
            await self.push_frame(frame, direction)

    async with _BurstTTS() as fake:
        fake.chunk_ms = 20  # the 0.9 s reply in 45 messages, all in one read
        down, _ = await run_test(
            Pipeline([tts_for(fake), Output()]), frames_to_send=llm_reply("Table for two?")
        )
    assert events.count("audio") > 10
    assert events[:3] == ["audio", "writer", "audio"], events[:12]
    assert audio_of(down) == expected_pcm(fake, "Table for two?")
