"""The serializer interface: frames to wire messages and back, with no I/O.

A serializer is a protocol object in the sans-I/O style: the transport hands it each message it
received and sends whatever it returns. It owns the wire format only; sockets, pacing, playback
tracking and the session's lifecycle belong to the transport. See ``docs/protocol.md``.

Bad input never raises out of :meth:`FrameSerializer.deserialize` into the transport's loop as an
arbitrary exception: it raises :class:`~vani.errors.SerializationError` naming what was wrong, and
the transport logs it and drops that one message, so the session keeps running.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from vani.frames import Frame, StartFrame

__all__ = ["FrameSerializer"]


class FrameSerializer(ABC):
    """Turns frames into wire messages and wire messages into frames.

    One instance serves one session: it may keep per-session facts (negotiated sample rate,
    provider stream ids). Not thread-safe; used from the session's event loop only.
    """

    async def setup(self, frame: StartFrame) -> None:  # noqa: B027 - optional hook
        """Called once when the pipeline starts, with the pipeline's audio settings."""

    @abstractmethod
    def serialize(self, frame: Frame) -> bytes | str | None:
        """The wire message for ``frame``, or ``None`` when this format does not carry it."""

    @abstractmethod
    def deserialize(self, data: bytes | str) -> list[Frame]:
        """The frames one received message carries (possibly none).

        Raises :class:`~vani.errors.SerializationError` for a malformed message.
        """
