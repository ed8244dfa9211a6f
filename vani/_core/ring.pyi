from typing import Final

from typing_extensions import Buffer

class SPSCRing:
    """Lock-free byte ring for one producer thread and one consumer thread."""

    capacity: Final[int]
    def __init__(self, capacity: int) -> None: ...
    def write(self, data: Buffer) -> int:
        """Producer only: copy as much of ``data`` as fits; return the count."""
    def read(self, n: int = -1) -> bytes:
        """Consumer only: up to ``n`` bytes (all readable when negative); ``b""`` if empty."""
    def read_into(self, buf: Buffer) -> int:
        """Consumer only: fill up to ``len(buf)`` bytes of a writable buffer; return the count."""
    @property
    def readable(self) -> int:
        """Bytes waiting (a snapshot)."""
    @property
    def writable(self) -> int:
        """Free bytes (a snapshot)."""
    def reset(self) -> None:
        """Empty the ring; only while neither side runs."""
    def __len__(self) -> int: ...
