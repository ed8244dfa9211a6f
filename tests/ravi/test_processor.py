"""RAVIProcessor: the handshake, versions and every client message, checked from the client."""

from __future__ import annotations

import base64

import pytest

import vani
from tests.ravi.rig import Session
from vani.frames import (
    EndFrame,
    FunctionCallResultFrame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    JSONValue,
    LLMConfigureOutputFrame,
    LLMMessagesAppendFrame,
)
from vani.pipeline.task import PipelineParams
from vani.ravi import ClientMessage, RAVIProcessor, RTVIProcessor
from vani.transports.base import TransportParams

ABOUT = {"library": "@pipecat-ai/client-js", "library_version": "1.13.0"}


async def test_a_2x_client_gets_bot_ready_with_its_id_and_capabilities() -> None:
    async with Session(pipeline_params=PipelineParams(enable_metrics=True)) as s:
        cid = await s.send("client-ready", {"version": "2.1.0", "about": ABOUT})
        ready = await s.wait_for("bot-ready")
        assert ready == {
            "label": "rtvi-ai",
            "type": "bot-ready",
            "id": cid,
            "data": {
                "version": "2.2.0",
                "about": {"library": "vani", "library_version": vani.__version__},
                "capabilities": {
                    "audio_in": True,
                    "audio_out": True,
                    "video_in": None,
                    "screen_in": None,
                    "video_out": None,
                    "metrics": True,
                },
            },
        }
        assert s.ravi.client_version == [2, 1, 0]
        assert not s.ravi.legacy_client
        assert s.ravi.client_about == ABOUT
    assert s.types() == ["bot-ready"]


async def test_a_1x_client_is_answered_with_its_own_version() -> None:
    async with Session() as s:
        await s.send("client-ready", {"version": "1.3.0", "about": ABOUT})
        ready = await s.wait_for("bot-ready")
        assert ready["data"]["version"] == "1.3.0"
        assert s.ravi.legacy_client
    assert s.types() == ["bot-ready"]


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        ("3.0.0", "RTVI version 3.0.0 is not compatible with server protocol 2.2.0"),
        ("2.1", "invalid client version format '2.1'"),
        ("v2.0.0", "invalid client version format"),
        (None, "client version unknown"),
    ],
)
async def test_a_bad_version_gets_error_response_and_the_session_carries_on(
    version: str | None, problem: str
) -> None:
    async with Session() as s:
        data: dict[str, JSONValue] = {"about": ABOUT}
        if version is not None:
            data["version"] = version
        cid = await s.send("client-ready", data)
        await s.wait_for("bot-ready")
        error, ready = s.client.messages
        assert error["type"] == "error-response"
        assert error["id"] == cid
        assert problem in error["data"]["error"]
        assert ready["data"]["version"] == "2.2.0"
        # still serving
        await s.send("dtmf", {"buttons": ["1"]})
        await s.settle()
        assert [f.button for f in s.seen.of(InputDTMFFrame)] == ["1"]  # type: ignore[attr-defined]
    assert not s.ravi.legacy_client


async def test_capabilities_follow_the_transport_and_overrides() -> None:
    class T:
        params = TransportParams(audio_in_enabled=False)

    ravi = RTVIProcessor(transport=T(), capabilities={"video_out": False}, about={"library": "x"})
    async with Session(ravi) as s:
        await s.send("client-ready", {"version": "2.2.0", "about": ABOUT})
        ready = await s.wait_for("bot-ready")
    assert ready["data"]["about"] == {"library": "x"}
    caps = ready["data"]["capabilities"]
    assert (caps["audio_in"], caps["audio_out"], caps["video_out"], caps["metrics"]) == (
        False,
        True,
        False,
        False,
    )


async def test_without_auto_bot_ready_the_app_sends_it_from_on_client_ready() -> None:
    ravi = RAVIProcessor(auto_bot_ready=False)
    calls: list[str] = []

    @ravi.event_handler("on_client_ready")
    async def on_ready(processor: RAVIProcessor) -> None:
        calls.append("ready")
        await processor.set_bot_ready()
        await processor.set_bot_ready()  # once only

    async with Session(ravi) as s:
        await s.send("client-ready", {"version": "2.2.0", "about": ABOUT})
        await s.wait_for("bot-ready")
        await s.settle()
    assert calls == ["ready"]
    assert s.types() == ["bot-ready"]


async def test_client_message_return_value_becomes_server_response() -> None:
    ravi = RAVIProcessor()

    @ravi.event_handler("on_client_message")
    async def on_message(processor: RAVIProcessor, message: ClientMessage) -> JSONValue:
        if message.type == "boom":
            raise RuntimeError("no such order")
        if message.type == "later":
            return None
        return {"echo": message.data}

    async with Session(ravi) as s:
        ok = await s.send("client-message", {"t": "get", "d": [1, 2]})
        bad = await s.send("client-message", {"t": "boom"})
        await s.send("client-message", {"t": "later"})
        await s.wait_for("error-response")
        await s.settle()
    assert s.client.messages == [
        {
            "label": "rtvi-ai",
            "type": "server-response",
            "id": ok,
            "data": {"t": "get", "d": {"echo": [1, 2]}},
        },
        {
            "label": "rtvi-ai",
            "type": "error-response",
            "id": bad,
            "data": {"error": "no such order"},
        },
    ]


async def test_client_message_without_a_handler_is_answered_with_an_error() -> None:
    async with Session() as s:
        mid = await s.send("client-message", {"t": "x"})
        err = await s.wait_for("error-response")
    assert err["id"] == mid
    assert "no handler for client-message type 'x'" in err["data"]["error"]


async def test_unknown_types_and_append_to_context_are_unsupported() -> None:
    async with Session() as s:
        a = await s.send("append-to-context", {"role": "user", "content": "x"})
        b = await s.send("frobnicate")
        await s.wait_for("error-response", 2)
    assert [(m["id"], m["data"]["error"]) for m in s.client.messages] == [
        (a, "Unsupported type append-to-context"),
        (b, "Unsupported type frobnicate"),
    ]


async def test_envelope_errors_and_foreign_labels() -> None:
    async with Session() as s:
        await s.send_raw({"label": "rtvi-ai", "type": "client-ready"})  # no id
        await s.send_raw({"label": "other", "type": "x", "id": "1"})
        await s.send_raw({"label": "rtvi-ai", "type": "dtmf", "id": "2", "data": [1]})
        await s.wait_for("error", 2)
        await s.settle()
    errors = [m for m in s.client.messages if m["type"] == "error"]
    assert [e["data"]["fatal"] for e in errors] == [False, False]
    assert errors[0]["data"]["error"].startswith("Invalid RTVI transport message: 'id' must be")
    assert "'data' must be an object" in errors[1]["data"]["error"]
    # the foreign message went on downstream for the app
    passed = s.seen.of(InputTransportMessageFrame)
    assert [f.message for f in passed] == [{"label": "other", "type": "x", "id": "1"}]  # type: ignore[attr-defined]


async def test_invalid_data_for_a_known_type_gets_error_response() -> None:
    async with Session() as s:
        mid = await s.send("dtmf", {"buttons": ["1", "x"]})
        err = await s.wait_for("error-response")
    assert err["id"] == mid
    assert err["data"]["error"].startswith("Invalid message: dtmf: each button")


async def test_dtmf_both_forms_give_one_frame_per_key_in_order() -> None:
    async with Session() as s:
        await s.send("dtmf", {"buttons": ["1", "#", "9"]})
        await s.send("dtmf", {"button": "*"})
        await s.settle()
    assert [f.button for f in s.seen.of(InputDTMFFrame)] == ["1", "#", "9", "*"]  # type: ignore[attr-defined]


async def test_disconnect_bot_ends_the_session_gracefully() -> None:
    async with Session() as s:
        await s.send("disconnect-bot")
        await s.wait_finished()
    assert s.seen.of(EndFrame)


async def test_send_text_interrupts_runs_the_llm_and_echoes_user_input() -> None:
    async with Session() as s:
        mid = await s.send("send-text", {"content": "two pizzas", "options": {}})
        echo = await s.wait_for("user-input")
        await s.settle()
    assert echo["data"]["text"] == "two pizzas"
    assert echo["data"]["input_type"] == "chat"
    assert echo["data"]["final"] is True
    assert echo["data"]["msg_id"] == mid
    kinds = [type(f) for f in s.seen.frames if not isinstance(f, EndFrame)]
    assert InterruptionFrame in kinds
    assert kinds.index(InterruptionFrame) < kinds.index(LLMMessagesAppendFrame)
    (append,) = s.seen.of(LLMMessagesAppendFrame)
    assert append.messages == [{"role": "user", "content": "two pizzas"}]  # type: ignore[attr-defined]
    assert append.run_llm is True  # type: ignore[attr-defined]
    assert not s.seen.of(LLMConfigureOutputFrame)
    assert "bot-interrupted" in s.types()


async def test_send_text_without_audio_skips_tts_for_that_turn_only() -> None:
    async with Session() as s:
        await s.send(
            "send-text",
            {"content": "hi", "options": {"run_immediately": False, "audio_response": False}},
        )
        await s.wait_for("user-input")
        await s.settle()
    frames = s.seen.frames
    assert not any(isinstance(f, InterruptionFrame) for f in frames)
    kinds = [
        type(f).__name__
        for f in frames
        if isinstance(f, LLMConfigureOutputFrame | LLMMessagesAppendFrame)
    ]
    assert kinds == ["LLMConfigureOutputFrame", "LLMMessagesAppendFrame", "LLMConfigureOutputFrame"]
    assert [f.skip_tts for f in s.seen.of(LLMConfigureOutputFrame)] == [True, False]  # type: ignore[attr-defined]


async def test_function_call_result_from_the_client() -> None:
    async with Session() as s:
        await s.send(
            "llm-function-call-result",
            {
                "function_name": "get_weather",
                "tool_call_id": "call_1",
                "arguments": {"city": "Pune"},
                "result": {"temp": 31},
            },
        )
        await s.settle()
    (frame,) = s.seen.of(FunctionCallResultFrame)
    assert isinstance(frame, FunctionCallResultFrame)
    assert (frame.function_name, frame.tool_call_id, frame.result) == (
        "get_weather",
        "call_1",
        {"temp": 31},
    )
    assert frame.arguments == '{"city": "Pune"}'


async def test_raw_audio_is_resampled_to_the_pipeline_rate() -> None:
    pcm48 = bytes(960 * 2)  # 20 ms at 48 kHz
    async with Session() as s:
        await s.send(
            "raw-audio",
            {
                "base64Audio": base64.b64encode(pcm48).decode(),
                "sampleRate": 16000,
                "numChannels": 1,
            },
        )
        await s.send(
            "raw-audio-batch",
            {
                "base64AudioBatch": [base64.b64encode(pcm48).decode()] * 3,
                "sampleRate": 48000,
                "numChannels": 2,
            },
        )
        await s.settle()
    frames = s.seen.of(InputAudioRawFrame)
    assert all(f.sample_rate == 16000 and f.num_channels == 1 for f in frames)  # type: ignore[attr-defined]
    assert len(frames[0].audio) == len(pcm48)  # type: ignore[attr-defined]
    assert len(frames) >= 2


async def test_raw_audio_with_bad_base64_is_an_error_response() -> None:
    async with Session() as s:
        mid = await s.send(
            "raw-audio", {"base64Audio": "!!!", "sampleRate": 16000, "numChannels": 1}
        )
        err = await s.wait_for("error-response")
    assert err["id"] == mid
    assert "not valid base64" in err["data"]["error"]


async def test_send_file_is_refused() -> None:
    async with Session() as s:
        await s.send("send-file", {"content": "see", "file": {"format": "image/png"}})
        err = await s.wait_for("error-response")
    assert "send-file is not supported" in err["data"]["error"]


async def test_audio_can_be_held_until_client_ready() -> None:
    ravi = RAVIProcessor(hold_audio_until_client_ready=True)
    async with Session(ravi) as s:
        await s.push(InputAudioRawFrame(audio=bytes(640)))
        await s.send("client-ready", {"version": "2.2.0", "about": ABOUT})
        await s.wait_for("bot-ready")
        await s.push(InputAudioRawFrame(audio=bytes(320)))
        await s.settle()
    assert [len(f.audio) for f in s.seen.of(InputAudioRawFrame)] == [320]  # type: ignore[attr-defined]


async def test_messages_are_handled_in_arrival_order_even_behind_a_slow_handler() -> None:
    import asyncio

    ravi = RAVIProcessor()

    @ravi.event_handler("on_client_message")
    async def on_message(processor: RAVIProcessor, message: ClientMessage) -> JSONValue:
        if message.type == "slow":
            await asyncio.sleep(0.1)
        return message.type

    async with Session(ravi) as s:
        await s.send("client-message", {"t": "slow"})
        await s.send("client-message", {"t": "fast"})
        await s.send("frobnicate")
        await s.wait_for("error-response")
    assert [m["data"].get("t", m["type"]) for m in s.client.messages] == [
        "slow",
        "fast",
        "error-response",
    ]


async def test_a_repeated_client_ready_is_answered_again() -> None:
    async with Session() as s:
        first = await s.send("client-ready", {"version": "2.2.0", "about": ABOUT})
        await s.wait_for("bot-ready")
        second = await s.send("client-ready", {"version": "1.0.0", "about": ABOUT})
        again = await s.wait_for("bot-ready", 2)
    assert [m["id"] for m in s.client.messages] == [first, second]
    assert again["data"]["version"] == "1.0.0"


async def test_a_flood_behind_a_slow_handler_is_refused_not_buffered() -> None:
    import asyncio

    from vani.ravi.processor import MAX_PENDING_MESSAGES

    ravi = RAVIProcessor()
    release = asyncio.Event()

    @ravi.event_handler("on_client_message")
    async def on_message(processor: RAVIProcessor, message: ClientMessage) -> JSONValue:
        await release.wait()
        return None

    async with Session(ravi) as s:
        await s.send("client-message", {"t": "slow"})
        await s.settle()  # the slow one is being handled
        for _ in range(MAX_PENDING_MESSAGES + 5):
            await s.send("dtmf", {"buttons": ["1"]})
        await s.wait_for("error-response", 5)
        release.set()
        await s.settle()
    refused = [m for m in s.client.messages if m["type"] == "error-response"]
    assert len(refused) == 5
    assert "too many pending messages (max 256)" in refused[0]["data"]["error"]
    assert len(s.seen.of(InputDTMFFrame)) == MAX_PENDING_MESSAGES
