"""Which provider is on the line, from the first messages of a telephony media stream.

A socket that was not told its provider (``/telephony/<token>`` with no provider name) buffers
messages in a :class:`ProviderDetector` until one identifies the provider (the ``start`` message
always does; ``connected`` alone does not), then builds that provider's serializer and replays the
buffered messages into it. Sans-I/O. See ``docs/telephony.md``.
"""

from __future__ import annotations

from vani.errors import ConfigurationError, SerializationError
from vani.frames import Frame, JSONObject
from vani.serializers.exotel import ExotelFrameSerializer
from vani.serializers.plivo import PlivoFrameSerializer
from vani.serializers.telephony import TelephonyFrameSerializer, decode_json
from vani.serializers.telnyx import TelnyxFrameSerializer
from vani.serializers.twilio import TwilioFrameSerializer

__all__ = ["PROVIDERS", "ProviderDetector", "detect_provider", "serializer_for"]

PROVIDERS: dict[str, type[TelephonyFrameSerializer]] = {
    "twilio": TwilioFrameSerializer,
    "telnyx": TelnyxFrameSerializer,
    "plivo": PlivoFrameSerializer,
    "exotel": ExotelFrameSerializer,
}


def serializer_for(provider: str) -> TelephonyFrameSerializer:
    """A fresh serializer for ``provider`` (``twilio``, ``telnyx``, ``plivo`` or ``exotel``)."""
    cls = PROVIDERS.get(provider.lower())
    if cls is None:
        raise ConfigurationError(
            f"unknown telephony provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
        )
    return cls()


def detect_provider(message: JSONObject) -> str | None:
    """The provider whose field names ``message`` uses, or None if it does not tell."""
    start = message.get("start")
    if isinstance(start, dict):
        if "streamSid" in start or "callSid" in start:
            return "twilio"
        if "call_control_id" in start:
            return "telnyx"
        if "streamId" in start or "callId" in start:
            return "plivo"
        if "stream_sid" in start or "call_sid" in start:
            return "exotel"
    if "streamSid" in message:
        return "twilio"
    if "stream_id" in message:
        return "telnyx"
    if "streamId" in message:
        return "plivo"
    if "stream_sid" in message:
        return "exotel"
    return None


class ProviderDetector:
    """Buffers messages until the provider is known; then :attr:`serializer` is set.

    :meth:`feed` returns the frames of every message so far once detection succeeds (replayed
    through the new serializer), else nothing. At most ``max_messages`` are buffered; past that
    :class:`~vani.errors.SerializationError` says the stream is not a known provider's.
    """

    def __init__(self, *, max_messages: int = 20) -> None:
        self.max_messages = max_messages
        self.provider: str | None = None
        self.serializer: TelephonyFrameSerializer | None = None
        self._held: list[bytes | str] = []

    def feed(self, data: bytes | str) -> list[Frame]:
        if self.serializer is not None:
            return self.serializer.deserialize(data)
        message = decode_json(data)
        self._held.append(data)
        provider = detect_provider(message)
        if provider is None:
            if len(self._held) >= self.max_messages:
                raise SerializationError(
                    f"no telephony provider recognised in the first {len(self._held)} messages;"
                    f" expected a start message from one of {', '.join(PROVIDERS)}"
                )
            return []
        self.provider = provider
        self.serializer = serializer_for(provider)
        frames: list[Frame] = []
        held, self._held = self._held, []
        for item in held:
            try:
                frames.extend(self.serializer.deserialize(item))
            except SerializationError:
                continue  # a bad early message is dropped, as it would have been anyway
        return frames
