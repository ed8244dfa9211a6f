"""Serializers: sans-I/O conversion between frames and wire messages (see ``docs/protocol.md``).

The concrete serializers load on first use, so importing the interface does not import the
protobuf runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vani.serializers.base import FrameSerializer

if TYPE_CHECKING:
    from vani.serializers.protobuf import ProtobufFrameSerializer
    from vani.serializers.raw_pcm import RawPCMSerializer

__all__ = ["FrameSerializer", "ProtobufFrameSerializer", "RawPCMSerializer"]


def __getattr__(name: str) -> object:
    if name == "ProtobufFrameSerializer":
        from vani.serializers.protobuf import ProtobufFrameSerializer

        return ProtobufFrameSerializer
    if name == "RawPCMSerializer":
        from vani.serializers.raw_pcm import RawPCMSerializer

        return RawPCMSerializer
    raise AttributeError(f"module 'vani.serializers' has no attribute {name!r}")
