"""The server's settings, one dataclass. See ``docs/server.md`` for each option."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass, field

from vani.errors import ConfigurationError
from vani.server.tokens import DEFAULT_TOKEN_TTL_SECS

__all__ = ["DEFAULT_PORT", "ServerConfig", "is_loopback"]

logger = logging.getLogger("vani.server")

DEFAULT_PORT = 7860


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(slots=True)
class ServerConfig:
    """Everything ``vani run`` / ``vani serve`` takes.

    ``secret``: the token key (``VANI_SECRET`` when ``None``; generated for this process when
    that is unset too). ``allowed_origins``: browser origins allowed to open calls (``None``: the
    server's own origin and loopback pages only; ``["*"]``: any). ``max_calls``: calls at once
    in this process; above it ``/start`` answers 503 and sockets are closed with 1013.
    ``require_token``: ``False`` lets a socket in without a token (development only).
    ``public_url``: the ``ws://``/``wss://`` base ``/start`` hands out when the server sits
    behind a proxy (default: from the request's Host header). ``max_message_bytes``: the largest
    WebSocket message accepted (larger closes the socket with 1009). ``session_timeout_secs``:
    the longest a call may last; the server then ends it and closes the socket with 1000
    "session timeout" (``None``: no limit). ``static_dir``: the web client served at ``/``
    (default: vani's own page; see :mod:`vani.server.clients`).
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    secret: str | None = None
    allowed_origins: list[str] | None = None
    max_calls: int = 100
    token_ttl_secs: float = DEFAULT_TOKEN_TTL_SECS
    require_token: bool = True
    public_url: str | None = None
    max_message_bytes: int = 1 << 20
    ping_interval_secs: float | None = 20.0
    ping_timeout_secs: float | None = 20.0
    open_timeout_secs: float = 10.0
    workers: int = 1
    static_dir: str | None = None
    session_timeout_secs: float | None = 3600.0
    # Operations (docs/deployment.md, docs/observability.md): drain on SIGTERM, metrics,
    # session reports, traces.
    drain_timeout_secs: float = 300.0
    drain_goodbye: str = "Sorry, I have to end our call now. Goodbye!"
    metrics_enabled: bool = True
    report_dir: str | None = None
    record_calls: bool = False
    tracing: bool | None = None
    tune_gc: bool = True
    secret_generated: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.max_calls < 1:
            raise ConfigurationError(f"max_calls must be at least 1, got {self.max_calls}")
        if not 0 <= self.port <= 65535:
            raise ConfigurationError(f"port must be between 0 and 65535, got {self.port}")
        if self.token_ttl_secs <= 0:
            raise ConfigurationError(f"token ttl must be positive, got {self.token_ttl_secs}")
        if self.max_message_bytes < 1024:
            raise ConfigurationError(
                f"max_message_bytes must be at least 1024, got {self.max_message_bytes}"
            )
        if self.session_timeout_secs is not None and self.session_timeout_secs <= 0:
            raise ConfigurationError(
                f"session timeout must be positive or None, got {self.session_timeout_secs}"
            )
        if self.drain_timeout_secs < 0:
            raise ConfigurationError(
                f"drain timeout must be 0 or more seconds, got {self.drain_timeout_secs}"
            )
        if self.workers < 1:
            raise ConfigurationError(f"workers must be at least 1, got {self.workers}")
        if self.public_url is not None and not self.public_url.startswith(("ws://", "wss://")):
            raise ConfigurationError(
                f"public_url must start with ws:// or wss://, got {self.public_url!r}"
            )

    def secret_bytes(self) -> bytes:
        """The token key: the configured secret, ``VANI_SECRET``, or one generated now (and
        kept, so every call in this process uses the same)."""
        if self.secret is None:
            self.secret = os.environ.get("VANI_SECRET") or None
            if self.secret is None:
                self.secret = secrets.token_urlsafe(32)
                self.secret_generated = True
                logger.warning(
                    "VANI_SECRET is not set: generated a secret for this server (its workers"
                    " share it), so tokens from /start are valid here only (set VANI_SECRET to"
                    " share one between instances)"
                )
        if len(self.secret.encode()) < 16:
            raise ConfigurationError(
                f"the secret must be at least 16 bytes, got {len(self.secret.encode())}"
            )
        return self.secret.encode()

    def exposure_warnings(self) -> list[str]:
        """What is unsafe about this configuration when it listens beyond this machine."""
        if is_loopback(self.host):
            return []
        problems = []
        if self.secret is None and not os.environ.get("VANI_SECRET"):
            problems.append("no --secret / VANI_SECRET (a per-process secret is generated)")
        if not self.allowed_origins:
            problems.append("no --allowed-origins (only same-origin and loopback pages)")
        if not self.require_token:
            problems.append("--no-token: anyone who reaches the port can open a call")
        return [f"listening on {self.host}, beyond this machine, with {p}" for p in problems]
