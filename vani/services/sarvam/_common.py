"""What the Sarvam STT and TTS clients share: base URL, key, handshake errors, close codes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from dataclasses import dataclass
from typing import Protocol

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConcurrencyError, InvalidStatus

from vani.audio.resample import StreamResampler
from vani.errors import (
    AuthenticationError,
    ConfigurationError,
    RateLimitError,
    ServiceConnectionError,
    ServiceError,
)

DEFAULT_BASE_URL = "wss://api.sarvam.ai"
API_KEY_ENV = "SARVAM_API_KEY"
AUTH_HEADER = "api-subscription-key"


def resolve_api_key(api_key: str | None) -> str:
    """The key given, else ``$SARVAM_API_KEY``; a missing key is a configuration error."""
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
    if not key:
        raise ConfigurationError(
            f"expected a sarvam api key in api_key= or ${API_KEY_ENV}, got none"
        )
    return key


def normalise_base_url(base_url: str) -> str:
    """Strip a trailing slash; refuse anything but ``ws://`` or ``wss://``."""
    url = base_url.rstrip("/")
    if not url.startswith(("ws://", "wss://")):
        raise ConfigurationError(f"expected a ws:// or wss:// base_url, got {base_url!r}")
    return url


def handshake_error(exc: InvalidStatus, service: str) -> ServiceError:
    """Map a refused WebSocket upgrade to a vani error (auth, rate limit, bad request...)."""
    status = exc.response.status_code
    body = exc.response.body.decode("utf-8", "replace").strip()[:200] if exc.response.body else ""
    detail = f" ({body})" if body else ""
    if status in (401, 403):
        return AuthenticationError(
            f"sarvam {service} refused the api key (http {status}){detail}; "
            f"check api_key= or ${API_KEY_ENV}"
        )
    if status == 429:
        return RateLimitError(f"sarvam {service} rate limited the connection (http 429){detail}")
    if 400 <= status < 500:
        return ServiceError(
            f"sarvam {service} refused the connection parameters (http {status}){detail}",
            retryable=False,
        )
    return ServiceConnectionError(f"sarvam {service} handshake failed (http {status}){detail}")


@dataclass(frozen=True, slots=True)
class CloseVerdict:
    """What to do after the server closed the socket."""

    retry: bool
    """Reconnect (after ``delay_floor_s`` at least) or give up with a fatal error."""
    report: bool
    """Push a (non-fatal when ``retry``) ErrorFrame about it."""
    message: str
    delay_floor_s: float = 0.0


def close_verdict(code: int | None, reason: str, service: str) -> CloseVerdict:
    """Classify a close code (``docs/services.md``): 1000/1001 normal, 1003 rate limit/quota/key,
    1008 idle, 1011 internal, 4000 application rejection; 1006 or None is a dropped stream."""
    why = f": {reason}" if reason else ""
    if code in (1000, 1001):
        return CloseVerdict(True, False, f"sarvam {service} closed the socket ({code}){why}")
    if code == 1008:
        return CloseVerdict(True, False, f"sarvam {service} closed an idle socket (1008){why}")
    if code == 1003:
        return CloseVerdict(
            True,
            True,
            f"sarvam {service} closed the socket for rate limit, quota or key (1003){why}",
            delay_floor_s=1.0,
        )
    if code == 4000:
        return CloseVerdict(False, True, f"sarvam {service} rejected the session (4000){why}")
    if code == 1011:
        return CloseVerdict(True, True, f"sarvam {service} internal error (1011){why}")
    return CloseVerdict(
        True, True, f"sarvam {service} connection dropped (close code {code or 1006}){why}"
    )


def backoff_delay(attempt: int, base_s: float, max_s: float) -> float:
    """Exponential backoff with ±20 % jitter: ``base_s * 2**attempt``, capped at ``max_s``."""
    delay: float = min(max_s, base_s * (2**attempt))
    return delay * random.uniform(0.8, 1.2)


class Resampler(Protocol):
    """The part of ``vani.audio.resample.StreamResampler`` the Sarvam services use."""

    def resample(self, data: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


def make_resampler(in_rate: int, out_rate: int) -> Resampler:
    """A streaming 16-bit mono resampler from the audio core."""
    return StreamResampler(in_rate, out_rate)


async def close_abandoned(ws: ClientConnection, grace_s: float = 2.0) -> None:
    """Close a socket nobody reads any more: gracefully if the peer answers in time, else abort.

    Whatever the peer still sends is read and dropped meanwhile. Unread, it would fill the
    client's queue, reading would pause, the peer's writes would block, and it would never get
    to our close frame: the socket would sit half-closed until the peer's own timeout. If the
    handshake still has not finished after ``grace_s`` seconds the connection is aborted, so a
    closing socket never outlives this call. Never raises.
    """

    async def discard() -> None:
        while True:
            try:
                await ws.recv()
            except ConcurrencyError:
                # The old reader was cancelled but has not unwound yet: it will in a moment.
                await asyncio.sleep(0.01)
            except Exception:
                return  # closed (or broken): nothing left to read

    reader = asyncio.ensure_future(discard())
    try:
        with contextlib.suppress(Exception):
            closing = asyncio.ensure_future(ws.close())
            done, _ = await asyncio.wait({closing}, timeout=grace_s)
            if closing not in done:
                # Cancelling close() alone would leave the socket half-closed: abort it, then
                # let close() see the connection lost and return.
                ws.transport.abort()
                await asyncio.wait({closing}, timeout=1.0)
                closing.cancel()
            else:
                closing.exception()
    finally:
        reader.cancel()
        await asyncio.wait({reader})
