"""The session id on every log line (docs/observability.md), with the standard ``logging`` module.

A call runs inside :func:`session_context` (the server does this for each call). The id lives in a
:mod:`contextvars` variable, so every task the call creates — processors, observers, service
clients — inherits it, and concurrent calls never see each other's id. Every ``LogRecord`` gets a
``session_id`` attribute (``"-"`` outside a call) through :func:`install_session_logging`, so a
format string can use ``%(session_id)s``; :class:`SessionIdFilter` does the same for one handler.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

__all__ = [
    "DEFAULT_FORMAT",
    "SessionIdFilter",
    "SessionLoggerAdapter",
    "current_session_id",
    "install_session_logging",
    "session_context",
    "use_session_format",
]

DEFAULT_FORMAT = "%(asctime)s %(levelname)s [%(session_id)s] %(name)s: %(message)s"

_session_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "vani_session_id", default=None
)
_installed = False


def current_session_id() -> str | None:
    """The id of the call this code runs for, or None outside a call."""
    return _session_id.get()


@contextlib.contextmanager
def session_context(session_id: str) -> Iterator[None]:
    """Run the block (and every task it creates) as part of call ``session_id``."""
    token = _session_id.set(session_id)
    try:
        yield
    finally:
        _session_id.reset(token)


class SessionIdFilter(logging.Filter):
    """Adds ``record.session_id`` (``"-"`` outside a call); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "session_id"):
            record.session_id = _session_id.get() or "-"
        return True


def install_session_logging(
    *, level: int | None = None, fmt: str | None = DEFAULT_FORMAT, configure_root: bool = False
) -> None:
    """Give every ``LogRecord`` a ``session_id`` attribute, process-wide (idempotent).

    With ``configure_root`` the root logger also gets a stream handler using ``fmt`` (when it
    has no handler yet) and ``level``.
    """
    global _installed
    if not _installed:
        _installed = True
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            record.session_id = _session_id.get() or "-"
            return record

        logging.setLogRecordFactory(factory)
    if configure_root:
        root = logging.getLogger()
        if not root.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter(fmt or DEFAULT_FORMAT))
            root.addHandler(handler)
        if level is not None:
            root.setLevel(level)


class SessionLoggerAdapter(logging.LoggerAdapter[logging.Logger]):
    """A logger bound to one session id, for code that runs outside the call's context (a
    callback from another thread, say): each line is logged as if inside the call."""

    def __init__(self, logger: logging.Logger, session_id: str) -> None:
        super().__init__(logger, {})
        self.session_id = session_id

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        with session_context(self.session_id):
            kwargs.setdefault("stacklevel", 2)
            super().log(level, msg, *args, **kwargs)


def use_session_format(fmt: str = "%(levelname)s [%(session_id)s] %(name)s: %(message)s") -> None:
    """Install the session id on every record and switch the root logger's handlers to
    ``fmt`` (``vani run`` / ``vani serve`` do this), so every line names its call."""
    install_session_logging()
    for handler in logging.getLogger().handlers:
        handler.setFormatter(logging.Formatter(fmt))
