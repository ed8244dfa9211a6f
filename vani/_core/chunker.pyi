from typing import Final

from typing_extensions import Buffer

class PCMChunker:
    """Cuts an int16 PCM byte stream into frames of ``frame_ms`` (N × 10 ms); not thread-safe."""

    sample_rate: Final[int]
    frame_ms: Final[int]
    num_channels: Final[int]
    frame_bytes: Final[int]
    def __init__(self, sample_rate: int, frame_ms: int = 20, num_channels: int = 1) -> None: ...
    @property
    def pending_bytes(self) -> int:
        """Bytes held back until the next frame completes."""
    def feed(self, data: Buffer) -> list[bytes]:
        """Append ``data`` and return the whole frames it completes, oldest first."""
    def flush(self, pad: bool = True) -> bytes:
        """Return the pending tail (zero-padded to a frame if ``pad``; ``b""`` if none)."""
    def reset(self) -> None:
        """Drop the pending tail."""
