"""Serializers: sans-I/O conversion between frames and wire messages (see ``docs/protocol.md``;
the telephony providers: ``docs/telephony.md``).

The concrete serializers load on first use, so importing the interface does not import the
protobuf runtime or the audio codecs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from vani.serializers.base import FrameSerializer

if TYPE_CHECKING:
    from vani.serializers.detect import ProviderDetector as ProviderDetector
    from vani.serializers.detect import detect_provider as detect_provider
    from vani.serializers.detect import serializer_for as serializer_for
    from vani.serializers.exotel import ExotelFrameSerializer as ExotelFrameSerializer
    from vani.serializers.plivo import PlivoFrameSerializer as PlivoFrameSerializer
    from vani.serializers.protobuf import ProtobufFrameSerializer as ProtobufFrameSerializer
    from vani.serializers.raw_pcm import RawPCMSerializer as RawPCMSerializer
    from vani.serializers.telephony import CallInfo as CallInfo
    from vani.serializers.telephony import TelephonyFrameSerializer as TelephonyFrameSerializer
    from vani.serializers.telnyx import TelnyxFrameSerializer as TelnyxFrameSerializer
    from vani.serializers.twilio import TwilioFrameSerializer as TwilioFrameSerializer

_LAZY = {
    "ProtobufFrameSerializer": "vani.serializers.protobuf",
    "RawPCMSerializer": "vani.serializers.raw_pcm",
    "CallInfo": "vani.serializers.telephony",
    "TelephonyFrameSerializer": "vani.serializers.telephony",
    "TwilioFrameSerializer": "vani.serializers.twilio",
    "TelnyxFrameSerializer": "vani.serializers.telnyx",
    "PlivoFrameSerializer": "vani.serializers.plivo",
    "ExotelFrameSerializer": "vani.serializers.exotel",
    "ProviderDetector": "vani.serializers.detect",
    "detect_provider": "vani.serializers.detect",
    "serializer_for": "vani.serializers.detect",
}

__all__ = ["FrameSerializer", *sorted(_LAZY)]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vani.serializers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
