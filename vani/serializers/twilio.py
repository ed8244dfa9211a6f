"""Twilio Media Streams (bidirectional, ``<Connect><Stream>``): μ-law 8 kHz, 20 ms messages.

Wire facts and setup: ``docs/telephony.md``. Twilio echoes a ``mark`` once the audio sent before
it has played, and at once for every pending mark when a ``clear`` is sent. Custom values reach the
stream only as ``<Parameter>``\\ s (``start.customParameters``); vani's webhook passes ``From`` and
``To`` that way, and they are read back into :class:`~vani.serializers.telephony.CallInfo`.
"""

from __future__ import annotations

from vani.frames import Frame, JSONObject
from vani.serializers.telephony import (
    CallInfo,
    PlaybackMarkFrame,
    TelephonyFrameSerializer,
    dumps,
    params,
    parse_encoding,
    sub,
    text,
)

__all__ = ["TwilioFrameSerializer"]


class TwilioFrameSerializer(TelephonyFrameSerializer):
    """Twilio's media-stream messages to frames and back (sans-I/O; one per call)."""

    provider = "twilio"

    def _parse_start(self, message: JSONObject, call: CallInfo) -> None:
        start = sub(message, "start")
        call.stream_id = text(start.get("streamSid")) or text(message.get("streamSid"))
        call.call_id = text(start.get("callSid")) or call.call_id
        call.account_id = text(start.get("accountSid"))
        fmt = sub(start, "mediaFormat")
        call.encoding = parse_encoding(fmt.get("encoding"), call.encoding)
        rate = fmt.get("sampleRate")
        if isinstance(rate, int) and rate in (8000, 16000, 24000):
            call.sample_rate = rate
        custom = params(start.get("customParameters"))
        call.from_number = custom.pop("From", "") or custom.pop("from", "")
        call.to_number = custom.pop("To", "") or custom.pop("to", "")
        call.custom_parameters = custom

    def _on_other(self, event: str, message: JSONObject) -> list[Frame]:
        if event == "mark":
            return [PlaybackMarkFrame(name=text(sub(message, "mark").get("name")))]
        return []

    def _media_message(self, payload_b64: str) -> str:
        return dumps(
            {"event": "media", "streamSid": self.call.stream_id, "media": {"payload": payload_b64}}
        )

    def _clear_message(self) -> str:
        return dumps({"event": "clear", "streamSid": self.call.stream_id})

    def _mark_message(self, name: str) -> str:
        return dumps({"event": "mark", "streamSid": self.call.stream_id, "mark": {"name": name}})
