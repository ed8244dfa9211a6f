"""What a serving process does with signals: drain on ``SIGTERM``, stop on ``SIGINT``.

See docs/deployment.md. ``SIGTERM`` (what Kubernetes, systemd and ``docker stop`` send) and
``SIGHUP`` drain: the process stops taking calls (``/ready`` answers 503, new sockets are closed
with 1013 so clients retry elsewhere) while its socket stays open, lets the calls in progress
finish for up to ``--drain-timeout`` seconds, ends the rest with a goodbye, then exits 0.
``SIGINT`` (Ctrl-C) and a second ``SIGTERM`` stop at once, ending the calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vani.server.serve import RunningServer

__all__ = ["serve_until_signalled"]

logger = logging.getLogger("vani.server")


async def serve_until_signalled(running: RunningServer) -> None:
    """Serve until a signal (see the module docstring) or until the server stops by itself,
    then stop ``running``."""
    server = running.server
    loop = asyncio.get_running_loop()
    drain_requested = asyncio.Event()
    stop_now = asyncio.Event()

    def on_drain() -> None:
        if drain_requested.is_set():
            stop_now.set()  # a second SIGTERM: stop waiting
        drain_requested.set()

    handlers = {signal.SIGTERM: on_drain, signal.SIGHUP: on_drain, signal.SIGINT: stop_now.set}
    installed = []
    for sig, handler in handlers.items():
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
    server.ops.start()
    try:
        mine = [
            asyncio.create_task(drain_requested.wait()),
            asyncio.create_task(stop_now.wait()),
        ]
        waiters: set[asyncio.Future[object]] = set(mine)  # type: ignore[arg-type]
        if running._task is not None:
            waiters.add(running._task)  # type: ignore[arg-type]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if drain_requested.is_set() and not stop_now.is_set():
            print("vani: draining (SIGTERM): no new calls; waiting for calls to end", flush=True)
            drain = asyncio.create_task(server.ops.drain())
            interrupt = asyncio.create_task(stop_now.wait())
            await asyncio.wait({drain, interrupt}, return_when=asyncio.FIRST_COMPLETED)
            interrupt.cancel()
            if not drain.done():
                drain.cancel()
                await asyncio.wait({drain})
        for waiter in mine:
            waiter.cancel()
        print("vani: stopping", flush=True)
        await running.stop()
    finally:
        await server.ops.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)
