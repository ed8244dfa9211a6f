"""Webhook signatures: Twilio (``X-Twilio-Signature``), Plivo (``X-Plivo-Signature-V3``) and
Telnyx (``telnyx-signature-ed25519``).

Twilio signs every webhook request with the account's auth token: base64 of HMAC-SHA1 over the
full URL it requested followed by each POST parameter's name and value, parameters sorted by name
(values of a repeated name sorted too). A server must recompute it from the URL the *caller* used
(scheme, host and port as Twilio saw them, behind any proxy) and compare in constant time.

Plivo's V3 signature is base64 of HMAC-SHA256, keyed with the auth token, over the request's URL
(its query parameters sorted), the POST parameters (sorted, each as name then value), a ``.`` and
the ``X-Plivo-Signature-V3-Nonce`` header; the header may carry several signatures, comma
separated. Telnyx signs ``"<telnyx-timestamp>|<raw body>"`` with the account's Ed25519 key; the
public key (base64, as the portal shows it) verifies it, and a timestamp too far from now is
refused (a replayed request). Pure functions (Telnyx's needs the ``cryptography`` package, in the
``telephony`` extra); see ``docs/telephony.md``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from vani.errors import ConfigurationError

__all__ = [
    "TELNYX_TIMESTAMP_TOLERANCE_SECS",
    "compute_plivo_signature",
    "compute_twilio_signature",
    "plivo_signed_string",
    "telnyx_signature_problem",
    "validate_plivo_signature",
    "validate_telnyx_signature",
    "validate_twilio_signature",
]

TELNYX_TIMESTAMP_TOLERANCE_SECS = 300.0

Params = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]


def _pairs(params: Params) -> list[tuple[str, str]]:
    if isinstance(params, Mapping):
        out: list[tuple[str, str]] = []
        for key, value in params.items():
            if isinstance(value, str):
                out.append((key, value))
            else:
                out.extend((key, v) for v in value)
        return out
    return list(params)


def compute_twilio_signature(auth_token: str, url: str, params: Params = ()) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for a POST of ``params`` to ``url``."""
    grouped: dict[str, set[str]] = {}
    for key, value in _pairs(params):
        grouped.setdefault(key, set()).add(value)
    data = url + "".join(key + value for key in sorted(grouped) for value in sorted(grouped[key]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """``url`` as given, and with the scheme's default port added or removed."""
    parts = urlsplit(url)
    default = {"https": 443, "wss": 443, "http": 80, "ws": 80}.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if parts.port is None:
        netloc = f"{host}:{default}"
    elif parts.port == default:
        netloc = host
    else:
        return variants
    if parts.username:
        netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
    variants.append(urlunsplit(parts._replace(netloc=netloc)))
    return variants


def validate_twilio_signature(
    auth_token: str, url: str, params: Params, signature: str | None
) -> bool:
    """Whether ``signature`` is Twilio's for this request (default port present or not)."""
    if not signature or not auth_token:
        return False
    pairs = _pairs(params)
    return any(
        hmac.compare_digest(compute_twilio_signature(auth_token, candidate, pairs), signature)
        for candidate in _port_variants(url)
    )


# -- Plivo (X-Plivo-Signature-V3) ---------------------------------------------------------------


def _sorted_query(params: Mapping[str, list[str]]) -> str:
    return "&".join(f"{key}={value}" for key in sorted(params) for value in sorted(params[key]))


def plivo_signed_string(method: str, url: str, params: Params = ()) -> str:
    """What Plivo's V3 signature covers, before the ``.<nonce>`` suffix.

    The URL without its query; then ``?`` and the query parameters sorted by name as
    ``name=value&...`` (for a GET the request's parameters join them); for a POST with
    parameters, a ``.`` after a non-empty query and every POST parameter sorted by name as
    ``namevalue``.
    """
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    given: dict[str, list[str]] = {}
    for key, value in _pairs(params):
        given.setdefault(key, []).append(value)
    in_url: dict[str, list[str]] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        in_url.setdefault(key, []).append(value)
    if method.upper() == "GET":
        query = {**given, **in_url}
        body: dict[str, list[str]] = {}
    else:
        query, body = in_url, given
    sorted_query = _sorted_query(query)
    if not body:
        return f"{base}?{sorted_query}" if sorted_query else base
    head = f"{base}?{sorted_query}." if sorted_query else f"{base}?"
    return head + "".join(f"{key}{value}" for key in sorted(body) for value in sorted(body[key]))


def compute_plivo_signature(
    auth_token: str, method: str, url: str, params: Params, nonce: str
) -> str:
    """The ``X-Plivo-Signature-V3`` Plivo would send for this request and nonce."""
    text = f"{plivo_signed_string(method, url, params)}.{nonce}"
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def validate_plivo_signature(
    auth_token: str,
    method: str,
    url: str,
    params: Params,
    nonce: str | None,
    signature: str | None,
) -> bool:
    """Whether one of the comma-separated ``signature`` values is Plivo's for this request."""
    if not signature or not nonce or not auth_token:
        return False
    pairs = _pairs(params)
    offered = [s.strip() for s in signature.split(",") if s.strip()]
    for candidate in _port_variants(url):
        expected = compute_plivo_signature(auth_token, method, candidate, pairs, nonce)
        if any(hmac.compare_digest(expected, s) for s in offered):
            return True
    return False


# -- Telnyx (telnyx-signature-ed25519) ----------------------------------------------------------


def _telnyx_key_bytes(public_key: str) -> bytes:
    text = public_key.strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_public_key,
        )

        key = load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigurationError("the telnyx public key is not an ed25519 key")
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigurationError(
            "the telnyx public key must be 32 bytes in base64 (as the portal shows it) or pem; "
            f"got {len(raw)} bytes"
        )
    return raw


def telnyx_signature_problem(
    public_key: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance_secs: float = TELNYX_TIMESTAMP_TOLERANCE_SECS,
    now: float | None = None,
) -> str | None:
    """Why this request is not Telnyx's (``None`` when it is).

    ``body``: the raw request body; ``timestamp`` and ``signature``: the ``telnyx-timestamp``
    and ``telnyx-signature-ed25519`` headers. A timestamp more than ``tolerance_secs`` from
    ``now`` (default: the clock) is refused. Raises :class:`~vani.errors.ConfigurationError`
    for a malformed ``public_key``.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(_telnyx_key_bytes(public_key))
    if not signature or not timestamp:
        return "no telnyx-signature-ed25519 or telnyx-timestamp header"
    try:
        sent_at = int(timestamp.strip())
    except ValueError:
        return f"telnyx-timestamp is not a number of seconds: {timestamp[:40]!r}"
    clock = time.time() if now is None else now
    if abs(clock - sent_at) > tolerance_secs:
        return (
            f"telnyx-timestamp is {clock - sent_at:.0f} s from now (tolerance {tolerance_secs:g})"
        )
    try:
        raw_signature = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return "telnyx-signature-ed25519 is not base64"
    try:
        key.verify(raw_signature, timestamp.strip().encode() + b"|" + body)
    except InvalidSignature:
        return "bad telnyx-signature-ed25519"
    return None


def validate_telnyx_signature(
    public_key: str,
    body: bytes,
    timestamp: str | None,
    signature: str | None,
    *,
    tolerance_secs: float = TELNYX_TIMESTAMP_TOLERANCE_SECS,
    now: float | None = None,
) -> bool:
    """Whether this request is Telnyx's, signed within ``tolerance_secs`` of ``now``."""
    problem = telnyx_signature_problem(
        public_key, body, timestamp, signature, tolerance_secs=tolerance_secs, now=now
    )
    return problem is None
