"""RTVI protocol versions: what vani speaks and how a client's version is served.

Rules (``docs/protocol.md``, "Versions"): a version is exactly three non-negative integers.
A 2.x client is served fully; a 1.x client is served the v1 forms and ``bot-ready`` echoes its
own version; any other major, a malformed or a missing version is answered with
``error-response`` and the session carries on, served as the current protocol. Sans-I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "LEGACY_SUPPORTED_MAJOR",
    "PROTOCOL_VERSION",
    "Negotiation",
    "negotiate",
    "parse_version",
]

PROTOCOL_VERSION = "2.2.0"
LEGACY_SUPPORTED_MAJOR = 1
_CURRENT = (2, 2, 0)
_VERSION = re.compile(r"(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})")


def parse_version(version: str) -> tuple[int, int, int] | None:
    """``"2.1.0"`` → ``(2, 1, 0)``; anything but three plain integers → ``None``."""
    match = _VERSION.fullmatch(version)
    if match is None:
        return None
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


@dataclass(slots=True, frozen=True)
class Negotiation:
    """The outcome of a ``client-ready``.

    ``client_version``: the client's version, or the current one when it was unusable.
    ``bot_ready_version``: what ``bot-ready`` announces. ``legacy``: serve the v1 forms.
    ``error``: the text of the ``error-response`` to send, or ``None``.
    """

    client_version: tuple[int, int, int]
    bot_ready_version: str
    legacy: bool
    error: str | None

    def at_least(self, version: tuple[int, int, int]) -> bool:
        return self.client_version >= version


def negotiate(version: str | None) -> Negotiation:
    """Apply the version rules to the ``version`` a ``client-ready`` carried."""
    if version is None:
        return Negotiation(_CURRENT, PROTOCOL_VERSION, False, _warn("client version unknown"))
    parsed = parse_version(version)
    if parsed is None:
        return Negotiation(
            _CURRENT,
            PROTOCOL_VERSION,
            False,
            _warn(f"invalid client version format {version!r}, expected major.minor.patch"),
        )
    major = parsed[0]
    if major == _CURRENT[0]:
        return Negotiation(parsed, PROTOCOL_VERSION, False, None)
    if major == LEGACY_SUPPORTED_MAJOR:
        return Negotiation(parsed, version, True, None)
    return Negotiation(
        _CURRENT,
        PROTOCOL_VERSION,
        False,
        _warn(f"RTVI version {version} is not compatible with server protocol {PROTOCOL_VERSION}"),
    )


def _warn(problem: str) -> str:
    return f"{problem}; compatibility issues may occur"
