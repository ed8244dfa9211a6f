"""RawPCMSerializer: binary = s16le PCM, text = RTVI JSON, rate and channels negotiated."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani.errors import ConfigurationError, SerializationError
from vani.frames import (
    Frame,
    InputAudioRawFrame,
    InputTransportMessageFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    TextFrame,
)
from vani.serializers import RawPCMSerializer
from vani.serializers._common import SUPPORTED_SAMPLE_RATES


def client_ready(**about: object) -> str:
    return json.dumps(
        {
            "label": "rtvi-ai",
            "type": "client-ready",
            "id": "c1",
            "data": {"version": "2.2.0", "about": {"library": "mine", **about}},
        }
    )


def audio(frames: list[Frame]) -> InputAudioRawFrame:
    (frame,) = frames
    assert isinstance(frame, InputAudioRawFrame)
    return frame


def test_binary_is_pcm_at_the_rate_given_by_the_url_query() -> None:
    s = RawPCMSerializer.from_query({"sample_rate": "8000", "num_channels": "2"})
    frame = audio(s.deserialize(bytes(320)))
    assert (frame.sample_rate, frame.num_channels, len(frame.audio)) == (8000, 2, 320)


def test_query_aliases_and_defaults() -> None:
    s = RawPCMSerializer.from_query({"rate": "24000"})
    assert (s.sample_rate, s.num_channels) == (24000, 1)
    assert RawPCMSerializer.from_query({}).sample_rate == 16000


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ({"sample_rate": "abc"}, "sample_rate must be a positive integer, got 'abc'"),
        ({"sample_rate": "0"}, "must be one of 8000, 16000, .* Hz, got 0"),
        ({"sample_rate": "9999999"}, "positive integer"),
        ({"channels": "3"}, "between 1 and 2, got 3"),
    ],
)
def test_bad_query_values_are_configuration_errors(query: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        RawPCMSerializer.from_query(query)


def test_client_ready_about_renegotiates_for_later_audio() -> None:
    s = RawPCMSerializer()
    assert audio(s.deserialize(bytes(4))).sample_rate == 16000
    (msg,) = s.deserialize(client_ready(audio_in_sample_rate=48000, audio_in_channels=2))
    assert isinstance(msg, InputTransportMessageFrame)  # still goes on to the RAVI processor
    assert isinstance(msg.message, dict)
    assert msg.message["type"] == "client-ready"
    frame = audio(s.deserialize(bytes(8)))
    assert (frame.sample_rate, frame.num_channels) == (48000, 2)


def test_a_bad_negotiation_is_refused_and_keeps_the_old_values() -> None:
    s = RawPCMSerializer(sample_rate=24000)
    with pytest.raises(SerializationError, match="audio_in_sample_rate must be one of"):
        s.deserialize(client_ready(audio_in_sample_rate=0, audio_in_channels=2))
    with pytest.raises(SerializationError, match="must be an integer, got '16000'"):
        s.deserialize(client_ready(audio_in_sample_rate="16000"))
    assert (s.sample_rate, s.num_channels) == (24000, 1)


def test_other_messages_do_not_touch_the_negotiation() -> None:
    s = RawPCMSerializer()
    s.deserialize(
        json.dumps({"type": "send-text", "data": {"about": {"audio_in_sample_rate": 8000}}})
    )
    assert s.sample_rate == 16000


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (bytes(3), "multiple of 2 bytes, got 3"),
        ("[1, 2]", "must be a JSON object, got list"),
        ("nope", "not valid JSON"),
        ("x" * (10 * 1024 * 1024), "over the 1048576-byte limit"),
        (bytes(10 * 1024 * 1024), "over the 1048576-byte limit"),
    ],
)
def test_bad_input_raises_serialization_error(data: bytes | str, match: str) -> None:
    with pytest.raises(SerializationError, match=match):
        RawPCMSerializer().deserialize(data)


def test_stereo_needs_whole_frames() -> None:
    with pytest.raises(SerializationError, match="multiple of 4 bytes, got 6"):
        RawPCMSerializer(num_channels=2).deserialize(bytes(6))


def test_outbound_audio_is_raw_bytes_and_messages_are_json_text() -> None:
    s = RawPCMSerializer(audio_out_sample_rate=24000)
    pcm = b"\x01\x02" * 10
    assert s.serialize(OutputAudioRawFrame(audio=pcm, sample_rate=24000)) == pcm
    msg = {"label": "rtvi-ai", "type": "bot-ready", "data": {"t": "é"}}
    for cls in (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame):
        wire = s.serialize(cls(message=msg))
        assert isinstance(wire, str)
        assert json.loads(wire) == msg
    assert s.serialize(TextFrame(text="x")) is None


def test_outbound_audio_at_another_rate_is_refused() -> None:
    s = RawPCMSerializer(audio_out_sample_rate=24000)
    with pytest.raises(SerializationError, match="output audio must be at 24000 Hz, got 16000"):
        s.serialize(OutputAudioRawFrame(audio=bytes(4), sample_rate=16000))


def test_unencodable_messages_are_refused() -> None:
    with pytest.raises(SerializationError, match="cannot be encoded as JSON"):
        RawPCMSerializer().serialize(OutputTransportMessageUrgentFrame(message={"x": float("nan")}))


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ConfigurationError, match="sample rate must be one of"):
        RawPCMSerializer(sample_rate=4000)
    with pytest.raises(ConfigurationError, match="max_message_bytes must be at least 1024"):
        RawPCMSerializer(max_message_bytes=10)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([1, 2]), st.binary(max_size=400), st.sampled_from(SUPPORTED_SAMPLE_RATES))
def test_audio_round_trips(channels: int, raw: bytes, rate: int) -> None:
    pcm = raw[: len(raw) - len(raw) % (2 * channels)]
    s = RawPCMSerializer(sample_rate=rate, num_channels=channels)
    wire = s.serialize(OutputAudioRawFrame(audio=pcm, sample_rate=rate, num_channels=channels))
    assert isinstance(wire, bytes)
    frames = s.deserialize(wire)
    if pcm:
        frame = audio(frames)
        assert (frame.audio, frame.sample_rate, frame.num_channels) == (pcm, rate, channels)
    else:
        assert frames == []


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(), _json, max_size=5))
def test_messages_round_trip(message: dict[str, object]) -> None:
    s = RawPCMSerializer()
    wire = s.serialize(OutputTransportMessageUrgentFrame(message=message))  # type: ignore[arg-type]
    assert isinstance(wire, str)
    (frame,) = s.deserialize(wire)
    assert isinstance(frame, InputTransportMessageFrame)
    assert frame.message == message


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200), _json.map(json.dumps)))
def test_deserialize_raises_nothing_but_serialization_error(data: bytes | str) -> None:
    with contextlib.suppress(SerializationError):
        RawPCMSerializer().deserialize(data)


@settings(max_examples=200, deadline=None)
@given(_json, _json)
def test_any_client_ready_about_raises_nothing_but_serialization_error(
    rate: object, channels: object
) -> None:
    with contextlib.suppress(SerializationError):
        RawPCMSerializer().deserialize(
            client_ready(audio_in_sample_rate=rate, audio_in_channels=channels)
        )


def test_accepted_rates_are_exactly_what_the_input_transport_can_resample() -> None:
    from vani.audio.resample import SUPPORTED_RATES

    assert tuple(SUPPORTED_SAMPLE_RATES) == tuple(SUPPORTED_RATES)
    with pytest.raises(SerializationError, match="got 11025"):
        RawPCMSerializer().deserialize(client_ready(audio_in_sample_rate=11025))
