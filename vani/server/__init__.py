"""The vani server: serve a bot over WebSocket (``vani run bot.py``). See ``docs/server.md``.

This is an application of the library: nothing in vani imports it. Its parts:

- :class:`Session` and :class:`CallInfo` — what a bot's ``async def bot(session)`` receives;
- :class:`ServerConfig` — every option of ``vani run`` / ``vani serve``;
- :class:`VaniServer` — the routes (``/start``, ``/ws``, ``/health``, ``/ready``, ``/``),
  tokens and admission; :class:`RunningServer` runs one inside an event loop;
- :class:`TokenAuthority` — HMAC-SHA256 call tokens, expiring and one use;
- :func:`load_bot` and :func:`serve` — what the CLI uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vani.server.admission import Admission as Admission
    from vani.server.app import CallRefused as CallRefused
    from vani.server.app import CallRequest as CallRequest
    from vani.server.app import VaniServer as VaniServer
    from vani.server.app import WebSocketRoute as WebSocketRoute
    from vani.server.config import DEFAULT_PORT as DEFAULT_PORT
    from vani.server.config import ServerConfig as ServerConfig
    from vani.server.loader import BotEntry as BotEntry
    from vani.server.loader import BotLoadError as BotLoadError
    from vani.server.loader import load_bot as load_bot
    from vani.server.serve import RunningServer as RunningServer
    from vani.server.serve import listen_socket as listen_socket
    from vani.server.serve import serve as serve
    from vani.server.session import CallInfo as CallInfo
    from vani.server.session import Session as Session
    from vani.server.tokens import TokenAuthority as TokenAuthority
    from vani.server.tokens import TokenClaims as TokenClaims
    from vani.server.tokens import TokenError as TokenError

# Loaded on first use, so `vani --help` (which imports vani.server.cli) stays fast.
_LAZY = {
    "Admission": "vani.server.admission",
    "CallRefused": "vani.server.app",
    "CallRequest": "vani.server.app",
    "VaniServer": "vani.server.app",
    "WebSocketRoute": "vani.server.app",
    "DEFAULT_PORT": "vani.server.config",
    "ServerConfig": "vani.server.config",
    "BotEntry": "vani.server.loader",
    "BotLoadError": "vani.server.loader",
    "load_bot": "vani.server.loader",
    "RunningServer": "vani.server.serve",
    "listen_socket": "vani.server.serve",
    "serve": "vani.server.serve",
    "CallInfo": "vani.server.session",
    "Session": "vani.server.session",
    "TokenAuthority": "vani.server.tokens",
    "TokenClaims": "vani.server.tokens",
    "TokenError": "vani.server.tokens",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vani.server' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
