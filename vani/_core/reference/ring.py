"""Reference SPSCRing: the same contract as ``vani._core.ring`` in plain Python.

Safe for one producer thread and one consumer thread because each side stores only its own
counter, after copying (the GIL orders the stores, as the atomics do in C).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vani.errors import ConfigurationError

if TYPE_CHECKING:
    from typing_extensions import Buffer


class SPSCRing:
    def __init__(self, capacity: int) -> None:
        if capacity <= 0 or capacity & (capacity - 1):
            raise ConfigurationError(f"expected a capacity that is a power of two, got {capacity}")
        self.capacity = capacity
        self._data = bytearray(capacity)
        self._head = 0  # bytes ever written; stored by the producer only
        self._tail = 0  # bytes ever read; stored by the consumer only

    def write(self, data: Buffer) -> int:
        src = memoryview(data).cast("B")
        head = self._head
        n = min(len(src), self.capacity - (head - self._tail))
        at = head % self.capacity
        first = min(n, self.capacity - at)
        self._data[at : at + first] = src[:first]
        self._data[: n - first] = src[first:n]
        self._head = head + n
        return n

    def _take(self, n: int) -> bytes:
        tail = self._tail
        at = tail % self.capacity
        first = min(n, self.capacity - at)
        out = bytes(self._data[at : at + first]) + bytes(self._data[: n - first])
        self._tail = tail + n
        return out

    def read(self, n: int = -1) -> bytes:
        avail = self._head - self._tail
        return self._take(avail if n < 0 else min(n, avail))

    def read_into(self, buf: Buffer) -> int:
        dst = memoryview(buf).cast("B")
        if dst.readonly:
            raise BufferError("buf is not writable")
        data = self._take(min(len(dst), self._head - self._tail))
        dst[: len(data)] = data
        return len(data)

    @property
    def readable(self) -> int:
        return min(self._head - self._tail, self.capacity)

    @property
    def writable(self) -> int:
        return self.capacity - self.readable

    def reset(self) -> None:
        self._head = self._tail = 0

    def __len__(self) -> int:
        return self.readable
