"""RAVIObserver: the events a client receives, exactly and in order."""

from __future__ import annotations

from typing import Any

from tests.ravi.rig import Session
from vani.frames import (
    FrameDirection,
    FunctionCallCancelFrame,
    FunctionCallDataFrame,
    FunctionCallFromLLM,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterimTranscriptionFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    LLMUsageMetricsData,
    MetricsFrame,
    TranscriptionFrame,
    TTFBMetricsData,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    TTSUsageMetricsData,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from vani.processors.frame_processor import FrameProcessor
from vani.ravi import (
    FunctionCallReportLevel,
    RAVIObserverParams,
    RTVIObserverParams,
    RTVIServerMessageFrame,
)

ABOUT = {"library": "test", "library_version": "0"}


def bare(messages: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(m["type"], m.get("data")) for m in messages if m["type"] != "bot-ready"]


async def handshake(s: Session, version: str = "2.2.0") -> None:
    await s.send("client-ready", {"version": version, "about": ABOUT})
    await s.wait_for("bot-ready")
    await s.settle()


async def test_user_turn_and_transcripts_for_a_2x_client() -> None:
    async with Session() as s:
        await handshake(s)
        # System frames overtake queued data frames, so each step waits for the previous one.
        await s.push(UserStartedSpeakingFrame())
        await s.wait_for("user-started-speaking")
        await s.push(
            InterimTranscriptionFrame(text="two", user_id="u", timestamp="t1"),
            TranscriptionFrame(text="two pizzas", user_id="u", timestamp="t2"),
        )
        await s.wait_for("user-input", 2)
        await s.push(UserStoppedSpeakingFrame())
        await s.wait_for("user-stopped-speaking")
    assert bare(s.client.messages) == [
        ("user-started-speaking", None),
        (
            "user-input",
            {
                "text": "two",
                "input_type": "transcription",
                "timestamp": "t1",
                "final": False,
                "user_id": "u",
            },
        ),
        (
            "user-input",
            {
                "text": "two pizzas",
                "input_type": "transcription",
                "timestamp": "t2",
                "final": True,
                "user_id": "u",
            },
        ),
        ("user-stopped-speaking", None),
    ]


async def test_a_1x_client_also_gets_user_transcription() -> None:
    async with Session() as s:
        await handshake(s, "1.2.0")
        await s.push(TranscriptionFrame(text="hi", user_id="u", timestamp="t"))
        await s.wait_for("user-transcription")
    assert bare(s.client.messages)[-1] == (
        "user-transcription",
        {"text": "hi", "user_id": "u", "timestamp": "t", "final": True},
    )
    assert [t for t, _ in bare(s.client.messages)] == ["user-input", "user-transcription"]


def frames_again() -> tuple[Any, ...]:
    return (LLMFullResponseStartFrame(), LLMTextFrame(text="Hi"), LLMFullResponseEndFrame())


async def test_llm_tokens_raw_text_only_for_2_2_clients() -> None:
    frames = frames_again()
    async with Session() as s:
        await handshake(s, "2.2.0")
        await s.push(*frames)
        await s.wait_for("bot-llm-stopped")
    assert bare(s.client.messages) == [
        ("bot-llm-started", None),
        ("llm-raw-text", {"text": "Hi"}),
        ("bot-llm-text", {"text": "Hi"}),
        ("bot-llm-stopped", None),
    ]
    async with Session() as s:
        await handshake(s, "2.1.0")
        await s.push(
            LLMFullResponseStartFrame(), LLMTextFrame(text="Hi"), LLMFullResponseEndFrame()
        )
        await s.wait_for("bot-llm-stopped")
    assert [t for t, _ in bare(s.client.messages)] == [
        "bot-llm-started",
        "bot-llm-text",
        "bot-llm-stopped",
    ]


async def test_spoken_text_waits_for_the_bot_to_speak_it() -> None:
    # 200 ms of audio, then the text that speaks it: the output transport releases the text only
    # once the audio was sent, and bot-output follows bot-started-speaking.
    async with Session() as s:
        await handshake(s)
        await s.push(
            TTSStartedFrame(),
            TTSAudioRawFrame(audio=bytes(9600), sample_rate=24000),
            TTSTextFrame(text="Hello there."),
            TTSStoppedFrame(),
        )
        await s.wait_for("bot-stopped-speaking")
        await s.settle()
    types = [t for t, _ in bare(s.client.messages)]
    assert types == [
        "bot-tts-started",
        "bot-started-speaking",
        "bot-output",
        "tts-raw-text",
        "bot-tts-text",
        "bot-tts-stopped",
        "bot-stopped-speaking",
    ] or types == [
        "bot-tts-started",
        "bot-tts-stopped",
        "bot-started-speaking",
        "bot-output",
        "tts-raw-text",
        "bot-tts-text",
        "bot-stopped-speaking",
    ]
    output = next(d for t, d in bare(s.client.messages) if t == "bot-output")
    assert output["text"] == "Hello there."
    assert output["spoken"] is True
    assert output["spoken_status"] == "completed"


async def test_a_1x_client_gets_the_v1_bot_output_form() -> None:
    async with Session() as s:
        await handshake(s, "1.0.0")
        await s.push(
            TTSAudioRawFrame(audio=bytes(4800), sample_rate=24000), TTSTextFrame(text="Hi.")
        )
        await s.wait_for("bot-output")
    output = next(d for t, d in bare(s.client.messages) if t == "bot-output")
    assert output == {
        "text": "Hi.",
        "output_type": "sentence",
        "spoken": True,
        "aggregated_by": "sentence",
    }
    assert "tts-raw-text" not in s.types()


async def test_interruption_drops_text_not_yet_spoken_and_says_bot_interrupted() -> None:
    async with Session() as s:
        await handshake(s)
        await s.push(
            TTSAudioRawFrame(audio=bytes(48000 * 2), sample_rate=24000),  # 2 s
            TTSTextFrame(text="You will not hear this."),
        )
        await s.wait_for("bot-started-speaking")
        await s.task.queue_frame(InterruptionFrame())
        await s.wait_for("bot-interrupted")
        await s.wait_for("bot-stopped-speaking")
        await s.settle()
    assert "bot-output" not in s.types()
    assert s.types().count("bot-interrupted") == 1


async def test_bot_speaking_is_reported_once_though_pushed_both_ways() -> None:
    async with Session() as s:
        await handshake(s)
        await s.push(TTSAudioRawFrame(audio=bytes(4800), sample_rate=24000))
        await s.wait_for("bot-stopped-speaking")
        await s.settle()
    assert s.types().count("bot-started-speaking") == 1
    assert s.types().count("bot-stopped-speaking") == 1


async def test_metrics_in_pipecat_shape() -> None:
    async with Session() as s:
        await s.push(
            MetricsFrame(
                data=[
                    TTFBMetricsData(processor="llm", model="gpt", value=0.25),
                    LLMUsageMetricsData(
                        processor="llm", prompt_tokens=10, completion_tokens=5, total_tokens=15
                    ),
                    TTSUsageMetricsData(processor="tts", characters=42),
                ]
            )
        )
        await s.wait_for("metrics")
    assert bare(s.client.messages) == [
        (
            "metrics",
            {
                "ttfb": [{"processor": "llm", "model": "gpt", "value": 0.25}],
                "tokens": [
                    {
                        "processor": "llm",
                        "prompt_tokens": 10,
                        "completion_tokens": 5,
                        "total_tokens": 15,
                    }
                ],
                "characters": [{"processor": "tts", "value": 42}],
            },
        )
    ]


class Failing(FrameProcessor):
    async def process_frame(self, frame: object, direction: FrameDirection) -> None:  # type: ignore[override]
        await super().process_frame(frame, direction)  # type: ignore[arg-type]
        if isinstance(frame, LLMTextFrame):
            await self.push_error("tts went away", fatal=False)
            return
        await self.push_frame(frame, direction)  # type: ignore[arg-type]


async def test_errors_are_sent_once_as_error_messages() -> None:
    async with Session(middle=[Failing()]) as s:
        await s.push(LLMTextFrame(text="x"))
        await s.wait_for("error")
        await s.settle()
    assert bare(s.client.messages)[-1] == ("error", {"error": "tts went away", "fatal": False})
    assert s.types().count("error") == 1


def calls() -> list[Any]:
    call = FunctionCallFromLLM(function_name="get_weather", tool_call_id="c1", arguments="{}")
    return [
        FunctionCallsStartedFrame(function_calls=(call,)),
        FunctionCallInProgressFrame(
            function_name="get_weather", tool_call_id="c1", arguments='{"city": "Pune"}'
        ),
        FunctionCallDataFrame(function_name="get_weather", tool_call_id="c1", data={"map": 1}),
        FunctionCallResultFrame(
            function_name="get_weather", tool_call_id="c1", arguments="{}", result={"t": 31}
        ),
    ]


async def test_function_calls_by_default_tell_only_the_tool_call_id() -> None:
    async with Session() as s:
        await s.push(*calls())
        await s.wait_for("llm-function-call-stopped")
    assert bare(s.client.messages) == [
        ("llm-function-call-started", {"tool_call_id": "c1"}),
        ("llm-function-call-in-progress", {"tool_call_id": "c1"}),
        ("llm-function-call-stopped", {"tool_call_id": "c1", "cancelled": False}),
    ]


async def test_function_call_report_levels() -> None:
    params = RTVIObserverParams(
        function_call_report_level={"get_weather": FunctionCallReportLevel.FULL}
    )
    async with Session(params=params) as s:
        await s.push(*calls())
        await s.wait_for("llm-function-call-stopped")
    assert bare(s.client.messages) == [
        ("llm-function-call-started", {"tool_call_id": "c1", "function_name": "get_weather"}),
        (
            "llm-function-call-in-progress",
            {"tool_call_id": "c1", "function_name": "get_weather", "arguments": {"city": "Pune"}},
        ),
        (
            "llm-function-call-stopped",
            {
                "tool_call_id": "c1",
                "function_name": "get_weather",
                "cancelled": False,
                "result": {"t": 31},
                "data": {"map": 1},
            },
        ),
    ]
    params = RAVIObserverParams(function_call_report_level={"*": "arguments"})
    async with Session(params=params) as s:
        await s.push(*calls())
        await s.wait_for("llm-function-call-stopped")
    stopped = s.client.messages[-1]["data"]
    assert stopped == {"tool_call_id": "c1", "function_name": "get_weather", "cancelled": False}
    params = RAVIObserverParams(function_call_report_level={"get_weather": "disabled"})
    async with Session(params=params) as s:
        await s.push(*calls(), TTSStartedFrame())
        await s.wait_for("bot-tts-started")
    assert s.types() == ["bot-tts-started"]


async def test_a_cancelled_call_reports_cancelled_without_result() -> None:
    params = RAVIObserverParams(function_call_report_level={"*": "full"})
    async with Session(params=params) as s:
        await s.push(FunctionCallCancelFrame(function_name="f", tool_call_id="c9"))
        await s.wait_for("llm-function-call-stopped")
    assert s.client.messages[-1]["data"] == {
        "tool_call_id": "c9",
        "function_name": "f",
        "cancelled": True,
    }


async def test_server_message_frames_reach_the_client() -> None:
    async with Session() as s:
        await s.push(RTVIServerMessageFrame(data={"kind": "order", "n": 2}))
        await s.wait_for("server-message")
    assert bare(s.client.messages) == [("server-message", {"kind": "order", "n": 2})]


async def test_disabled_messages_are_not_sent() -> None:
    params = RAVIObserverParams(user_speaking_enabled=False, user_input_enabled=False)
    async with Session(params=params) as s:
        await s.push(UserStartedSpeakingFrame(), TranscriptionFrame(text="x"))
        await s.push(UserStoppedSpeakingFrame(), TTSStartedFrame())
        await s.wait_for("bot-tts-started")
        await s.settle()
    assert s.types() == ["bot-tts-started"]


async def test_outbound_messages_do_not_wait_behind_queued_audio() -> None:
    async with Session() as s:
        await s.push(TTSAudioRawFrame(audio=bytes(24000 * 2 * 3), sample_rate=24000))  # 3 s
        await s.wait_for("bot-started-speaking")
        await s.push(UserStartedSpeakingFrame())
        await s.wait_for("user-started-speaking", timeout=1.0)
        assert "bot-stopped-speaking" not in s.types()
        await s.task.queue_frame(InterruptionFrame())
        await s.wait_for("bot-stopped-speaking")


async def test_audio_levels_when_enabled_at_most_once_per_period() -> None:
    import asyncio

    from vani.frames import InputAudioRawFrame

    loud = b"\x00\x40" * 320  # 16384: half scale
    params = RAVIObserverParams(user_audio_level_enabled=True, audio_level_period_secs=10.0)
    async with Session(params=params) as s:
        await s.push(InputAudioRawFrame(audio=loud), InputAudioRawFrame(audio=loud))
        await s.wait_for("user-audio-level")
        await asyncio.sleep(0.05)
    assert bare(s.client.messages) == [("user-audio-level", {"value": 0.5})]
    async with Session() as s:  # off by default
        await s.push(InputAudioRawFrame(audio=loud), TTSStartedFrame())
        await s.wait_for("bot-tts-started")
    assert s.types() == ["bot-tts-started"]


async def test_user_llm_text_and_stt_raw_text() -> None:
    from vani.frames import LLMContextFrame
    from vani.processors.aggregators.llm_context import LLMContext

    context = LLMContext()
    context.add_message({"role": "user", "content": "a pizza"})
    params = RAVIObserverParams(stt_raw_text_enabled=True, user_input_enabled=False)
    async with Session(params=params) as s:
        await handshake(s)
        await s.push(LLMContextFrame(context=context), TranscriptionFrame(text="x", timestamp="t"))
        await s.wait_for("stt-raw-text")
    assert bare(s.client.messages) == [
        ("user-llm-text", {"text": "a pizza"}),
        ("stt-raw-text", {"text": "x", "user_id": "", "timestamp": "t", "final": True}),
    ]


async def test_create_rtvi_observer_is_pipecats_spelling() -> None:
    from vani.ravi import RTVIObserver, RTVIProcessor

    ravi = RTVIProcessor()
    observer = ravi.create_rtvi_observer(params=RTVIObserverParams(bot_llm_enabled=False))
    assert isinstance(observer, RTVIObserver.__mro__[1])


async def test_vad_events_when_enabled_and_ignored_sources() -> None:
    from vani.frames import VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame

    params = RAVIObserverParams(vad_user_speaking_enabled=True)
    async with Session(params=params) as s:
        await s.push(VADUserStartedSpeakingFrame(), VADUserStoppedSpeakingFrame())
        await s.wait_for("vad-user-stopped-speaking")
    assert s.types() == ["vad-user-started-speaking", "vad-user-stopped-speaking"]

    quiet = Failing()
    params = RAVIObserverParams(ignored_sources=[quiet])
    async with Session(middle=[quiet], params=params) as s:
        await s.push(LLMTextFrame(text="x"), TTSStartedFrame())
        await s.wait_for("bot-tts-started")
        await s.settle()
    # the error pushed by the ignored processor is not reported; the TTS event still is
    assert "error" not in s.types()
