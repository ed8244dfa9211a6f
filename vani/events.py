"""Named event handlers, Pipecat style: ``@obj.event_handler("on_something")``.

A class registers the names it emits with ``_register_event_handler`` and fires them with
``await self._call_event_handler(name, *args)``; each handler is called as
``await handler(obj, *args)``. A handler that raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from vani.errors import ConfigurationError

logger = logging.getLogger(__name__)

EventHandler = Callable[..., Awaitable[None]]
_H = TypeVar("_H", bound=EventHandler)


class EventEmitter:
    """Base for objects that emit named events. Handler lists are created on demand."""

    # Kept in the instance dict of subclasses; ``None`` until a name is registered so that
    # objects that never emit events (most processors) carry no dict for them.
    _event_handlers: dict[str, list[EventHandler]] | None = None

    def _register_event_handler(self, event_name: str) -> None:
        if self._event_handlers is None:
            self._event_handlers = {}
        self._event_handlers.setdefault(event_name, [])

    def event_handler(self, event_name: str) -> Callable[[_H], _H]:
        """Decorator that adds the decorated coroutine function as a handler of ``event_name``."""
        self._check_event(event_name)

        def decorator(handler: _H) -> _H:
            self.add_event_handler(event_name, handler)
            return handler

        return decorator

    def add_event_handler(self, event_name: str, handler: EventHandler) -> None:
        """Add ``handler`` for ``event_name``; unknown names are a ``ConfigurationError``."""
        self._check_event(event_name)
        assert self._event_handlers is not None
        self._event_handlers[event_name].append(handler)

    def _check_event(self, event_name: str) -> None:
        handlers = self._event_handlers or {}
        if event_name not in handlers:
            known = ", ".join(sorted(handlers)) or "none"
            raise ConfigurationError(
                f"{type(self).__name__} has no event {event_name!r} (known events: {known})"
            )

    def has_event_handlers(self, event_name: str) -> bool:
        """True when at least one handler is attached to ``event_name``."""
        return bool(self._event_handlers and self._event_handlers.get(event_name))

    async def _call_event_handler(self, event_name: str, *args: object) -> None:
        if not self._event_handlers:
            return
        for handler in list(self._event_handlers.get(event_name, ())):
            try:
                await handler(self, *args)
            except Exception:
                logger.exception("%s: event handler for %s raised", self, event_name)
