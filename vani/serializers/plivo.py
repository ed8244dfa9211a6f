"""Plivo audio streams (bidirectional): μ-law 8 kHz or L16 8/16 kHz, ``playAudio`` out.

Wire facts and setup: ``docs/telephony.md``. Plivo's default stream format is L16 at 8 kHz; the
``<Stream>`` element vani's webhook returns asks for μ-law 8 kHz unless told otherwise, and the
``start`` message's ``mediaFormat`` decides. Playback marks are ``checkpoint`` messages, echoed as
``playedStream``; ``clearAudio`` is confirmed by ``clearedAudio``. L16 is taken as little-endian.
"""

from __future__ import annotations

from vani.frames import Frame, JSONObject
from vani.serializers.telephony import (
    AudioClearedFrame,
    CallInfo,
    PlaybackMarkFrame,
    TelephonyFrameSerializer,
    dumps,
    params,
    parse_encoding,
    sub,
    text,
)

__all__ = ["PlivoFrameSerializer"]

_CONTENT_TYPE = {"mulaw": "audio/x-mulaw", "alaw": "audio/x-alaw", "l16": "audio/x-l16"}


class PlivoFrameSerializer(TelephonyFrameSerializer):
    """Plivo's audio-stream messages to frames and back (sans-I/O; one per call)."""

    provider = "plivo"

    def _parse_start(self, message: JSONObject, call: CallInfo) -> None:
        start = sub(message, "start")
        call.stream_id = text(start.get("streamId")) or text(message.get("streamId"))
        call.call_id = text(start.get("callId")) or call.call_id
        call.account_id = text(start.get("accountId"))
        fmt = sub(start, "mediaFormat")
        call.encoding = parse_encoding(fmt.get("encoding"), call.encoding)
        rate = fmt.get("sampleRate")
        if isinstance(rate, int) and rate in (8000, 16000, 24000):
            call.sample_rate = rate
        custom = params(message.get("extra_headers"))
        call.from_number = custom.pop("From", "") or custom.pop("from", "")
        call.to_number = custom.pop("To", "") or custom.pop("to", "")
        call.custom_parameters = custom

    def _on_other(self, event: str, message: JSONObject) -> list[Frame]:
        if event == "playedStream":
            return [PlaybackMarkFrame(name=text(message.get("name")))]
        if event == "clearedAudio":
            return [AudioClearedFrame()]
        return []

    def _media_message(self, payload_b64: str) -> str:
        return dumps(
            {
                "event": "playAudio",
                "media": {
                    "contentType": _CONTENT_TYPE[self.encoding],
                    "sampleRate": self.sample_rate,
                    "payload": payload_b64,
                },
                "streamId": self.call.stream_id,
            }
        )

    def _clear_message(self) -> str:
        return dumps({"event": "clearAudio", "streamId": self.call.stream_id})

    def _mark_message(self, name: str) -> str:
        return dumps({"event": "checkpoint", "streamId": self.call.stream_id, "name": name})
