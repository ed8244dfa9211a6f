"""Provider REST (hang-up, dial) against the fake API; webhook markup; Twilio signatures."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from vani.errors import AuthenticationError, ConfigurationError, ServiceError
from vani.telephony import (
    TelephonyCredentials,
    compute_twilio_signature,
    dial,
    hang_up,
    plivo_xml,
    telnyx_texml,
    twilio_twiml,
    validate_twilio_signature,
)
from vani.testing import FakeTelephonyAPI

# Twilio's documented example (https://www.twilio.com/docs/usage/security): token, URL, params
# and the signature it gives.
TWILIO_DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}


def test_twilio_signature_matches_the_documented_example() -> None:
    sig = compute_twilio_signature("12345", TWILIO_DOC_URL, TWILIO_DOC_PARAMS)
    assert sig == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert validate_twilio_signature("12345", TWILIO_DOC_URL, TWILIO_DOC_PARAMS, sig)


def test_twilio_signature_refuses_forgeries() -> None:
    sig = compute_twilio_signature("12345", TWILIO_DOC_URL, TWILIO_DOC_PARAMS)
    assert not validate_twilio_signature("wrong", TWILIO_DOC_URL, TWILIO_DOC_PARAMS, sig)
    tampered = {**TWILIO_DOC_PARAMS, "To": "+19999999999"}
    assert not validate_twilio_signature("12345", TWILIO_DOC_URL, tampered, sig)
    assert not validate_twilio_signature("12345", TWILIO_DOC_URL, TWILIO_DOC_PARAMS, None)
    assert not validate_twilio_signature("12345", TWILIO_DOC_URL, TWILIO_DOC_PARAMS, "")
    assert not validate_twilio_signature("", TWILIO_DOC_URL, TWILIO_DOC_PARAMS, sig)


def test_twilio_signature_accepts_the_default_port_either_way() -> None:
    params = {"a": "1"}
    sig = compute_twilio_signature("t", "https://h.example/x", params)
    assert validate_twilio_signature("t", "https://h.example:443/x", params, sig)
    sig2 = compute_twilio_signature("t", "https://h.example:443/x", params)
    assert validate_twilio_signature("t", "https://h.example/x", params, sig2)


def test_repeated_parameters_are_sorted_by_value_too() -> None:
    a = compute_twilio_signature("t", "https://h/x", [("k", "b"), ("k", "a")])
    b = compute_twilio_signature("t", "https://h/x", [("k", "a"), ("k", "b")])
    assert a == b


def test_twiml_texml_and_plivo_xml() -> None:
    url = "wss://bot.example/telephony/twilio/tok"
    root = ET.fromstring(twilio_twiml(url, {"From": "+1", "lang": 'a"b<'}))
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("url") == url
    assert {p.get("name"): p.get("value") for p in stream} == {"From": "+1", "lang": 'a"b<'}
    root = ET.fromstring(telnyx_texml(url, {"x": "1"}))
    stream = root.find("./Connect/Stream")
    assert stream is not None and stream.get("bidirectionalMode") == "rtp"
    root = ET.fromstring(plivo_xml(url + "?a=1&b=2", {"From": "+1"}))
    stream = root.find("./Stream")
    assert stream is not None and stream.text == url + "?a=1&b=2"
    assert stream.get("bidirectional") == "true" and stream.get("extraHeaders") == "From=+1"
    assert stream.get("contentType") == "audio/x-mulaw;rate=8000"


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "plivo"])
async def test_hang_up_then_already_ended_counts_as_success(provider: str) -> None:
    async with FakeTelephonyAPI() as api:
        creds = api.credentials()
        assert await hang_up(provider, "call-1", creds) is True
        assert await hang_up(provider, "call-1", creds) is False  # already over: success
        reqs = api.of("hang_up", provider)
        assert [r.call_id for r in reqs] == ["call-1", "call-1"]
        assert all(r.authorized for r in reqs)
        if provider == "twilio":
            assert reqs[0].body == {"Status": "completed"}
            assert [r.status for r in reqs] == [200, 404]
        elif provider == "telnyx":
            assert [r.status for r in reqs] == [200, 422]
        else:
            assert reqs[0].method == "DELETE" and [r.status for r in reqs] == [204, 404]


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "plivo"])
async def test_bad_credentials_and_server_errors(provider: str) -> None:
    async with FakeTelephonyAPI() as api:
        creds = api.credentials()
        creds.twilio_auth_token = creds.telnyx_api_key = creds.plivo_auth_token = "nope"
        with pytest.raises(AuthenticationError):
            await hang_up(provider, "c", creds)
        api.fail_status = 503
        with pytest.raises(ServiceError) as info:
            await hang_up(provider, "c", api.credentials())
        assert info.value.retryable


async def test_unreachable_api_is_a_retryable_service_error() -> None:
    creds = TelephonyCredentials(
        twilio_account_sid="AC", twilio_auth_token="t", twilio_base_url="http://127.0.0.1:9"
    )
    with pytest.raises(ServiceError) as info:
        await hang_up("twilio", "c", creds)
    assert info.value.retryable


async def test_missing_credentials_and_unknown_provider() -> None:
    with pytest.raises(ConfigurationError, match="twilio_account_sid"):
        await hang_up("twilio", "c", TelephonyCredentials())
    with pytest.raises(ConfigurationError, match="no hang-up api"):
        await hang_up("exotel", "c", TelephonyCredentials())
    with pytest.raises(ConfigurationError, match="call id"):
        await hang_up("twilio", "", TelephonyCredentials())


def test_credentials_from_env() -> None:
    creds = TelephonyCredentials.from_env(
        {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "VANI_TWILIO_API_URL": "http://x"}
    )
    assert creds.has("twilio") and not creds.has("plivo") and not creds.has("exotel")
    assert creds.twilio_base_url == "http://x"
    assert creds.plivo_base_url == "https://api.plivo.com"


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "plivo"])
async def test_dial_out(provider: str) -> None:
    async with FakeTelephonyAPI() as api:
        result = await dial(
            provider,
            to="+15550001111",
            from_="+15550002222",
            answer_url="https://bot.example/telephony/" + provider,
            creds=api.credentials(),
        )
        (req,) = api.of("dial", provider)
        assert result.call_id == req.call_id and result.call_id
        body = req.body
        if provider == "twilio":
            assert body["To"] == "+15550001111" and body["Url"].endswith("/twilio")  # type: ignore[union-attr]
        elif provider == "telnyx":
            assert body["to"] == "+15550001111" and body["connection_id"] == "conn-test"
            assert body["stream_bidirectional_mode"] == "rtp"
        else:
            assert body["answer_url"] == "https://bot.example/telephony/plivo"
