"""Serializers: sans-I/O conversion between frames and wire messages (see ``docs/protocol.md``;
the telephony providers: ``docs/telephony.md``)."""

from vani.serializers.base import FrameSerializer
from vani.serializers.detect import ProviderDetector, detect_provider, serializer_for
from vani.serializers.exotel import ExotelFrameSerializer
from vani.serializers.plivo import PlivoFrameSerializer
from vani.serializers.protobuf import ProtobufFrameSerializer
from vani.serializers.raw_pcm import RawPCMSerializer
from vani.serializers.telephony import CallInfo, TelephonyFrameSerializer
from vani.serializers.telnyx import TelnyxFrameSerializer
from vani.serializers.twilio import TwilioFrameSerializer

__all__ = [
    "CallInfo",
    "ExotelFrameSerializer",
    "FrameSerializer",
    "PlivoFrameSerializer",
    "ProtobufFrameSerializer",
    "ProviderDetector",
    "RawPCMSerializer",
    "TelephonyFrameSerializer",
    "TelnyxFrameSerializer",
    "TwilioFrameSerializer",
    "detect_provider",
    "serializer_for",
]
