"""Exotel voice streaming (the bidirectional Voicebot applet): 16-bit PCM, little-endian.

Wire facts and setup: ``docs/telephony.md``. Exotel's documented format is 16-bit linear PCM at
8 kHz (``?sample-rate=16000|24000`` on the stream URL raises it). Outbound ``media`` payloads must
be at least 100 ms and 3,200 bytes and a multiple of 320 bytes, or the caller hears gaps: audio is
held until a whole chunk is ready and the last one is padded with silence.

Exotel has **no playback marks**: a transport cannot learn what the caller heard from the
provider, and falls back to its pacing clock (see ``docs/telephony.md``).
"""

from __future__ import annotations

from vani.frames import JSONObject
from vani.serializers.telephony import (
    CallInfo,
    Encoding,
    TelephonyFrameSerializer,
    dumps,
    params,
    parse_encoding,
    sub,
    text,
)

__all__ = ["ExotelFrameSerializer"]

_MIN_BYTES = 3200
_UNIT_BYTES = 320


class ExotelFrameSerializer(TelephonyFrameSerializer):
    """Exotel's stream messages to frames and back (sans-I/O; one per call)."""

    provider = "exotel"
    supports_marks = False
    min_ms = 100

    def __init__(
        self,
        *,
        encoding: Encoding = "l16",
        sample_rate: int = 8000,
        stream_id: str = "",
        call_id: str = "",
    ) -> None:
        super().__init__(
            encoding=encoding, sample_rate=sample_rate, stream_id=stream_id, call_id=call_id
        )

    @property
    def unit_bytes(self) -> int:
        return _UNIT_BYTES

    @property
    def min_bytes(self) -> int:
        hundred_ms = self.bytes_per_second // 10
        size = max(_MIN_BYTES, hundred_ms)
        return -(-size // _UNIT_BYTES) * _UNIT_BYTES

    def _parse_start(self, message: JSONObject, call: CallInfo) -> None:
        start = sub(message, "start")
        call.stream_id = text(start.get("stream_sid")) or text(message.get("stream_sid"))
        call.call_id = text(start.get("call_sid")) or call.call_id
        call.account_id = text(start.get("account_sid"))
        call.from_number = text(start.get("from"))
        call.to_number = text(start.get("to"))
        fmt = sub(start, "media_format")
        # Exotel reports encoding "base64" (the transfer encoding): only a codec name changes it.
        call.encoding = parse_encoding(fmt.get("encoding"), call.encoding)
        rate = fmt.get("sample_rate")
        try:
            rate_hz = int(str(rate)) if rate is not None else 0
        except ValueError:
            rate_hz = 0
        if rate_hz in (8000, 16000, 24000):
            call.sample_rate = rate_hz
        call.custom_parameters = params(start.get("custom_parameters"))

    def _media_message(self, payload_b64: str) -> str:
        return dumps(
            {"event": "media", "stream_sid": self.call.stream_id, "media": {"payload": payload_b64}}
        )

    def _clear_message(self) -> str:
        return dumps({"event": "clear", "stream_sid": self.call.stream_id})
