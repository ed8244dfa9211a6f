"""Bounded waits that are safe inside processor code.

A processor's ``process_frame``, ``start`` and ``stop`` begin in the task of whoever pushed the
frame and move into a task of their own only when they first suspend (docs/concepts.md,
"Processors run inline until they wait"). ``asyncio.timeout`` (and ``asyncio.wait_for`` from
Python 3.12 on, which is built on it) remembers the task it was entered in and cancels that
task when time runs out: after the move that is the pusher, not the wait. :func:`wait_bounded`
runs the awaitable in a task of its own and waits on that task with ``asyncio.wait``, which
holds no reference to the waiting task, so it bounds the right thing wherever the caller ends
up running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

__all__ = ["wait_bounded"]


async def wait_bounded(aw: Awaitable[object], timeout: float) -> bool:  # noqa: ASYNC109
    """Await ``aw`` for at most ``timeout`` seconds; True if it finished in time.

    When time runs out the work is cancelled (and awaited, so nothing is left running) and the
    result is False. An exception raised by ``aw`` is re-raised. Cancelling the caller cancels
    the work too.
    """
    task: asyncio.Future[object] = asyncio.ensure_future(aw)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except BaseException:
        task.cancel()
        raise
    if task in done:
        task.result()
        return True
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled():
        task.exception()  # it failed while being cancelled: the timeout is the answer
    return False
