"""Admission: at most ``max_calls`` calls at once in this process. See ``docs/server.md``."""

from __future__ import annotations

from collections.abc import Callable

from vani.errors import ConfigurationError

__all__ = ["Admission"]


class Admission:
    """Counts the calls this process holds and refuses new ones above ``max_calls``.

    :meth:`try_admit` takes a slot (``False`` when none is free or the server is draining);
    :meth:`release` gives it back. :attr:`ready` says whether a new call would be taken — what
    ``/ready`` reports, so a load balancer sends calls elsewhere while this process is full.
    ``on_change(admission)``, when set, is called after every change of :attr:`active` or
    :attr:`ready` (worker processes publish their load with it). Used from the event loop only.
    """

    def __init__(self, max_calls: int) -> None:
        if max_calls < 1:
            raise ConfigurationError(f"max_calls must be at least 1, got {max_calls}")
        self._max = max_calls
        self._active = 0
        self._draining = False
        self.refused = 0
        self.admitted = 0
        self.on_change: Callable[[Admission], None] | None = None

    @property
    def max_calls(self) -> int:
        return self._max

    @property
    def active(self) -> int:
        return self._active

    @property
    def draining(self) -> bool:
        return self._draining

    @property
    def ready(self) -> bool:
        return not self._draining and self._active < self._max

    def drain(self) -> None:
        """Refuse every new call from now on; calls already admitted go on."""
        self._draining = True
        self._changed()

    def try_admit(self) -> bool:
        if not self.ready:
            self.refused += 1
            return False
        self._active += 1
        self.admitted += 1
        self._changed()
        return True

    def release(self) -> None:
        if self._active <= 0:
            raise ConfigurationError("admission released more calls than it admitted")
        self._active -= 1
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)
