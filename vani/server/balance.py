"""Calls spread evenly over worker processes (``vani serve --workers N``). See
docs/deployment.md.

The kernel gives each new connection on a ``SO_REUSEPORT`` port to a worker chosen by a hash of
the connection's addresses. Calls are long and the hash knows nothing of them, so workers fill
like coin tosses (of 105 calls over two workers the busier held 54 to 59), and a machine is
full when its busiest worker is. So each worker publishes how many calls it holds in memory
shared with its siblings, and a worker that accepts a connection while a sibling holds fewer
calls passes the socket to that sibling (``SCM_RIGHTS`` over a Unix datagram socket the parent
made before forking) before reading a byte of it. The sibling serves it as if it had accepted
it; the client sees one connection. A pass costs two system calls; the kernel still does the
accepting, and a worker that cannot pass (no sibling with fewer calls, a full channel) serves
the connection itself.

A worker's published count is its admitted calls, or ``-1`` while it takes no calls (starting,
draining, at ``--max-calls``, dead): such a worker is never passed a connection, and passes the
ones it accepts to a sibling that takes calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vani.server.admission import Admission

__all__ = ["BalancedMember", "WorkerBalance"]

logger = logging.getLogger("vani.server")

NOT_TAKING = -1
_FDS_PER_READ = 16


class WorkerBalance:
    """The state the workers share: one call count and one handover channel per worker.

    Made in the parent before the workers are forked (the counts live in shared memory and
    every worker inherits every channel). :meth:`member` is a worker's view of it;
    :meth:`worker_exited` is for the parent when a worker dies.
    """

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.counts: Any = multiprocessing.RawArray(ctypes.c_int, [NOT_TAKING] * workers)
        self.channels: list[tuple[socket.socket, socket.socket]] = []
        for _ in range(workers):
            send, receive = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            send.setblocking(False)
            receive.setblocking(False)
            self.channels.append((send, receive))

    @property
    def workers(self) -> int:
        return len(self.channels)

    def member(self, index: int) -> BalancedMember:
        return BalancedMember(self, index)

    def worker_exited(self, index: int) -> None:
        """A worker died: pass it nothing more, and close what was passed to it but not yet
        taken (those clients see their connection close and retry)."""
        self.counts[index] = NOT_TAKING
        for sock in _received_sockets(self.channels[index][1]):
            sock.close()

    def close(self) -> None:
        for send, receive in self.channels:
            send.close()
            receive.close()


def _received_sockets(channel: socket.socket) -> list[socket.socket]:
    """Every socket waiting on ``channel`` (non-blocking)."""
    received: list[socket.socket] = []
    while True:
        try:
            _msg, fds, _flags, _addr = socket.recv_fds(channel, 1, _FDS_PER_READ)
        except (BlockingIOError, InterruptedError):
            return received
        except OSError as exc:
            logger.warning("worker handover channel failed: %s", exc)
            return received
        if not fds:
            return received
        for fd in fds:
            try:
                received.append(socket.socket(fileno=fd))
            except OSError:
                with contextlib.suppress(OSError):
                    socket.close(fd)


class BalancedMember:
    """One worker's side of :class:`WorkerBalance`: publish this worker's calls, pass a new
    connection to a sibling that holds fewer, take the connections siblings pass here."""

    def __init__(self, balance: WorkerBalance, index: int) -> None:
        if not 0 <= index < balance.workers:
            raise ValueError(f"worker index {index} out of range")
        self.balance = balance
        self.index = index
        self.passed = 0
        self.taken = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._take: Callable[[socket.socket], None] | None = None

    def publish(self, admission: Admission) -> None:
        """Admission changed: say how many calls this worker holds (or that it takes none)."""
        self.balance.counts[self.index] = admission.active if admission.ready else NOT_TAKING

    def calls(self) -> list[int]:
        """Every worker's published count, by index (``-1``: takes no calls)."""
        return list(self.balance.counts)

    def target(self) -> int | None:
        """The sibling a new connection should go to, or ``None`` to serve it here: the one
        holding fewest calls, when that is fewer than this worker holds."""
        counts = self.balance.counts
        mine = counts[self.index]
        best, best_count = None, mine if mine >= 0 else 1 << 30
        for index in range(len(self.balance.channels)):
            count = counts[index]
            if index != self.index and 0 <= count < best_count:
                best, best_count = index, count
        return best

    def pass_on(self, sock: socket.socket | Any) -> bool:
        """Pass an accepted connection's socket to a sibling holding fewer calls; ``True`` when
        it went (the caller then closes its own handle without shutting the connection down)."""
        target = self.target()
        if target is None:
            return False
        channel = self.balance.channels[target][0]
        try:
            socket.send_fds(channel, [b"c"], [sock.fileno()])
        except OSError as exc:  # the sibling's channel is full or gone: serve it here
            logger.debug("could not pass a connection to worker %d: %s", target, exc)
            return False
        self.passed += 1
        return True

    def start(self, loop: asyncio.AbstractEventLoop, take: Callable[[socket.socket], None]) -> None:
        """Take the connections siblings pass to this worker: ``take(sock)`` for each."""
        self._loop, self._take = loop, take
        loop.add_reader(self.balance.channels[self.index][1].fileno(), self._on_readable)

    def stop(self) -> None:
        """Take no more connections (this worker is stopping); the parent closes any left."""
        self.balance.counts[self.index] = NOT_TAKING
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(self.balance.channels[self.index][1].fileno())
            self._loop = None

    def _on_readable(self) -> None:
        take = self._take
        for sock in _received_sockets(self.balance.channels[self.index][1]):
            if take is None:
                sock.close()
                continue
            self.taken += 1
            try:
                take(sock)
            except Exception:
                logger.exception("a connection passed from a sibling worker failed")
                sock.close()
