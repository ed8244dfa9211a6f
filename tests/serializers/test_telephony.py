"""Telephony serializers: each provider's messages in and out, chunking, order, bad input."""

from __future__ import annotations

import base64
import contextlib
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani.errors import ConfigurationError, SerializationError
from vani.frames import (
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    StartFrame,
)
from vani.serializers import (
    ExotelFrameSerializer,
    PlivoFrameSerializer,
    ProviderDetector,
    TelnyxFrameSerializer,
    TwilioFrameSerializer,
    detect_provider,
    serializer_for,
)
from vani.serializers.telephony import (
    AudioClearedFrame,
    CallEndedFrame,
    CallStartedFrame,
    PlaybackMarkFrame,
    ProviderErrorFrame,
    TelephonyFrameSerializer,
)
from vani.testing.telephony_wire import SimCall, wire_for

PROVIDERS = ["twilio", "telnyx", "plivo", "exotel"]


def tone(ms: int, rate: int = 8000, freq: float = 440.0) -> bytes:
    n = rate * ms // 1000
    t = np.arange(n) / rate
    return (np.sin(2 * math.pi * freq * t) * 8000).astype("<i2").tobytes()


def started(provider: str) -> tuple[TelephonyFrameSerializer, SimCall]:
    ser = serializer_for(provider)
    wire = wire_for(provider)
    call = SimCall(custom_parameters={"lang": "hi", "customer": "42"})
    frames = ser.deserialize(wire.start(call, 1))
    assert len(frames) == 1 and isinstance(frames[0], CallStartedFrame)
    return ser, call


@pytest.mark.parametrize("provider", PROVIDERS)
def test_start_message_gives_the_call_facts(provider: str) -> None:
    ser, call = started(provider)
    info = ser.call
    assert info.provider == provider
    assert info.call_id == call.call_id
    assert info.stream_id == call.stream_id
    assert info.from_number == call.from_number
    assert info.to_number == call.to_number
    assert info.custom_parameters == {"lang": "hi", "customer": "42"}
    assert info.sample_rate == 8000
    assert info.encoding == ("l16" if provider == "exotel" else "mulaw")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_media_decodes_to_pipeline_rate(provider: str) -> None:
    ser, call = started(provider)
    await ser.setup(StartFrame(audio_in_sample_rate=16000))
    wire = wire_for(provider)
    pcm = tone(20)
    frames = ser.deserialize(wire.media(call, pcm, 2, 1, 0))
    assert len(frames) == 1
    frame = frames[0]
    assert isinstance(frame, InputAudioRawFrame)
    assert frame.sample_rate == 16000
    assert 600 <= len(frame.audio) <= 640  # 20 ms at 16 kHz, less the resampler delay


@pytest.mark.parametrize("provider", PROVIDERS)
def test_media_without_setup_stays_at_wire_rate_and_round_trips_g711(provider: str) -> None:
    ser, call = started(provider)
    wire = wire_for(provider)
    pcm = wire.decode(wire.encode(tone(20)))  # what survives the codec
    (frame,) = ser.deserialize(wire.media(call, pcm, 2, 1, 0))
    assert isinstance(frame, InputAudioRawFrame)
    assert frame.sample_rate == 8000
    assert frame.audio == pcm


@pytest.mark.parametrize("provider", PROVIDERS)
def test_dtmf_and_stop(provider: str) -> None:
    ser, call = started(provider)
    wire = wire_for(provider)
    (frame,) = ser.deserialize(wire.dtmf(call, "7", 3))
    assert isinstance(frame, InputDTMFFrame) and frame.button == "7"
    (end,) = ser.deserialize(wire.stop(call, 4))
    assert isinstance(end, CallEndedFrame)
    assert ser.deserialize(wire.stop(call, 5)) == []  # a duplicate stop changes nothing


@pytest.mark.parametrize("provider", PROVIDERS)
def test_bad_dtmf_digit_is_a_serialization_error(provider: str) -> None:
    ser, call = started(provider)
    with pytest.raises(SerializationError, match="dtmf digit"):
        ser.deserialize(wire_for(provider).dtmf(call, "x", 3))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_output_audio_goes_out_in_the_providers_chunks(provider: str) -> None:
    ser, _ = started(provider)
    wire = wire_for(provider)
    sent: list[bytes] = []
    for _ in range(30):  # 30 x 20 ms at 16 kHz
        msg = ser.serialize(OutputAudioRawFrame(audio=tone(20, 16000), sample_rate=16000))
        if msg is not None:
            out = wire.parse(msg)
            assert out.kind == "media", msg[:80]
            sent.append(out.audio)
    tail = ser.flush_audio()
    if tail is not None:
        out = wire.parse(tail)
        assert out.kind == "media"
        sent.append(out.audio)
    payload_bytes = [len(wire.encode(a)) for a in sent]
    if provider == "exotel":
        assert all(n >= 3200 and n % 320 == 0 for n in payload_bytes), payload_bytes
    else:
        assert all(n >= 160 and n % 160 == 0 for n in payload_bytes), payload_bytes
    total = sum(len(a) for a in sent) / 2 / 8000
    assert 0.6 <= total <= 0.6 + ser.min_chunk_secs


def test_twilio_writes_its_exact_messages() -> None:
    ser, call = started("twilio")
    msg = ser.serialize(OutputAudioRawFrame(audio=bytes(320), sample_rate=8000))
    assert msg is not None
    m = json.loads(msg)
    assert m == {
        "event": "media",
        "streamSid": call.stream_id,
        "media": {"payload": base64.b64encode(b"\xff" * 160).decode()},
    }
    assert json.loads(ser.mark("m1") or "") == {
        "event": "mark",
        "streamSid": call.stream_id,
        "mark": {"name": "m1"},
    }
    assert json.loads(ser.serialize(InterruptionFrame()) or "") == {
        "event": "clear",
        "streamSid": call.stream_id,
    }


def test_plivo_and_telnyx_and_exotel_message_shapes() -> None:
    plivo, call = started("plivo")
    msg = json.loads(plivo.serialize(OutputAudioRawFrame(audio=bytes(320), sample_rate=8000)) or "")
    assert msg["event"] == "playAudio" and msg["streamId"] == call.stream_id
    assert msg["media"]["contentType"] == "audio/x-mulaw" and msg["media"]["sampleRate"] == 8000
    assert json.loads(plivo.mark("c1") or "") == {
        "event": "checkpoint",
        "streamId": call.stream_id,
        "name": "c1",
    }
    assert json.loads(plivo.clear() or "")["event"] == "clearAudio"
    telnyx, _ = started("telnyx")
    assert json.loads(telnyx.clear() or "") == {"event": "clear"}
    assert json.loads(telnyx.mark("x") or "") == {"event": "mark", "mark": {"name": "x"}}
    exotel, call = started("exotel")
    assert exotel.mark("x") is None  # no marks on Exotel
    assert json.loads(exotel.clear() or "") == {"event": "clear", "stream_sid": call.stream_id}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rtvi_messages_never_reach_the_phone(provider: str) -> None:
    ser, _ = started(provider)
    msg = {"label": "rtvi-ai", "type": "bot-ready", "data": {}}
    assert ser.serialize(OutputTransportMessageUrgentFrame(message=msg)) is None
    assert ser.serialize(OutputTransportMessageFrame(message=msg)) is None


@pytest.mark.parametrize("provider", ["twilio", "plivo", "exotel"])
def test_nothing_is_written_before_the_stream_id_is_known(provider: str) -> None:
    ser = serializer_for(provider)
    assert ser.serialize(OutputAudioRawFrame(audio=bytes(6400), sample_rate=8000)) is None
    assert ser.clear() is None
    assert ser.mark("m") is None


def test_marks_and_provider_events() -> None:
    for provider in ("twilio", "telnyx", "plivo"):
        ser, call = started(provider)
        text = wire_for(provider).mark(call, "m7", 9)
        assert text is not None
        (frame,) = ser.deserialize(text)
        assert isinstance(frame, PlaybackMarkFrame) and frame.name == "m7"
    plivo, call = started("plivo")
    (cleared,) = plivo.deserialize(wire_for("plivo").cleared(call, 3) or "")
    assert isinstance(cleared, AudioClearedFrame)
    telnyx, _ = started("telnyx")
    err = json.dumps({"event": "error", "payload": {"code": 100002, "title": "Unknown Error"}})
    (frame,) = telnyx.deserialize(err)
    assert isinstance(frame, ProviderErrorFrame) and frame.code == "100002"


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[1, 2]",
        '{"no_event": 1}',
        '{"event": 5}',
        '{"event": "media", "media": {"payload": "@@@"}}',
        '{"event": "media", "media": {"payload": 5}}',
        '{"event": "media", "media": []}',
        b"\xff\xfe",
        "x" * (1 << 20 | 1),
    ],
)
def test_malformed_messages_raise_serialization_error(data: str | bytes) -> None:
    ser, _ = started("twilio")
    with pytest.raises(SerializationError):
        ser.deserialize(data)


def test_unknown_events_and_outbound_track_are_ignored() -> None:
    ser, call = started("twilio")
    assert ser.deserialize('{"event": "somethingNew"}') == []
    echo = {"event": "media", "media": {"track": "outbound", "payload": "/w=="}}
    assert ser.deserialize(json.dumps(echo)) == []


def test_l16_odd_payload_is_refused() -> None:
    ser, call = started("exotel")
    msg = {"event": "media", "stream_sid": call.stream_id, "media": {"payload": "AAAA"}}
    with pytest.raises(SerializationError, match="even number"):
        ser.deserialize(json.dumps(msg))


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="sample_rate"):
        TwilioFrameSerializer(sample_rate=11025)
    with pytest.raises(ConfigurationError, match="encoding"):
        TwilioFrameSerializer(encoding="opus")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown telephony provider"):
        serializer_for("vonage")


def test_clear_drops_held_audio() -> None:
    ser, _ = started("exotel")
    assert ser.serialize(OutputAudioRawFrame(audio=bytes(1600), sample_rate=8000)) is None
    assert ser.pending_audio_secs > 0
    assert ser.clear() is not None
    assert ser.flush_audio() is None


# -- Telnyx reordering ------------------------------------------------------------------------


def _telnyx_media(call: SimCall, chunk: int) -> str:
    # Each chunk carries its own number as a constant sample value, to check the order.
    pcm = np.full(160, chunk * 100, dtype="<i2").tobytes()
    return wire_for("telnyx").media(call, pcm, chunk + 10, chunk, chunk * 20)


def _telnyx_order(ser: TelephonyFrameSerializer, frames: list[object]) -> list[int]:
    out = []
    for f in frames:
        assert isinstance(f, InputAudioRawFrame)
        v = int(np.frombuffer(f.audio, dtype="<i2")[0])
        out.append(round(v / 100))
    return out


def test_telnyx_reorders_media_by_chunk() -> None:
    ser, call = started("telnyx")
    got: list[object] = []
    for chunk in [1, 3, 2, 4, 6, 5, 5, 2]:
        got += ser.deserialize(_telnyx_media(call, chunk))
    order = _telnyx_order(ser, got)
    # μ-law is lossy: constant levels decode to nearby values; the order is what matters.
    assert order == [1, 2, 3, 4, 5, 6]


def test_telnyx_gives_up_on_a_lost_chunk() -> None:
    ser, call = started("telnyx")
    got: list[object] = []
    for chunk in [1, 3, 4, 5, 6, 7, 8, 9]:  # 2 never comes
        got += ser.deserialize(_telnyx_media(call, chunk))
    assert _telnyx_order(ser, got) == [1, 3, 4, 5, 6, 7, 8, 9][: len(got)]
    assert len(got) >= 2  # the gap was abandoned, audio flows


@settings(max_examples=60, deadline=None)
@given(st.permutations(list(range(1, 13))))
def test_telnyx_never_duplicates_and_keeps_order(perm: list[int]) -> None:
    ser, call = started("telnyx")
    got: list[object] = []
    for chunk in perm:
        got += ser.deserialize(_telnyx_media(call, chunk))
    order = _telnyx_order(ser, got)
    assert order == sorted(order) and len(set(order)) == len(order)


# -- message orders ---------------------------------------------------------------------------

EVENTS = ["connected", "start", "media", "dtmf", "mark", "stop", "garbage"]


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(max_examples=40, deadline=None)
@given(order=st.lists(st.sampled_from(EVENTS), max_size=25))
def test_any_message_order_is_survived(provider: str, order: list[str]) -> None:
    """Start late, media before start, duplicate stops, marks after clear: never a crash, one
    CallStarted and at most one CallEnded, and audio always decodes."""
    ser = serializer_for(provider)
    wire = wire_for(provider)
    call = SimCall()
    starts = ends = 0
    for i, event in enumerate(order):
        if event == "connected":
            text = wire.connected()
        elif event == "start":
            text = wire.start(call, i)
        elif event == "media":
            text = wire.media(call, tone(20), i, i + 1, i * 20)
        elif event == "dtmf":
            text = wire.dtmf(call, "5", i)
        elif event == "mark":
            text = wire.mark(call, f"m{i}", i)
            ser.serialize(InterruptionFrame())  # clears in between
        elif event == "stop":
            text = wire.stop(call, i)
        else:
            text = '{"event": "media"}'
        if text is None:
            continue
        try:
            frames = ser.deserialize(text)
        except SerializationError:
            assert event == "garbage"
            continue
        starts += sum(isinstance(f, CallStartedFrame) for f in frames)
        ends += sum(isinstance(f, CallEndedFrame) for f in frames)
        if event == "media":
            assert all(isinstance(f, InputAudioRawFrame) for f in frames)
    assert starts == (1 if "start" in order else 0)
    assert ends == (1 if "stop" in order else 0)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_fuzzed_input_only_raises_serialization_error(data: str | bytes) -> None:
    for provider in PROVIDERS:
        with contextlib.suppress(SerializationError):
            serializer_for(provider).deserialize(data)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["event", "start", "media", "dtmf", "mark", "stop", "streamSid"]),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
            max_leaves=8,
        ),
    )
)
def test_fuzzed_json_objects_only_raise_serialization_error(msg: dict[str, object]) -> None:
    for provider in PROVIDERS:
        with contextlib.suppress(SerializationError):
            serializer_for(provider).deserialize(json.dumps(msg))


# -- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_provider_is_detected_from_the_first_messages(provider: str) -> None:
    wire = wire_for(provider)
    call = SimCall()
    det = ProviderDetector()
    frames = []
    connected = wire.connected()
    if connected is not None:
        frames += det.feed(connected)
        assert det.provider is None or det.provider == provider
    frames += det.feed(wire.start(call, 1))
    assert det.provider == provider
    assert any(isinstance(f, CallStartedFrame) for f in frames)
    assert detect_provider(json.loads(wire.start(call, 1))) == provider
    frames = det.feed(wire.media(call, tone(20), 2, 1, 0))
    assert isinstance(frames[0], InputAudioRawFrame)


def test_detector_gives_up_on_an_unknown_stream() -> None:
    det = ProviderDetector(max_messages=3)
    det.feed('{"event": "hello"}')
    det.feed('{"event": "hello"}')
    with pytest.raises(SerializationError, match="no telephony provider"):
        det.feed('{"event": "hello"}')


def test_exotel_sixteen_khz_start_changes_the_rate() -> None:
    ser = ExotelFrameSerializer()
    start = json.loads(wire_for("exotel").start(SimCall(), 1))
    start["start"]["media_format"]["sample_rate"] = "16000"
    ser.deserialize(json.dumps(start))
    assert ser.sample_rate == 16000
    assert ser.min_bytes == 3200  # 100 ms at 16 kHz is exactly 3.2 KB


def test_plivo_l16_sixteen_khz() -> None:
    ser = PlivoFrameSerializer()
    start = json.loads(wire_for("plivo").start(SimCall(), 1))
    start["start"]["mediaFormat"] = {"encoding": "audio/x-l16", "sampleRate": 16000}
    ser.deserialize(json.dumps(start))
    assert (ser.encoding, ser.sample_rate) == ("l16", 16000)
    msg = json.loads(ser.serialize(OutputAudioRawFrame(audio=bytes(640), sample_rate=16000)) or "")
    assert msg["media"] == {
        "contentType": "audio/x-l16",
        "sampleRate": 16000,
        "payload": base64.b64encode(bytes(640)).decode(),
    }


def test_telnyx_defaults_need_no_stream_id() -> None:
    ser = TelnyxFrameSerializer()
    assert ser.serialize(OutputAudioRawFrame(audio=bytes(320), sample_rate=8000)) is not None
