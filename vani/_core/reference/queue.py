"""Reference FrameQueue: the same contract as ``vani._core.queue`` in plain Python."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

_T = TypeVar("_T")


class QueueClosed(Exception):
    pass


class QueueEmpty(Exception):
    pass


class FrameQueue(Generic[_T]):
    def __init__(self) -> None:
        self._system: deque[_T] = deque()
        self._ordered: deque[tuple[_T, bool]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def put_system(self, item: _T) -> None:
        if not self._closed:
            self._system.append(item)
            self._wake()

    def put_ordered(self, item: _T, interruptible: bool = True) -> None:
        if not self._closed:
            self._ordered.append((item, interruptible))
            self._wake()

    def put(self, item: _T, system: bool = False, interruptible: bool = True) -> None:
        if system:
            self.put_system(item)
        else:
            self.put_ordered(item, interruptible)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> _T:
        if self._system:
            return self._system.popleft()
        if self._ordered:
            return self._ordered.popleft()[0]
        if self._closed:
            raise QueueClosed("the queue is closed")
        raise QueueEmpty("the queue is empty")

    def get_system_nowait(self) -> _T:
        if self._system:
            return self._system.popleft()
        raise QueueEmpty("the system lane is empty")

    def get_ordered_nowait(self) -> _T:
        if self._ordered:
            return self._ordered.popleft()[0]
        raise QueueEmpty("the ordered lane is empty")

    async def get(self) -> _T:
        while True:
            if self._system or self._ordered:
                return self.get_nowait()
            if self._closed:
                raise QueueClosed("the queue is closed")
            if self._waiter is not None:
                raise RuntimeError("FrameQueue.get() already has a waiting consumer")
            fut = asyncio.get_running_loop().create_future()
            self._waiter = fut
            try:
                await fut
            finally:
                if self._waiter is fut:
                    self._waiter = None

    def drop_interruptible(self) -> int:
        before = len(self._ordered)
        self._ordered = deque(entry for entry in self._ordered if not entry[1])
        return before - len(self._ordered)

    def clear(self) -> None:
        self._system.clear()
        self._ordered.clear()

    def close(self) -> None:
        self._closed = True
        self._wake()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def system_len(self) -> int:
        return len(self._system)

    @property
    def ordered_len(self) -> int:
        return len(self._ordered)

    def __len__(self) -> int:
        return len(self._system) + len(self._ordered)

    def __bool__(self) -> bool:
        return bool(self._system or self._ordered)
