"""Serializers: sans-I/O conversion between frames and wire messages (see ``docs/protocol.md``)."""

from vani.serializers.base import FrameSerializer

__all__ = ["FrameSerializer"]
