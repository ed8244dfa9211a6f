"""Sarvam wire messages parsed sans I/O (vani/services/sarvam/_protocol.py)."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vani.services.sarvam._protocol import (
    AudioChunk,
    Final,
    ServerError,
    Skipped,
    SpeechSignal,
    Transcript,
    is_retryable,
    parse_stt_message,
    parse_tts_message,
    strip_riff,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)
shaped = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["data", "events", "error", "audio", "event", "x"]),
        "data": json_values,
    }
)


@given(raw=st.text() | st.binary() | json_values.map(json.dumps) | shaped.map(json.dumps))
def test_parsers_never_raise_on_anything_a_server_might_send(raw: str | bytes) -> None:
    assert parse_stt_message(raw) is not None
    assert parse_tts_message(raw) is not None


def test_a_transcript_is_stripped_and_keeps_its_language_and_payload() -> None:
    raw = json.dumps(
        {
            "type": "data",
            "data": {"request_id": "r1", "transcript": " मेरा नंबर ", "language_code": "hi-IN"},
        }
    )
    event = parse_stt_message(raw)
    assert isinstance(event, Transcript)
    assert event.text == "मेरा नंबर"
    assert event.language == "hi-IN"
    assert event.data["request_id"] == "r1"


@pytest.mark.parametrize("language", [None, "", 5])
def test_a_missing_or_odd_language_becomes_none(language: object) -> None:
    event = parse_stt_message(
        json.dumps({"type": "data", "data": {"transcript": "", "language_code": language}})
    )
    assert event == Transcript("", None, {"transcript": "", "language_code": language})  # type: ignore[dict-item]


def test_speech_events_carry_their_signal() -> None:
    raw = '{"type":"events","data":{"signal_type":"END_SPEECH","occured_at":1.5}}'
    assert parse_stt_message(raw) == SpeechSignal("END_SPEECH")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            '{"type":"error","data":{"error":"bad audio","code":"invalid"}}',
            ServerError("bad audio", "invalid"),
        ),
        (
            '{"type":"error","data":{"message":"slow down","code":429}}',
            ServerError("slow down", 429),
        ),
        ('{"error":"top level"}', ServerError("top level", None)),
        ('{"type":"error","data":"plain"}', ServerError("plain", None)),
    ],
)
def test_every_error_shape_seen_in_the_wild_is_understood(raw: str, expected: ServerError) -> None:
    assert parse_stt_message(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "nope",
        b"\x00",
        "[1]",
        '{"type":"data"}',
        '{"type":"data","data":{"transcript":1}}',
        '{"type":"zzz","data":{}}',
    ],
)
def test_malformed_stt_messages_are_skipped_with_a_reason(raw: str | bytes) -> None:
    event = parse_stt_message(raw)
    assert isinstance(event, Skipped)
    assert event.reason


def test_tts_audio_is_decoded_and_final_recognised() -> None:
    audio = base64.b64encode(b"\x01\x02\x03").decode()
    raw = json.dumps({"type": "audio", "data": {"audio": audio, "request_id": "q"}})
    assert parse_tts_message(raw) == AudioChunk(b"\x01\x02\x03", "q")
    assert parse_tts_message('{"type":"event","data":{"event_type":"final"}}') == Final()


def test_invalid_base64_audio_is_skipped() -> None:
    event = parse_tts_message('{"type":"audio","data":{"audio":"@@@"}}')
    assert isinstance(event, Skipped)
    assert "base64" in event.reason


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (ServerError("rate_limit exceeded", None), True),
        (ServerError("Request timeout", None), True),
        (ServerError("service temporary_unavailable", 503), True),
        (ServerError("whatever", 429), True),
        (ServerError("invalid speaker", 400), False),
        (ServerError("insufficient quota", None), False),
    ],
)
def test_retryable_errors_are_told_from_fatal_ones(error: ServerError, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_a_riff_header_is_stripped_at_its_data_chunk_and_plain_pcm_is_untouched() -> None:
    pcm = b"\x10\x00\x20\x00"
    fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, 24000, 48000, 2, 16)
    extra = b"LIST" + struct.pack("<I", 4) + b"abcd"
    wav = b"RIFF" + struct.pack("<I", 36 + len(extra) + len(pcm)) + b"WAVE" + fmt + extra
    wav += b"data" + struct.pack("<I", len(pcm)) + pcm
    assert strip_riff(wav) == pcm
    assert strip_riff(pcm) == pcm
    assert strip_riff(b"RIFF") == b"RIFF"
