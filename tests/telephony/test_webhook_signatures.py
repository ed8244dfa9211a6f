"""Webhook signatures of Plivo (V3, HMAC-SHA256) and Telnyx (Ed25519) on the server's routes.

The requests are signed here with independent code written from the providers' descriptions
(and, for Telnyx, with a key pair made for the test), so a mistake shared by the simulator and
the validator cannot pass unseen."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from urllib.parse import unquote_plus, urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vani.server import RunningServer, ServerConfig, Session, VaniServer
from vani.server.telephony import TelephonySettings
from vani.telephony import TelephonyCredentials
from vani.telephony.signature import (
    compute_plivo_signature,
    plivo_signed_string,
    validate_plivo_signature,
    validate_telnyx_signature,
)

ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")

PLIVO_TOKEN = "plivo-auth-token-for-tests"
FORM = {"CallUUID": "c-1", "From": "+15550001111", "To": "+15550002222", "Direction": "inbound"}


def plivo_v3(token: str, method: str, url: str, form: dict[str, str], nonce: str) -> str:
    """Plivo's V3 signature, written from its description (not with vani's helpers)."""
    base, _, query = url.partition("?")
    pairs = sorted(
        (unquote_plus(k), unquote_plus(v))
        for k, _, v in (p.partition("=") for p in query.split("&") if p)
    )
    if method == "GET":
        pairs = sorted(pairs + sorted(form.items()))
    text = base
    if pairs:
        text += "?" + "&".join(f"{k}={v}" for k, v in pairs)
    if method == "POST" and form:
        text += "." if pairs else "?"
        text += "".join(k + v for k, v in sorted(form.items()))
    mac = hmac.new(token.encode(), f"{text}.{nonce}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def new_key_pair() -> tuple[object, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key, base64.b64encode(raw).decode()


def telnyx_headers(key: object, body: bytes, timestamp: int) -> dict[str, str]:
    signed = key.sign(f"{timestamp}|".encode() + body)  # type: ignore[attr-defined]
    return {
        "telnyx-timestamp": str(timestamp),
        "telnyx-signature-ed25519": base64.b64encode(signed).decode(),
        "content-type": "application/x-www-form-urlencoded",
    }


# -- the pure functions -------------------------------------------------------------------------


def test_plivo_signed_string_follows_the_documented_layout() -> None:
    url = "https://bot.example/telephony/plivo?b=2&a=1"
    assert plivo_signed_string("POST", url, {"To": "x", "From": "y"}) == (
        "https://bot.example/telephony/plivo?a=1&b=2.FromyTox"
    )
    assert plivo_signed_string("POST", "https://h/p", {"To": "x"}) == "https://h/p?Tox"
    assert plivo_signed_string("POST", "https://h/p?a=1", {}) == "https://h/p?a=1"
    assert plivo_signed_string("GET", "https://h/p?b=2", {"a": "1"}) == "https://h/p?a=1&b=2"
    assert plivo_signed_string("GET", "https://h/p", {}) == "https://h/p"


_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789+-_", min_size=1, max_size=12)


@given(
    form=st.dictionaries(_text, _text, max_size=6),
    query=st.dictionaries(_text, _text, max_size=3),
    method=st.sampled_from(["GET", "POST"]),
    nonce=st.text(alphabet="0123456789", min_size=1, max_size=20),
)
def test_plivo_signature_matches_an_independent_implementation(
    form: dict[str, str], query: dict[str, str], method: str, nonce: str
) -> None:
    if method == "GET":
        form = {k: v for k, v in form.items() if k not in query}
    url = "https://bot.example:8443/telephony/plivo" + (f"?{urlencode(query)}" if query else "")
    expected = plivo_v3(PLIVO_TOKEN, method, url, form, nonce)
    assert compute_plivo_signature(PLIVO_TOKEN, method, url, form, nonce) == expected
    assert validate_plivo_signature(PLIVO_TOKEN, method, url, form, nonce, f"x,{expected}")
    assert not validate_plivo_signature("other", method, url, form, nonce, expected)
    assert not validate_plivo_signature(PLIVO_TOKEN, method, url, form, nonce + "1", expected)


def test_telnyx_signature_checks_key_body_and_time() -> None:
    key, public = new_key_pair()
    body = b"CallSid=v3%3A1&From=%2B1"
    now = 1_800_000_000
    sig = telnyx_headers(key, body, now)["telnyx-signature-ed25519"]
    assert validate_telnyx_signature(public, body, str(now), sig, now=now + 10)
    assert not validate_telnyx_signature(public, body + b"&x=1", str(now), sig, now=now)
    assert not validate_telnyx_signature(public, body, str(now + 1), sig, now=now)
    assert not validate_telnyx_signature(public, body, str(now), sig, now=now + 301)
    assert validate_telnyx_signature(public, body, str(now), sig, now=now + 301, tolerance_secs=600)
    _, other = new_key_pair()
    assert not validate_telnyx_signature(other, body, str(now), sig, now=now)
    assert not validate_telnyx_signature(public, body, None, sig, now=now)
    assert not validate_telnyx_signature(public, body, str(now), "not base64!", now=now)
    pem = key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert validate_telnyx_signature(pem.decode(), body, str(now), sig, now=now)


def test_a_malformed_telnyx_public_key_is_a_configuration_error() -> None:
    from vani.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="32 bytes"):
        validate_telnyx_signature("c2hvcnQ=", b"", "1", "AAAA")


# -- on the server ------------------------------------------------------------------------------


async def _bot(session: Session) -> None:  # the webhook tests never open a stream
    raise AssertionError("no call should start")


@pytest.fixture
def keys() -> tuple[object, str]:
    return new_key_pair()


async def _serve(settings: TelephonySettings) -> AsyncIterator[RunningServer]:
    server = VaniServer(_bot, ServerConfig(port=0, secret="w" * 32), telephony=settings)
    async with RunningServer(server) as running:
        yield running


@pytest.fixture
async def running(keys: tuple[object, str]) -> AsyncIterator[RunningServer]:
    creds = TelephonyCredentials(plivo_auth_token=PLIVO_TOKEN, telnyx_public_key=keys[1])
    async for r in _serve(TelephonySettings(credentials=creds)):
        yield r


async def test_a_signed_plivo_webhook_is_answered_and_a_forged_one_refused(
    running: RunningServer,
) -> None:
    url = running.url + "/telephony/plivo?customer=42"
    nonce = "12345678901234567890"
    good = plivo_v3(PLIVO_TOKEN, "POST", url, FORM, nonce)
    async with httpx.AsyncClient() as client:
        headers = {"X-Plivo-Signature-V3": good, "X-Plivo-Signature-V3-Nonce": nonce}
        r = await client.post(url, data=FORM, headers=headers)
        assert r.status_code == 200, r.text
        assert "<Stream" in r.text and 'bidirectional="true"' in r.text
        forged = plivo_v3("guessed-token", "POST", url, FORM, nonce)
        for bad in (
            {"X-Plivo-Signature-V3": forged, "X-Plivo-Signature-V3-Nonce": nonce},
            {"X-Plivo-Signature-V3": good, "X-Plivo-Signature-V3-Nonce": nonce + "0"},
            {"X-Plivo-Signature-V3": good},
            {},
        ):
            r = await client.post(url, data=FORM, headers=bad)
            assert r.status_code == 403
        # The same signature on other form values (a tampered caller id) fails too.
        r = await client.post(url, data={**FORM, "From": "+19990000000"}, headers=headers)
        assert r.status_code == 403
        # A GET answer URL signs the parameters as a query.
        get_url = running.url + "/telephony/plivo?" + urlencode(FORM)
        sig = plivo_v3(PLIVO_TOKEN, "GET", get_url, {}, nonce)
        r = await client.get(
            get_url, headers={"X-Plivo-Signature-V3": sig, "X-Plivo-Signature-V3-Nonce": nonce}
        )
        assert r.status_code == 200, r.text
    assert running.server.refusals.get("webhook-signature") == 5


async def test_a_signed_telnyx_webhook_is_answered_and_forged_or_stale_ones_refused(
    running: RunningServer, keys: tuple[object, str]
) -> None:
    key = keys[0]
    url = running.url + "/telephony/telnyx"
    body = urlencode({"CallSid": "v3:abc", "From": "+15550001111", "To": "+15550002222"}).encode()
    now = int(time.time())
    async with httpx.AsyncClient() as client:
        r = await client.post(url, content=body, headers=telnyx_headers(key, body, now))
        assert r.status_code == 200, r.text
        assert "<Connect>" in r.text and "/telephony/telnyx/" in r.text
        other, _ = new_key_pair()
        refused = [
            telnyx_headers(other, body, now),  # signed with someone else's key
            telnyx_headers(key, body, now - 3600),  # stale: a replay an hour later
            telnyx_headers(key, body, now + 3600),  # from the future
            {**telnyx_headers(key, body, now), "telnyx-timestamp": str(now - 1)},
            {"content-type": "application/x-www-form-urlencoded"},
        ]
        for headers in refused:
            r = await client.post(url, content=body, headers=headers)
            assert r.status_code == 403
        tampered = body.replace(b"%2B15550001111", b"%2B19990000000")
        r = await client.post(url, content=tampered, headers=telnyx_headers(key, body, now))
        assert r.status_code == 403
    assert running.server.refusals.get("webhook-signature") == 6


async def test_without_credentials_plivo_and_telnyx_webhooks_are_refused_like_twilio(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No credential configured: every webhook of that provider is refused (as Twilio's without
    ``TWILIO_AUTH_TOKEN``) and the log says what is missing; turning the check off answers."""
    async for running in _serve(TelephonySettings(credentials=TelephonyCredentials())):
        async with httpx.AsyncClient() as client:
            for provider in ("twilio", "plivo", "telnyx"):
                r = await client.post(f"{running.url}/telephony/{provider}", data=FORM)
                assert r.status_code == 403, provider
    logged = caplog.text
    for name in ("TWILIO_AUTH_TOKEN", "PLIVO_AUTH_TOKEN", "TELNYX_PUBLIC_KEY"):
        assert f"no {name} configured" in logged
    off = TelephonySettings(
        credentials=TelephonyCredentials(),
        verify_plivo_signature=False,
        verify_telnyx_signature=False,
    )
    async for running in _serve(off):
        async with httpx.AsyncClient() as client:
            for provider in ("plivo", "telnyx"):
                r = await client.post(f"{running.url}/telephony/{provider}", data=FORM)
                assert r.status_code == 200, provider


async def test_a_proxy_rewritten_url_is_checked_against_the_public_webhook_url(
    keys: tuple[object, str],
) -> None:
    creds = TelephonyCredentials(plivo_auth_token=PLIVO_TOKEN)
    settings = TelephonySettings(credentials=creds, webhook_base_url="https://bot.example")
    nonce = "42"
    sig = plivo_v3(PLIVO_TOKEN, "POST", "https://bot.example/telephony/plivo", FORM, nonce)
    async for running in _serve(settings):
        headers = {"X-Plivo-Signature-V3": sig, "X-Plivo-Signature-V3-Nonce": nonce}
        async with httpx.AsyncClient() as client:
            r = await client.post(running.url + "/telephony/plivo", data=FORM, headers=headers)
            assert r.status_code == 200, r.text
