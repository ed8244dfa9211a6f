"""Serializers: sans-I/O conversion between frames and wire messages (see ``docs/protocol.md``)."""

from vani.serializers.base import FrameSerializer
from vani.serializers.protobuf import ProtobufFrameSerializer
from vani.serializers.raw_pcm import RawPCMSerializer

__all__ = ["FrameSerializer", "ProtobufFrameSerializer", "RawPCMSerializer"]
