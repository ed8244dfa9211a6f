"""Telnyx media streaming (bidirectional RTP mode off, JSON over WebSocket): PCMU/PCMA 8 kHz.

Wire facts and setup: ``docs/telephony.md``. Telnyx does not guarantee the order of ``media``
messages: they are put back in order by ``media.chunk`` (or ``sequence_number``), holding at most
five messages (100 ms) for a missing one. Outbound messages carry no stream id.
"""

from __future__ import annotations

from vani.frames import Frame, JSONObject
from vani.serializers.telephony import (
    CallInfo,
    PlaybackMarkFrame,
    ProviderErrorFrame,
    TelephonyFrameSerializer,
    dumps,
    params,
    parse_encoding,
    sub,
    text,
)

__all__ = ["TelnyxFrameSerializer"]


class TelnyxFrameSerializer(TelephonyFrameSerializer):
    """Telnyx's media-stream messages to frames and back (sans-I/O; one per call)."""

    provider = "telnyx"
    needs_stream_id = False
    reorder_media = True

    def _parse_start(self, message: JSONObject, call: CallInfo) -> None:
        start = sub(message, "start")
        call.stream_id = text(message.get("stream_id")) or text(start.get("stream_id"))
        call.call_id = text(start.get("call_control_id")) or call.call_id
        call.account_id = text(start.get("user_id"))
        call.from_number = text(start.get("from"))
        call.to_number = text(start.get("to"))
        fmt = sub(start, "media_format")
        call.encoding = parse_encoding(fmt.get("encoding"), call.encoding)
        rate = fmt.get("sample_rate")
        if isinstance(rate, int) and rate in (8000, 16000, 24000):
            call.sample_rate = rate
        custom = params(start.get("custom_parameters"))
        state = text(start.get("client_state"))
        if state:
            custom.setdefault("client_state", state)
        call.custom_parameters = custom

    def _on_other(self, event: str, message: JSONObject) -> list[Frame]:
        if event == "mark":
            return [PlaybackMarkFrame(name=text(sub(message, "mark").get("name")))]
        if event == "error":
            payload = sub(message, "payload")
            return [
                ProviderErrorFrame(
                    code=text(payload.get("code")),
                    detail=text(payload.get("detail")) or text(payload.get("title")),
                )
            ]
        return []

    def _media_message(self, payload_b64: str) -> str:
        return dumps({"event": "media", "media": {"payload": payload_b64}})

    def _clear_message(self) -> str:
        return dumps({"event": "clear"})

    def _mark_message(self, name: str) -> str:
        return dumps({"event": "mark", "mark": {"name": name}})
