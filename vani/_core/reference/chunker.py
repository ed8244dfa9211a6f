"""Reference PCMChunker: the same contract as ``vani._core.chunker`` in plain Python."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vani.errors import ConfigurationError

if TYPE_CHECKING:
    from typing_extensions import Buffer


class PCMChunker:
    def __init__(self, sample_rate: int, frame_ms: int = 20, num_channels: int = 1) -> None:
        if sample_rate <= 0:
            raise ConfigurationError(f"expected a positive sample_rate, got {sample_rate}")
        if frame_ms <= 0 or frame_ms % 10:
            raise ConfigurationError(
                f"expected frame_ms to be a positive multiple of 10, got {frame_ms}"
            )
        if num_channels <= 0:
            raise ConfigurationError(f"expected a positive num_channels, got {num_channels}")
        if sample_rate * frame_ms % 1000:
            raise ConfigurationError(
                f"expected frame_ms to hold whole samples at {sample_rate} Hz, got {frame_ms} ms"
                f" ({sample_rate * frame_ms / 1000} samples)"
            )
        self.sample_rate = sample_rate
        self.frame_ms = frame_ms
        self.num_channels = num_channels
        self.frame_bytes = sample_rate * frame_ms // 1000 * 2 * num_channels
        self._pending = bytearray()

    @property
    def pending_bytes(self) -> int:
        return len(self._pending)

    def feed(self, data: Buffer) -> list[bytes]:
        if not self._pending and type(data) is bytes and len(data) == self.frame_bytes:
            return [data]  # a whole frame passes through uncopied, as in the compiled class
        self._pending += memoryview(data).cast("B")
        whole = len(self._pending) - len(self._pending) % self.frame_bytes
        frames = [
            bytes(self._pending[i : i + self.frame_bytes])
            for i in range(0, whole, self.frame_bytes)
        ]
        del self._pending[:whole]
        return frames

    def flush(self, pad: bool = True) -> bytes:
        tail, self._pending = bytes(self._pending), bytearray()
        if tail and pad:
            tail += bytes(self.frame_bytes - len(tail))
        return tail

    def reset(self) -> None:
        self._pending.clear()
