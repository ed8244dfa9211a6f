"""RAVI message models and version negotiation: sans-I/O, fed dicts, checked values."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vani.ravi import messages as m
from vani.ravi.versions import PROTOCOL_VERSION, negotiate, parse_version


def env(type_: str, data: object = None, id_: str = "1") -> m.ClientEnvelope:
    return m.parse_envelope({"label": "rtvi-ai", "type": type_, "id": id_, "data": data})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("2.2.0", (2, 2, 0)),
        ("1.0.10", (1, 0, 10)),
        ("2.1", None),
        ("2.01.0", None),
        ("a.b.c", None),
    ],
)
def test_versions_are_exactly_three_integers(version: str, expected: object) -> None:
    assert parse_version(version) == expected


def test_negotiation_rules() -> None:
    current = negotiate("2.0.0")
    assert (current.bot_ready_version, current.legacy, current.error) == (
        PROTOCOL_VERSION,
        False,
        None,
    )
    assert not current.at_least((2, 2, 0))
    legacy = negotiate("1.4.2")
    assert (legacy.bot_ready_version, legacy.legacy, legacy.error) == ("1.4.2", True, None)
    for bad in ("3.0.0", "0.9.0", "x", None):
        result = negotiate(bad)
        assert result.error is not None
        assert result.bot_ready_version == PROTOCOL_VERSION
        assert not result.legacy


def test_envelope_checks() -> None:
    with pytest.raises(m.NotRAVIMessage):
        m.parse_envelope({"label": "other", "type": "x", "id": "1"})
    with pytest.raises(m.NotRAVIMessage):
        m.parse_envelope([1])
    with pytest.raises(m.RAVIMessageError, match="'id' must be a non-empty string, got None"):
        m.parse_envelope({"label": "rtvi-ai", "type": "x"})
    with pytest.raises(m.RAVIMessageError, match="'type' must be a non-empty string, got 3"):
        m.parse_envelope({"label": "rtvi-ai", "type": 3, "id": "1"})
    assert m.parse_envelope({"label": "rtvi-ai", "type": "x", "id": "1"}).data is None


def test_every_client_message_parses_to_its_model() -> None:
    pcm = base64.b64encode(bytes(4)).decode()
    assert m.parse_client_message(env("client-ready", {"version": "2.1.0", "about": {"a": 1}})) == (
        m.ClientReady("1", "2.1.0", {"a": 1})
    )
    assert m.parse_client_message(env("disconnect-bot", {})) == m.DisconnectBot("1")
    assert m.parse_client_message(env("client-message", {"t": "x", "d": 5})) == m.ClientMessage(
        "1", "x", 5
    )
    assert m.parse_client_message(env("send-text", {"content": "hi"})) == m.SendText(
        "1", "hi", True, True
    )
    assert m.parse_client_message(env("dtmf", {"button": "5"})) == m.DTMFInput("1", ("5",))
    assert m.parse_client_message(
        env(
            "llm-function-call-result",
            {"function_name": "f", "tool_call_id": "c", "arguments": {}, "result": "ok"},
        )
    ) == m.FunctionCallResult("1", "f", "c", {}, "ok")
    assert m.parse_client_message(
        env(
            "raw-audio-batch",
            {"base64AudioBatch": [pcm, pcm], "sampleRate": 8000, "numChannels": 1},
        )
    ) == m.RawAudio("1", (bytes(4), bytes(4)), 8000, 1)
    assert m.parse_client_message(env("send-file", {"file": {"format": "x"}})) == m.SendFile(
        "1", "", {"format": "x"}
    )
    assert m.parse_client_message(env("append-to-context", {})) == m.UnsupportedMessage(
        "1", "append-to-context"
    )


@pytest.mark.parametrize(
    ("type_", "data", "match"),
    [
        ("client-message", {"d": 1}, "'t' must be a string"),
        ("send-text", {"content": 3}, "'content' must be a string"),
        ("send-text", {"content": "x", "options": {"audio_response": "no"}}, "true or false"),
        ("dtmf", {"buttons": []}, "non-empty list"),
        ("llm-function-call-result", {"function_name": "f", "tool_call_id": "c"}, "'result'"),
        ("raw-audio", {"base64Audio": "AAAA", "sampleRate": 16000, "numChannels": 1}, "multiple"),
        ("raw-audio", {"base64Audio": "AAAA", "sampleRate": 0, "numChannels": 1}, "must be one of"),
        ("raw-audio", {"base64Audio": "AAAA", "sampleRate": 16000, "numChannels": 3}, "1 or 2"),
    ],
)
def test_bad_data_is_named(type_: str, data: object, match: str) -> None:
    with pytest.raises(m.RAVIMessageError, match=match):
        m.parse_client_message(env(type_, data))


def test_server_messages_carry_id_only_on_answers() -> None:
    assert m.event(m.ServerMessageType.BOT_INTERRUPTED).to_json() == {
        "label": "rtvi-ai",
        "type": "bot-interrupted",
    }
    assert m.error_response("7", "nope").to_json() == {
        "label": "rtvi-ai",
        "type": "error-response",
        "id": "7",
        "data": {"error": "nope"},
    }
    assert m.server_message([1, 2]).to_json()["data"] == {"d": [1, 2]}
    # every message is plain JSON
    json.dumps(m.bot_output("x", segment_id=1, legacy=False).to_json())


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
TYPES = [
    "client-ready",
    "disconnect-bot",
    "client-message",
    "send-text",
    "dtmf",
    "llm-function-call-result",
    "raw-audio",
    "raw-audio-batch",
    "send-file",
    "append-to-context",
]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.sampled_from(TYPES), st.text(max_size=8), _json),
    st.one_of(st.text(max_size=4), _json),
    _json,
    st.sampled_from(["rtvi-ai", "other", None]),
)
def test_parsing_raises_nothing_but_protocol_errors(
    type_: object, id_: object, data: object, label: object
) -> None:
    message = {"label": label, "type": type_, "id": id_, "data": data}
    try:
        envelope = m.parse_envelope(message)  # type: ignore[arg-type]
        m.parse_client_message(envelope)
    except (m.NotRAVIMessage, m.RAVIMessageError):
        pass
