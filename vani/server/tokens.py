"""Call tokens: HMAC-SHA256 signed, expiring, one use. See ``docs/server.md``.

A token is ``<payload>.<signature>``: the payload is the base64url (unpadded) of a compact JSON
object ``{"exp": <unix seconds>, "jti": <random hex>, "body": {...}}`` and the signature is the
base64url of HMAC-SHA256 over the payload text, keyed by the shared secret. Everything a call
needs before its socket opens travels inside the token (its custom parameters from ``POST
/start``), so any instance holding the same secret validates any token and no session store is
shared between instances.

One use is enforced per process by a bounded, expiring set of the token ids seen: an entry
lives until its token expires, so the set never holds more than the tokens issued in one TTL.
When it is full of unexpired ids a new token is refused (fail closed) rather than an old id
forgotten, which would let that token be replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vani.errors import VaniError
from vani.frames import JSONValue

__all__ = [
    "DEFAULT_TOKEN_TTL_SECS",
    "MAX_BODY_BYTES",
    "TokenAuthority",
    "TokenClaims",
    "TokenError",
]

DEFAULT_TOKEN_TTL_SECS = 300.0
# A token rides in a URL (query string or path segment): keep what it carries small.
MAX_BODY_BYTES = 4096
MAX_TOKEN_CHARS = 8192


class TokenError(VaniError):
    """A token was missing, malformed, badly signed, expired or already used.

    ``reason`` is one of ``"missing"``, ``"malformed"``, ``"signature"``, ``"expired"``,
    ``"used"``, ``"busy"`` (the seen-set is full) — stable strings for logs and metrics.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a valid token says: its id, expiry (unix seconds) and the call's custom parameters."""

    jti: str
    exp: float
    body: Mapping[str, JSONValue] = field(default_factory=dict)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenAuthority:
    """Issues and checks call tokens for one process.

    ``secret``: the shared key (at least 16 bytes). ``ttl_secs``: lifetime of issued tokens.
    ``max_seen``: bound of the one-use set. ``clock``: unix time in seconds (tests pass their
    own). Not thread-safe: use it from the server's event loop.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        ttl_secs: float = DEFAULT_TOKEN_TTL_SECS,
        max_seen: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(secret) < 16:
            raise TokenError(
                "malformed", f"the token secret must be at least 16 bytes, got {len(secret)}"
            )
        if ttl_secs <= 0:
            raise TokenError("malformed", f"token ttl must be positive, got {ttl_secs}")
        self._secret = secret
        self._ttl = ttl_secs
        self._max_seen = max_seen
        self._clock = clock
        self._seen: set[str] = set()
        self._expiries: list[tuple[float, str]] = []

    @property
    def ttl_secs(self) -> float:
        return self._ttl

    @property
    def seen_count(self) -> int:
        """How many used, unexpired token ids are remembered (after dropping expired ones)."""
        self._forget_expired()
        return len(self._seen)

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode("ascii"), hashlib.sha256).digest()
        return _b64encode(digest)

    def issue(self, body: Mapping[str, JSONValue] | None = None) -> str:
        """A new token carrying ``body`` (the call's custom parameters), valid for the TTL.

        Raises :class:`TokenError` (reason ``"malformed"``) when ``body`` is not JSON or its
        JSON is over :data:`MAX_BODY_BYTES`.
        """
        claims: dict[str, JSONValue] = {
            "exp": int(self._clock() + self._ttl + 0.999),
            "jti": secrets.token_hex(12),
        }
        if body:
            try:
                text = json.dumps(dict(body), separators=(",", ":"), allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise TokenError("malformed", f"the call's body must be JSON: {exc}") from exc
            if len(text.encode()) > MAX_BODY_BYTES:
                raise TokenError(
                    "malformed",
                    f"the call's body must be at most {MAX_BODY_BYTES} bytes of JSON,"
                    f" got {len(text.encode())}",
                )
            claims["body"] = json.loads(text)
        payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def check(self, token: str | None) -> TokenClaims:
        """The claims of ``token`` if it is well formed, correctly signed, unexpired and unused;
        it is NOT marked used (call :meth:`consume` once the call is admitted).

        Raises :class:`TokenError` naming what is wrong.
        """
        if not token:
            raise TokenError("missing", "no token: call POST /start for one")
        if len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 1:
            raise TokenError("malformed", "the token is not <payload>.<signature>")
        payload, signature = token.split(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            raise TokenError("signature", "the token's signature does not match this server")
        try:
            raw = json.loads(_b64decode(payload))
        except (binascii.Error, ValueError) as exc:
            raise TokenError("malformed", f"the token's payload is not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise TokenError("malformed", "the token's payload is not a JSON object")
        exp, jti, body = raw.get("exp"), raw.get("jti"), raw.get("body", {})
        if (
            not isinstance(exp, int | float)
            or not isinstance(jti, str)
            or not isinstance(body, dict)
        ):
            raise TokenError("malformed", "the token's payload lacks exp, jti or a body object")
        now = self._clock()
        if exp <= now:
            raise TokenError("expired", f"the token expired {now - exp:.0f} s ago")
        self._forget_expired()
        if jti in self._seen:
            raise TokenError("used", "the token was already used (tokens are one use)")
        return TokenClaims(jti=jti, exp=float(exp), body=body)

    def consume(self, claims: TokenClaims) -> None:
        """Mark a checked token used. Raises :class:`TokenError` if it already was, or if the
        one-use set is full of unexpired tokens (reason ``"busy"``)."""
        self._forget_expired()
        if claims.jti in self._seen:
            raise TokenError("used", "the token was already used (tokens are one use)")
        if len(self._seen) >= self._max_seen:
            raise TokenError(
                "busy", f"too many live tokens in use (at most {self._max_seen}); try again later"
            )
        self._seen.add(claims.jti)
        heapq.heappush(self._expiries, (claims.exp, claims.jti))

    def verify(self, token: str | None) -> TokenClaims:
        """:meth:`check` then :meth:`consume`: the token's claims, now used."""
        claims = self.check(token)
        self.consume(claims)
        return claims

    def _forget_expired(self) -> None:
        now = self._clock()
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            _, jti = heapq.heappop(expiries)
            self._seen.discard(jti)
