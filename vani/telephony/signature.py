"""Twilio's webhook signature (``X-Twilio-Signature``): compute and validate.

Twilio signs every webhook request with the account's auth token: base64 of HMAC-SHA1 over the
full URL it requested followed by each POST parameter's name and value, parameters sorted by name
(values of a repeated name sorted too). A server must recompute it from the URL the *caller* used
(scheme, host and port as Twilio saw them, behind any proxy) and compare in constant time. Pure
functions; see ``docs/telephony.md``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

__all__ = ["compute_twilio_signature", "validate_twilio_signature"]

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
