"""Letting the rest of the event loop go first.

Some work is worth less than a call's next step: the observers' deliveries (the client's RTVI
messages, traces) can wait a millisecond, a reply's first audio cannot. asyncio's default loop
keeps its runnable callbacks in a list that :func:`others_ready` reads; a task that yields while
that list holds other work lets that work run first. uvloop keeps the list to itself: there
:func:`others_ready` is None and callers fall back to sharing the loop in short slices.

Two tasks each waiting for the other to go quiet would wait forever, so a task yielding through
:func:`yield_quietly` is not counted as work by the others. See ``docs/concepts.md``
("Observers wait for a quiet loop").
"""

from __future__ import annotations

import asyncio
import weakref

__all__ = ["others_ready", "yield_quietly"]

# Per loop, how many tasks are suspended in yield_quietly right now: each has exactly one
# callback (its own resumption) in the loop's ready list.
_quiet: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


def others_ready(loop: asyncio.AbstractEventLoop) -> int | None:
    """How many callbacks besides the caller and the quietly yielding tasks are runnable now;
    None on a loop that does not say (uvloop)."""
    ready = getattr(loop, "_ready", None)
    if ready is None:
        return None
    return len(ready) - _quiet.get(loop, 0)


async def yield_quietly(loop: asyncio.AbstractEventLoop) -> None:
    """One turn of the loop (``asyncio.sleep(0)``) that :func:`others_ready` does not count."""
    _quiet[loop] = _quiet.get(loop, 0) + 1
    try:
        await asyncio.sleep(0)
    finally:
        left = _quiet[loop] - 1
        if left:
            _quiet[loop] = left
        else:
            del _quiet[loop]
