"""ProtobufFrameSerializer: Pipecat's frames.proto, byte for byte, and bad input refused."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani.errors import SerializationError
from vani.frames import (
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    InterruptionFrame,
    LLMTextFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    TextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
)
from vani.serializers import ProtobufFrameSerializer
from vani.serializers._common import SUPPORTED_SAMPLE_RATES

S = ProtobufFrameSerializer()


def one(data: bytes) -> Frame:
    frames = S.deserialize(data)
    assert len(frames) == 1
    return frames[0]


def test_output_audio_comes_back_as_input_audio_with_its_rate_and_channels() -> None:
    pcm = bytes(range(256)) * 4
    wire = S.serialize(OutputAudioRawFrame(audio=pcm, sample_rate=24000, num_channels=2))
    assert isinstance(wire, bytes)
    frame = one(wire)
    assert isinstance(frame, InputAudioRawFrame)
    assert (frame.audio, frame.sample_rate, frame.num_channels) == (pcm, 24000, 2)


def test_tts_audio_is_sent_as_audio() -> None:
    wire = S.serialize(TTSAudioRawFrame(audio=bytes(960), sample_rate=24000, context_id="c"))
    assert isinstance(one(wire or b""), InputAudioRawFrame)


def test_transport_messages_travel_as_json_text_in_a_message_frame() -> None:
    message = {"label": "rtvi-ai", "type": "bot-ready", "id": "1", "data": {"v": "ä"}}
    for cls in (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame):
        frame = one(S.serialize(cls(message=message)) or b"")
        assert isinstance(frame, InputTransportMessageFrame)
        assert frame.message == message


def test_text_transcription_and_interruption_round_trip() -> None:
    text = one(S.serialize(TextFrame(text="hello")) or b"")
    assert isinstance(text, TextFrame)
    assert text.text == "hello"
    tr = one(S.serialize(TranscriptionFrame(text="hi", user_id="u1", timestamp="t")) or b"")
    assert isinstance(tr, TranscriptionFrame)
    assert (tr.text, tr.user_id, tr.timestamp) == ("hi", "u1", "t")
    assert isinstance(one(S.serialize(InterruptionFrame()) or b""), InterruptionFrame)


def test_frames_the_format_does_not_carry_give_none() -> None:
    # Pipecat matches exact types for text: LLM tokens and spoken text are not sent as text.
    assert S.serialize(LLMTextFrame(text="x")) is None
    assert S.serialize(TTSTextFrame(text="x")) is None
    assert S.serialize(InputAudioRawFrame(audio=bytes(4))) is None


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x12\x05", "not a valid pipecat.Frame"),  # truncated
        (b"\xff", "not a valid pipecat.Frame"),
        (b"", "no frame kind"),
        (b"\x32\x00", "unknown frame kind"),  # field 6: not in the oneof
        (b"\x12\x08\x1a\x01\x00\x20\x80\x7d\x28\x01", "multiple of 2 bytes, got 1"),  # odd audio
        (b"\x12\x04\x1a\x02\x00\x00", "must be one of 8000, 16000, .* Hz, got 0"),  # zero rate
        (b"\x22\x04\x0a\x02[]", "must be a JSON object, got list"),
        (b"\x22\x03\x0a\x01{", "not valid JSON"),
    ],
)
def test_bad_messages_raise_serialization_error(data: bytes, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        S.deserialize(data)


def test_absurd_rate_and_channels_are_refused() -> None:
    wire = S.serialize(OutputAudioRawFrame(audio=bytes(4), sample_rate=24000)) or b""
    bad_rate = wire.replace(b"\x20\xc0\xbb\x01", b"\x20\x80\xb5\x18")  # 400000 Hz
    with pytest.raises(SerializationError, match="got 400000"):
        S.deserialize(bad_rate)
    bad_channels = wire.replace(b"\x28\x01", b"\x28\x07")
    with pytest.raises(SerializationError, match="channel count must be between 1 and 2, got 7"):
        S.deserialize(bad_channels)


def test_a_10_mb_message_is_refused_before_parsing() -> None:
    wire = S.serialize(OutputAudioRawFrame(audio=bytes(10 * 1024 * 1024))) or b""
    with pytest.raises(SerializationError, match="over the 1048576-byte limit"):
        S.deserialize(wire)


def test_text_messages_are_refused() -> None:
    with pytest.raises(SerializationError, match="expects binary messages"):
        S.deserialize('{"label": "rtvi-ai"}')


def test_empty_audio_gives_no_frame() -> None:
    assert S.deserialize(b"\x12\x05\x20\x80\x7d\x28\x01") == []


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    kind = draw(st.sampled_from(["audio", "message", "text", "transcription", "interruption"]))
    if kind == "audio":
        channels = draw(st.sampled_from([1, 2]))
        n = draw(st.integers(1, 200))
        pcm = draw(st.binary(min_size=2 * channels * n, max_size=2 * channels * n))
        rate = draw(st.sampled_from(SUPPORTED_SAMPLE_RATES))
        return OutputAudioRawFrame(audio=pcm, sample_rate=rate, num_channels=channels)
    if kind == "message":
        return OutputTransportMessageUrgentFrame(
            message=draw(st.dictionaries(st.text(), _json, max_size=5))
        )
    if kind == "text":
        return TextFrame(text=draw(st.text()))
    if kind == "transcription":
        return TranscriptionFrame(text=draw(st.text()), user_id=draw(st.text()), timestamp="t")
    return InterruptionFrame()


@settings(max_examples=300, deadline=None)
@given(frames())
def test_every_frame_type_round_trips(frame: Frame) -> None:
    wire = S.serialize(frame)
    assert isinstance(wire, bytes)
    back = S.deserialize(wire)
    if isinstance(frame, OutputAudioRawFrame):
        (got,) = back
        assert isinstance(got, InputAudioRawFrame)
        assert (got.audio, got.sample_rate, got.num_channels) == (
            frame.audio,
            frame.sample_rate,
            frame.num_channels,
        )
    elif isinstance(frame, OutputTransportMessageUrgentFrame):
        (got,) = back
        assert isinstance(got, InputTransportMessageFrame)
        assert got.message == frame.message
    elif isinstance(frame, TranscriptionFrame):
        (got,) = back
        assert isinstance(got, TranscriptionFrame)
        assert (got.text, got.user_id) == (frame.text, frame.user_id)
    elif isinstance(frame, TextFrame):
        (got,) = back
        assert type(got) is TextFrame
        assert got.text == frame.text
    else:
        (got,) = back
        assert isinstance(got, InterruptionFrame)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_deserialize_raises_nothing_but_serialization_error(data: bytes) -> None:
    try:
        frames_out = S.deserialize(data)
    except SerializationError:
        return
    assert all(isinstance(f, Frame) for f in frames_out)


@settings(max_examples=200, deadline=None)
@given(frames(), st.data())
def test_mutated_messages_raise_nothing_but_serialization_error(
    frame: Frame, data: st.DataObject
) -> None:
    wire = bytearray(S.serialize(frame) or b"")
    if wire:
        cut = data.draw(st.integers(0, len(wire)))
        flips = data.draw(st.lists(st.integers(0, len(wire) - 1), max_size=3))
        for i in flips:
            wire[i] ^= data.draw(st.integers(1, 255))
        wire = wire[:cut] if data.draw(st.booleans()) else wire
    with contextlib.suppress(SerializationError):
        S.deserialize(bytes(wire))


PIPECAT = os.environ.get("VANI_PIPECAT_PYTHON")


@pytest.mark.skipif(not PIPECAT, reason="VANI_PIPECAT_PYTHON is not set (Pipecat's venv)")
def test_pipecat_reads_what_vani_writes_and_vani_reads_what_pipecat_writes() -> None:
    assert PIPECAT is not None
    ours = [
        S.serialize(OutputAudioRawFrame(audio=b"\x01\x00\x02\x00", sample_rate=24000)),
        S.serialize(OutputTransportMessageUrgentFrame(message={"label": "rtvi-ai", "type": "x"})),
        S.serialize(TranscriptionFrame(text="hi", user_id="u", timestamp="t")),
        S.serialize(TextFrame(text="hello")),
        S.serialize(InterruptionFrame()),
    ]
    script = textwrap.dedent(
        """
        import asyncio, json, sys
        from pipecat.serializers.protobuf import ProtobufFrameSerializer
        from pipecat.frames.frames import (
            OutputAudioRawFrame, OutputTransportMessageUrgentFrame, TextFrame)
        s = ProtobufFrameSerializer()
        async def main():
            out = []
            for h in json.load(sys.stdin):
                f = await s.deserialize(bytes.fromhex(h))
                out.append([type(f).__name__, getattr(f, "sample_rate", None),
                            getattr(f, "message", None), getattr(f, "text", None)])
            mine = [
                await s.serialize(OutputAudioRawFrame(audio=b"\\x05\\x00", sample_rate=16000,
                                                      num_channels=1)),
                await s.serialize(OutputTransportMessageUrgentFrame(message={"a": 1})),
                await s.serialize(TextFrame(text="yo")),
            ]
            print(json.dumps({"read": out, "wrote": [m.hex() for m in mine]}))
        asyncio.run(main())
        """
    )
    proc = subprocess.run(
        [PIPECAT, "-c", script],
        input=json.dumps([w.hex() for w in ours if w]),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["read"] == [
        ["InputAudioRawFrame", 24000, None, None],
        ["InputTransportMessageFrame", None, {"label": "rtvi-ai", "type": "x"}, None],
        ["TranscriptionFrame", None, None, "hi"],
        ["TextFrame", None, None, "hello"],
        ["InterruptionFrame", None, None, None],
    ]
    audio, message, text = (S.deserialize(bytes.fromhex(h)) for h in result["wrote"])
    assert isinstance(audio[0], InputAudioRawFrame)
    assert (audio[0].audio, audio[0].sample_rate) == (b"\x05\x00", 16000)
    assert isinstance(message[0], InputTransportMessageFrame)
    assert message[0].message == {"a": 1}
    assert isinstance(text[0], TextFrame)
    assert text[0].text == "yo"
